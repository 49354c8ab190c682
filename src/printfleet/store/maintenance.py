"""Maintenance tasks, per-printer counters and the log on SQLAlchemy; implements the maintenance service's port.

Usage counters are summed from ``jobs`` (ended, not deleted) by the database, one grouped query per distinct
counter start, so a status page over many printers costs a few queries, not one per printer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from printfleet.domain.jobs import JobStatus
from printfleet.domain.maintenance import IntervalUnit, Level, NewTask, PrinterTask, Task, Usage
from printfleet.store.database import Database
from printfleet.store.maintenance_tables import MaintenanceLogRow, MaintenancePrinterRow, MaintenanceTaskRow
from printfleet.store.tables import JobRow

_ENDED = (JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value)
_UPDATABLE = frozenset({"name", "description", "printer_id", "printer_model", "interval", "unit", "warn_fraction"})


def _task(row: MaintenanceTaskRow) -> Task:
    return Task(
        id=row.id,
        name=row.name,
        description=row.description,
        printer_id=row.printer_id,
        printer_model=row.printer_model,
        interval=row.interval,
        unit=IntervalUnit(row.unit),
        warn_fraction=row.warn_fraction,
        created_at=row.created_at.astimezone(UTC),
    )


def _record(row: MaintenancePrinterRow) -> PrinterTask:
    return PrinterTask(
        task_id=row.task_id,
        printer_id=row.printer_id,
        last_done_at=row.last_done_at.astimezone(UTC) if row.last_done_at else None,
        last_done_by=row.last_done_by,
        last_notes=row.last_notes,
        offset=row.counter_offset,
        announced=Level(row.announced),
    )


async def _store_record(session: AsyncSession, record: PrinterTask) -> None:
    """Insert or replace one per-printer state in ``session``'s transaction."""
    row = await session.get(MaintenancePrinterRow, (record.task_id, record.printer_id), with_for_update=True)
    if row is None:
        row = MaintenancePrinterRow(task_id=record.task_id, printer_id=record.printer_id)
        session.add(row)
    row.last_done_at = record.last_done_at
    row.last_done_by = record.last_done_by
    row.last_notes = record.last_notes
    row.counter_offset = record.offset
    row.announced = record.announced.value


class SqlMaintenanceRepository:
    """:class:`~printfleet.services.maintenance.MaintenanceRepository` on SQLAlchemy."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def add_task(self, new: NewTask, now: datetime) -> Task:
        """Record a task made at ``now``."""
        row = MaintenanceTaskRow(
            name=new.name,
            description=new.description,
            printer_id=new.printer_id,
            printer_model=new.printer_model,
            interval=new.interval,
            unit=new.unit.value,
            warn_fraction=new.warn_fraction,
            created_at=now,
            updated_at=now,
        )
        async with self._database.transaction() as session:
            session.add(row)
            await session.flush()
            return _task(row)

    async def update_task(self, task_id: int, changes: dict[str, Any], now: datetime) -> Task | None:
        """Set the given fields; None when there is no such task. Raises ValueError for a field that may not
        change."""
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"maintenance tasks cannot be updated on {', '.join(sorted(unknown))}")
        async with self._database.transaction() as session:
            row = await session.get(MaintenanceTaskRow, task_id, with_for_update=True)
            if row is None:
                return None
            for column, value in changes.items():
                setattr(row, column, str(value.value) if isinstance(value, IntervalUnit) else value)
            row.updated_at = now
            await session.flush()
            return _task(row)

    async def delete_task(self, task_id: int) -> bool:
        """Delete a task with its counters and log; False when there was none."""
        async with self._database.transaction() as session:
            await session.execute(delete(MaintenanceLogRow).where(MaintenanceLogRow.task_id == task_id))
            await session.execute(delete(MaintenancePrinterRow).where(MaintenancePrinterRow.task_id == task_id))
            result = await session.execute(delete(MaintenanceTaskRow).where(MaintenanceTaskRow.id == task_id))
            return bool(getattr(result, "rowcount", 0))

    async def tasks(self) -> list[Task]:
        """Every task, by name."""
        async with self._database.transaction() as session:
            rows = (await session.scalars(select(MaintenanceTaskRow).order_by(MaintenanceTaskRow.name))).all()
            return [_task(row) for row in rows]

    async def records(self) -> list[PrinterTask]:
        """Every stored per-printer state (a printer without one counts from the task's creation)."""
        async with self._database.transaction() as session:
            rows = (await session.scalars(select(MaintenancePrinterRow))).all()
            return [_record(row) for row in rows]

    async def save_record(self, record: PrinterTask) -> None:
        """Insert or replace one per-printer state."""
        async with self._database.transaction() as session:
            await _store_record(session, record)

    async def record_done(self, record: PrinterTask, counter: float) -> None:
        """Store ``record`` (just done: its ``last_done_at``, ``last_done_by``, ``last_notes``) and a log line with
        the counter before it was reset, in one transaction."""
        assert record.last_done_at is not None
        async with self._database.transaction() as session:
            await _store_record(session, record)
            session.add(
                MaintenanceLogRow(
                    task_id=record.task_id,
                    printer_id=record.printer_id,
                    done_at=record.last_done_at,
                    done_by=record.last_done_by,
                    counter=counter,
                    notes=record.last_notes,
                )
            )

    async def log(self, *, printer_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The newest log lines (``task_id``, ``printer_id``, ``done_at``, ``done_by``, ``counter``, ``notes``)."""
        query = select(MaintenanceLogRow).order_by(MaintenanceLogRow.done_at.desc(), MaintenanceLogRow.id.desc())
        if printer_id is not None:
            query = query.where(MaintenanceLogRow.printer_id == printer_id)
        async with self._database.transaction() as session:
            rows = (await session.scalars(query.limit(limit))).all()
            return [
                {
                    "task_id": row.task_id,
                    "printer_id": row.printer_id,
                    "done_at": row.done_at.astimezone(UTC),
                    "done_by": row.done_by,
                    "counter": row.counter,
                    "notes": row.notes,
                }
                for row in rows
            ]

    async def usage(self, wanted: Iterable[tuple[str, datetime]]) -> dict[tuple[str, datetime], Usage]:
        """For each (printer id, since): the printing seconds and the number of jobs that ended after ``since``.
        Printing time is the printer-reported time when the job has one (pauses left out), else its duration."""
        by_since: dict[datetime, set[str]] = defaultdict(set)
        for printer_id, since in wanted:
            by_since[since].add(printer_id)
        seconds = func.coalesce(JobRow.elapsed_seconds, JobRow.duration_seconds, 0)
        found: dict[tuple[str, datetime], Usage] = {}
        async with self._database.transaction() as session:
            for since, printers in by_since.items():
                query = (
                    select(JobRow.printer_id, func.count(JobRow.id), func.sum(seconds))
                    .where(
                        JobRow.printer_id.in_(sorted(printers)),
                        JobRow.end_time > since,
                        JobRow.status.in_(_ENDED),
                        JobRow.deleted_at.is_(None),
                    )
                    .group_by(JobRow.printer_id)
                )
                counted = {row[0]: (int(row[1]), float(row[2] or 0)) for row in (await session.execute(query)).all()}
                for printer_id in printers:
                    jobs, total = counted.get(printer_id, (0, 0.0))
                    found[(printer_id, since)] = Usage(print_seconds=total, jobs=jobs)
        return found
