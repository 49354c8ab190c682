"""Dispatches and plate states on SQLAlchemy (SQLite or PostgreSQL); implements the dispatch service's ports."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from printfleet.domain.dispatch.model import Dispatch, DispatchQuery, DispatchState, FailureReason, NewDispatch
from printfleet.domain.dispatch.plates import PlateOutcome, PlateState
from printfleet.domain.dispatch.sending import PrintOptions
from printfleet.services.dispatch.ports import DispatchInFlight
from printfleet.store.database import Database
from printfleet.store.dispatch_tables import IN_FLIGHT_CONDITION, DispatchRow, PrinterPlateRow

_UPDATABLE = frozenset({"state", "attempts", "error", "detail", "job_id", "remote_path", "start_sent_at"})


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def _options_json(options: PrintOptions) -> dict[str, Any]:
    data = dataclasses.asdict(options)
    data["ams_mapping"] = list(options.ams_mapping)
    return data


def _options(data: dict[str, Any]) -> PrintOptions:
    known = {f.name for f in dataclasses.fields(PrintOptions)}
    values = {key: value for key, value in data.items() if key in known}
    if "ams_mapping" in values:
        values["ams_mapping"] = tuple(int(v) for v in values["ams_mapping"])
    return PrintOptions(**values)


def _dispatch(row: DispatchRow) -> Dispatch:
    return Dispatch(
        id=row.id,
        printer_id=row.printer_id,
        file_id=row.file_id,
        plate=row.plate,
        job_name=row.job_name,
        remote_name=row.remote_name,
        requested_by=row.requested_by,
        created_at=row.created_at.astimezone(UTC),
        options=_options(row.options),
        state=DispatchState(row.state),
        attempts=row.attempts,
        error=FailureReason(row.error) if row.error else None,
        detail=row.detail,
        job_id=row.job_id,
        remote_path=row.remote_path,
        start_sent_at=_utc(row.start_sent_at),
        updated_at=row.updated_at.astimezone(UTC),
    )


def _is_in_flight_conflict(error: IntegrityError) -> bool:
    message = str(error.orig)
    return "uq_dispatches_in_flight_printer_id" in message or "dispatches.printer_id" in message


class SqlDispatchRepository:
    """:class:`~printfleet.services.dispatch.ports.DispatchRepository` on SQLAlchemy. The partial unique index
    ``uq_dispatches_in_flight_printer_id`` refuses a second dispatch in flight for one printer, whichever process
    inserts it."""

    def __init__(self, database: Database, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._database = database
        self._clock = clock

    async def add(self, new: NewDispatch) -> Dispatch:
        """Record a ``pending`` dispatch. Raises DispatchInFlight."""
        row = DispatchRow(
            printer_id=new.printer_id,
            file_id=new.file_id,
            plate=new.plate,
            job_name=new.job_name,
            remote_name=new.remote_name,
            remote_path=None,
            options=_options_json(new.options),
            state=DispatchState.PENDING.value,
            attempts=0,
            error=None,
            detail=None,
            job_id=None,
            requested_by=new.requested_by,
            start_sent_at=None,
            created_at=new.created_at,
            updated_at=new.created_at,
        )
        try:
            async with self._database.transaction() as session:
                session.add(row)
                await session.flush()
                return _dispatch(row)
        except IntegrityError as error:
            if _is_in_flight_conflict(error):
                raise DispatchInFlight(new.printer_id) from error
            raise

    async def update(self, dispatch_id: int, **changes: Any) -> Dispatch:
        """Set columns and ``updated_at``. Raises ValueError for a column that may not change, KeyError when no
        dispatch has ``dispatch_id``."""
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"dispatches cannot be updated on {', '.join(sorted(unknown))}")
        async with self._database.transaction() as session:
            row = await session.get(DispatchRow, dispatch_id, with_for_update=True)
            if row is None:
                raise KeyError(dispatch_id)
            for column, value in changes.items():
                if column in ("state", "error") and value is not None:
                    value = str(getattr(value, "value", value))
                setattr(row, column, value)
            row.updated_at = self._clock()
            await session.flush()
            return _dispatch(row)

    async def get(self, dispatch_id: int) -> Dispatch | None:
        """One dispatch, or None."""
        async with self._database.transaction() as session:
            row = await session.get(DispatchRow, dispatch_id)
            return None if row is None else _dispatch(row)

    async def list_dispatches(self, query: DispatchQuery) -> tuple[list[Dispatch], int]:
        """A page of dispatches matching ``query``, newest first, and how many match in all."""
        conditions: list[ColumnElement[bool]] = []
        if query.printer_id is not None:
            conditions.append(DispatchRow.printer_id == query.printer_id)
        if query.state is not None:
            conditions.append(DispatchRow.state == query.state.value)
        if query.requested_by is not None:
            conditions.append(DispatchRow.requested_by == query.requested_by)
        async with self._database.transaction() as session:
            total = await session.scalar(select(func.count()).select_from(DispatchRow).where(*conditions))
            rows = await session.scalars(
                select(DispatchRow)
                .where(*conditions)
                .order_by(DispatchRow.created_at.desc(), DispatchRow.id.desc())
                .limit(query.limit)
                .offset(query.offset)
            )
            return [_dispatch(row) for row in rows], int(total or 0)

    async def in_flight(self) -> list[Dispatch]:
        """Every dispatch not yet ``started`` or ``failed``, oldest first."""
        async with self._database.transaction() as session:
            rows = await session.scalars(select(DispatchRow).where(text(IN_FLIGHT_CONDITION)).order_by(DispatchRow.id))
            return [_dispatch(row) for row in rows]


def _plate(row: PrinterPlateRow) -> PlateState:
    return PlateState(
        printer_id=row.printer_id,
        needs_clearing=row.needs_clearing,
        since=_utc(row.since),
        job_id=row.job_id,
        cleared_at=_utc(row.cleared_at),
        cleared_by=row.cleared_by,
        outcome=PlateOutcome(row.outcome) if row.outcome else None,
    )


class SqlPlateRepository:
    """:class:`~printfleet.services.dispatch.ports.PlateRepository` on SQLAlchemy."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def all(self) -> list[PlateState]:
        """Every printer's plate state."""
        async with self._database.transaction() as session:
            return [_plate(row) for row in await session.scalars(select(PrinterPlateRow))]

    async def get(self, printer_id: str) -> PlateState | None:
        """One printer's stored plate state, or None."""
        async with self._database.transaction() as session:
            row = await session.get(PrinterPlateRow, printer_id)
            return _plate(row) if row is not None else None

    async def save(self, state: PlateState) -> None:
        """Insert or replace the printer's plate state in one statement (``INSERT … ON CONFLICT DO UPDATE``): two
        processes of a farm seeing the same print end both save it, and neither may fail on the other's row."""
        values = {
            "printer_id": state.printer_id,
            "needs_clearing": state.needs_clearing,
            "since": state.since,
            "job_id": state.job_id,
            "cleared_at": state.cleared_at,
            "cleared_by": state.cleared_by,
            "outcome": state.outcome.value if state.outcome else None,
        }
        insert = pg_insert if self._database.dialect_name == "postgresql" else sqlite_insert
        statement = insert(PrinterPlateRow).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[PrinterPlateRow.printer_id],
            set_={name: statement.excluded[name] for name in values if name != "printer_id"},
        )
        async with self._database.transaction() as session:
            await session.execute(statement)

    async def delete(self, printer_id: str) -> None:
        """Forget a printer's plate."""
        async with self._database.transaction() as session:
            await session.execute(delete(PrinterPlateRow).where(PrinterPlateRow.printer_id == printer_id))
