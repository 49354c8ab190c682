"""Scheduled prints on SQLAlchemy (SQLite or PostgreSQL); implements the scheduler's port."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from printfleet.domain.schedule.model import (
    NewScheduledPrint,
    OffsetFrom,
    PrintSpeed,
    ScheduledPrint,
    ScheduleQuery,
    ScheduleStatus,
    Target,
)
from printfleet.store.database import Database
from printfleet.store.schedule_tables import ScheduledPrintRow

_UPDATABLE = frozenset(
    {
        "status",
        "printer_id",
        "target",
        "job_name",
        "scheduled_start",
        "finish_by",
        "estimated_duration_minutes",
        "priority",
        "notes",
        "attempts",
        "assigned_printer_id",
        "started_at",
        "completed_at",
        "failed_reason",
        "job_id",
        "dispatch_id",
        "depends_on",
        "offset_minutes",
        "offset_from",
        "only_if_succeeded",
        "print_speed",
        "nozzle_temp",
        "bed_temp",
        "material_type",
        "material_color",
        "material_slot",
    }
)
_UNFINISHED = (ScheduleStatus.QUEUED.value, ScheduleStatus.DISPATCHING.value, ScheduleStatus.STARTED.value)


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def _target(data: dict[str, Any] | None) -> Target:
    data = data or {}
    return Target(model=data.get("model"), tags=tuple(str(tag) for tag in data.get("tags") or ()))


def _print(row: ScheduledPrintRow) -> ScheduledPrint:
    return ScheduledPrint(
        id=row.id,
        created_by=row.created_by,
        printer_id=row.printer_id,
        target=_target(row.target),
        order_id=row.order_id,
        job_name=row.job_name,
        file_id=row.file_id,
        plate=row.plate,
        status=ScheduleStatus(row.status),
        scheduled_start=_utc(row.scheduled_start),
        finish_by=_utc(row.finish_by),
        estimated_duration_minutes=row.estimated_duration_minutes,
        material_type=row.material_type,
        material_color=row.material_color,
        material_slot=row.material_slot,
        nozzle_temp=row.nozzle_temp,
        bed_temp=row.bed_temp,
        print_speed=PrintSpeed(row.print_speed) if row.print_speed else None,
        priority=row.priority,
        copies=row.copies,
        copy_index=row.copy_index,
        depends_on=row.depends_on,
        offset_minutes=row.offset_minutes,
        offset_from=OffsetFrom(row.offset_from),
        only_if_succeeded=row.only_if_succeeded,
        notes=row.notes,
        attempts=row.attempts,
        assigned_printer_id=row.assigned_printer_id,
        started_at=_utc(row.started_at),
        completed_at=_utc(row.completed_at),
        failed_reason=row.failed_reason,
        job_id=row.job_id,
        dispatch_id=row.dispatch_id,
        created_at=row.created_at.astimezone(UTC),
        updated_at=row.updated_at.astimezone(UTC),
    )


def _column_value(column: str, value: Any) -> Any:
    if isinstance(value, Target):
        return value.as_dict()
    if column in ("status", "offset_from", "print_speed") and value is not None:
        return str(getattr(value, "value", value))
    return value


class SqlScheduleRepository:
    """:class:`~printfleet.services.schedule.ports.ScheduleRepository` on SQLAlchemy."""

    def __init__(self, database: Database, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._database = database
        self._clock = clock

    async def add_many(self, rows: Sequence[NewScheduledPrint]) -> list[ScheduledPrint]:
        """Store ``rows`` as ``queued`` in one transaction."""
        async with self._database.transaction() as session:
            stored = [
                ScheduledPrintRow(
                    created_by=new.created_by,
                    printer_id=new.printer_id,
                    target=new.target.as_dict(),
                    order_id=new.order_id,
                    job_name=new.job_name,
                    file_id=new.file_id,
                    plate=new.plate,
                    status=ScheduleStatus.QUEUED.value,
                    scheduled_start=new.scheduled_start,
                    finish_by=new.finish_by,
                    estimated_duration_minutes=new.estimated_duration_minutes,
                    material_type=new.material_type,
                    material_color=new.material_color,
                    material_slot=new.material_slot,
                    nozzle_temp=new.nozzle_temp,
                    bed_temp=new.bed_temp,
                    print_speed=new.print_speed.value if new.print_speed else None,
                    priority=new.priority,
                    copies=new.copies,
                    copy_index=new.copy_index,
                    depends_on=new.depends_on,
                    offset_minutes=new.offset_minutes,
                    offset_from=new.offset_from.value,
                    only_if_succeeded=new.only_if_succeeded,
                    attempts=0,
                    notes=new.notes,
                    created_at=new.created_at,
                    updated_at=new.created_at,
                )
                for new in rows
            ]
            session.add_all(stored)
            await session.flush()
            return [_print(row) for row in stored]

    async def get(self, print_id: int) -> ScheduledPrint | None:
        """One print, or None."""
        async with self._database.transaction() as session:
            row = await session.get(ScheduledPrintRow, print_id)
            return None if row is None else _print(row)

    async def get_many(self, print_ids: Collection[int]) -> dict[int, ScheduledPrint]:
        """The prints with these ids, by id."""
        if not print_ids:
            return {}
        async with self._database.transaction() as session:
            rows = await session.scalars(select(ScheduledPrintRow).where(ScheduledPrintRow.id.in_(list(print_ids))))
            return {row.id: _print(row) for row in rows}

    async def list_prints(self, query: ScheduleQuery) -> tuple[list[ScheduledPrint], int]:
        """A page of prints matching ``query``, oldest first, and how many match in all."""
        table = ScheduledPrintRow
        conditions: list[ColumnElement[bool]] = []
        if query.printer_id is not None:
            conditions.append(or_(table.printer_id == query.printer_id, table.assigned_printer_id == query.printer_id))
        if query.statuses:
            conditions.append(table.status.in_(sorted(status.value for status in query.statuses)))
        if query.order_id is not None:
            conditions.append(table.order_id == query.order_id)
        if query.order_ids:
            conditions.append(table.order_id.in_(sorted(query.order_ids)))
        if query.created_by is not None:
            conditions.append(table.created_by == query.created_by)
        if query.since is not None:
            conditions.append(table.created_at >= query.since)
        if query.until is not None:
            conditions.append(table.created_at < query.until)
        async with self._database.transaction() as session:
            total = await session.scalar(select(func.count()).select_from(table).where(*conditions))
            rows = await session.scalars(
                select(table).where(*conditions).order_by(table.id).limit(query.limit).offset(query.offset)
            )
            return [_print(row) for row in rows], int(total or 0)

    async def unfinished(self) -> list[ScheduledPrint]:
        """Every print not yet final, oldest first."""
        async with self._database.transaction() as session:
            rows = await session.scalars(
                select(ScheduledPrintRow)
                .where(ScheduledPrintRow.status.in_(_UNFINISHED))
                .order_by(ScheduledPrintRow.id)
            )
            return [_print(row) for row in rows]

    async def dependants(self, print_id: int) -> list[ScheduledPrint]:
        """The prints chained to ``print_id``."""
        async with self._database.transaction() as session:
            rows = await session.scalars(
                select(ScheduledPrintRow).where(ScheduledPrintRow.depends_on == print_id).order_by(ScheduledPrintRow.id)
            )
            return [_print(row) for row in rows]

    async def update(
        self, print_id: int, *, expect: Collection[ScheduleStatus] | None = None, **changes: Any
    ) -> ScheduledPrint | None:
        """Set columns while the stored status is in ``expect``. Raises ValueError for a column that may not
        change, KeyError when there is no such print."""
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"scheduled prints cannot be updated on {', '.join(sorted(unknown))}")
        values = {column: _column_value(column, value) for column, value in changes.items()}
        values["updated_at"] = self._clock()
        statement = update(ScheduledPrintRow).where(ScheduledPrintRow.id == print_id).values(**values)
        if expect is not None:
            statement = statement.where(ScheduledPrintRow.status.in_(sorted(s.value for s in expect)))
        async with self._database.transaction() as session:
            result = await session.execute(statement)
            row = await session.get(ScheduledPrintRow, print_id, populate_existing=True)
            if row is None:
                raise KeyError(print_id)
            return _print(row) if getattr(result, "rowcount", 0) == 1 else None

    async def claim(self, print_id: int, *, printer_id: str, now: datetime) -> ScheduledPrint | None:
        """``queued`` → ``dispatching`` on ``printer_id`` in one conditional update, or None."""
        statement = (
            update(ScheduledPrintRow)
            .where(ScheduledPrintRow.id == print_id, ScheduledPrintRow.status == ScheduleStatus.QUEUED.value)
            .values(
                status=ScheduleStatus.DISPATCHING.value,
                assigned_printer_id=printer_id,
                attempts=ScheduledPrintRow.attempts + 1,
                dispatch_id=None,
                updated_at=now,
            )
        )
        try:
            async with self._database.transaction() as session:
                result = await session.execute(statement)
                if getattr(result, "rowcount", 0) != 1:
                    return None
                row = await session.get(ScheduledPrintRow, print_id, populate_existing=True)
                return None if row is None else _print(row)
        except IntegrityError as error:
            if "uq_scheduled_prints_dispatching_printer" in str(error.orig) or "assigned_printer_id" in str(error.orig):
                return None
            raise
