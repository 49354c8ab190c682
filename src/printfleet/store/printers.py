"""Repositories over the printer tables: :class:`SqlPrinterRepository` and :class:`SqlSettingsRepository`.

Each public method is one transaction. Rows are mapped to domain objects by named functions, and secrets
leave the store only wrapped in :class:`~printfleet.domain.printer.Secret`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from printfleet.domain.printer import PrinterConfig, PrinterKind, PrinterState, PrinterStatus, QueueMode, Secret
from printfleet.services.errors import PrinterAlreadyExists, PrinterNotFound
from printfleet.services.ports import StateTransition
from printfleet.store.database import Database
from printfleet.store.tables import PrinterRow, PrinterStateTransitionRow, SettingRow

Clock = Callable[[], datetime]
PrinterSource = Literal["config", "api"]


def utc_now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


def _reveal(secret: Secret | None) -> str | None:
    return None if secret is None else secret.reveal()


def _wrap(value: str | None) -> Secret | None:
    return None if value is None else Secret(value)


def _printer_from_row(row: PrinterRow) -> PrinterConfig:
    """The domain configuration of a ``printers`` row."""
    return PrinterConfig(
        id=row.id,
        name=row.name,
        kind=PrinterKind(row.kind),
        host=row.host,
        port=row.port,
        serial=row.serial,
        access_code=_wrap(row.access_code),
        ca_file=row.ca_file,
        tls_insecure=row.tls_insecure,
        username=row.username,
        password=_wrap(row.password),
        api_key=_wrap(row.api_key),
        url=row.url,
        poll_interval=row.poll_interval,
        auto_create_jobs=row.auto_create_jobs,
        model=row.model,
        ftp_port=row.ftp_port,
        queue_mode=QueueMode(row.queue_mode or QueueMode.MEMBERS.value),
        tags=tuple(row.tags or ()),
        average_watts=row.average_watts,
        hourly_rate=row.hourly_rate,
    )


def _apply_config(row: PrinterRow, config: PrinterConfig) -> None:
    """Copy every configuration field of ``config`` onto ``row`` (not id, source or timestamps)."""
    row.name = config.name
    row.kind = config.kind.value
    row.host = config.host
    row.port = config.port
    row.serial = config.serial
    row.access_code = _reveal(config.access_code)
    row.ca_file = config.ca_file
    row.tls_insecure = config.tls_insecure
    row.username = config.username
    row.password = _reveal(config.password)
    row.api_key = _reveal(config.api_key)
    row.url = config.url
    row.poll_interval = config.poll_interval
    row.auto_create_jobs = config.auto_create_jobs
    row.model = config.model
    row.ftp_port = config.ftp_port
    row.queue_mode = config.queue_mode.value
    row.tags = list(config.tags) or None
    row.average_watts = config.average_watts
    row.hourly_rate = config.hourly_rate


def _new_row(config: PrinterConfig, *, source: PrinterSource, now: datetime) -> PrinterRow:
    row = PrinterRow(id=config.id, source=source, created_at=now, updated_at=now)
    _apply_config(row, config)
    return row


def _transition_from_row(row: PrinterStateTransitionRow) -> StateTransition:
    """The domain view of a ``printer_state_transitions`` row."""
    return StateTransition(
        id=row.id,
        printer_id=row.printer_id,
        from_state=None if row.from_state is None else PrinterState(row.from_state),
        to_state=PrinterState(row.to_state),
        at=row.at,
        file_name=row.file_name,
        offline_reason=row.offline_reason,
        detail=row.detail,
    )


class SqlPrinterRepository:
    """:class:`~printfleet.services.ports.PrinterRepository` on SQLAlchemy (SQLite or PostgreSQL).

    Printers added through :meth:`add_printer` are marked ``source="api"``; :meth:`upsert_printers` marks
    the printers it writes ``source="config"``.
    """

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self._database = database
        self._clock = clock

    async def list_printers(self) -> list[PrinterConfig]:
        """All printers, ordered by id."""
        async with self._database.transaction() as session:
            rows = await session.scalars(select(PrinterRow).order_by(PrinterRow.id))
            return [_printer_from_row(row) for row in rows]

    async def get_printer(self, printer_id: str) -> PrinterConfig | None:
        """One printer, or None."""
        async with self._database.transaction() as session:
            row = await session.get(PrinterRow, printer_id)
            return None if row is None else _printer_from_row(row)

    async def add_printer(self, config: PrinterConfig) -> None:
        """Insert a printer (``source="api"``); raises PrinterAlreadyExists when the id is taken."""
        try:
            async with self._database.transaction() as session:
                if await session.get(PrinterRow, config.id) is not None:
                    raise PrinterAlreadyExists(config.id)
                session.add(_new_row(config, source="api", now=self._clock()))
        except IntegrityError as error:
            # Another process inserted the same id between our check and our insert (PostgreSQL only:
            # SQLite transactions hold the write lock from the start).
            raise PrinterAlreadyExists(config.id) from error

    async def update_printer(self, config: PrinterConfig) -> None:
        """Replace a printer's configuration (its source is kept); raises PrinterNotFound."""
        async with self._database.transaction() as session:
            row = await session.get(PrinterRow, config.id, with_for_update=True)
            if row is None:
                raise PrinterNotFound(config.id)
            _apply_config(row, config)
            row.updated_at = self._clock()

    async def delete_printer(self, printer_id: str) -> None:
        """Delete a printer; the database cascades to its transitions. Raises PrinterNotFound."""
        async with self._database.transaction() as session:
            deleted = await session.scalar(
                delete(PrinterRow).where(PrinterRow.id == printer_id).returning(PrinterRow.id)
            )
            if deleted is None:
                raise PrinterNotFound(printer_id)

    async def upsert_printers(self, configs: Sequence[PrinterConfig]) -> None:
        """Insert or overwrite each printer from the configuration file (``source="config"``).

        A printer of the same id added through the API is overwritten and becomes a configuration printer:
        the file is the operator's declared truth.
        """
        if not configs:
            return
        async with self._database.transaction() as session:
            now = self._clock()
            existing = {
                row.id: row
                for row in await session.scalars(
                    select(PrinterRow).where(PrinterRow.id.in_([config.id for config in configs])).with_for_update()
                )
            }
            for config in configs:
                row = existing.get(config.id)
                if row is None:
                    row = _new_row(config, source="config", now=now)
                    session.add(row)
                    existing[config.id] = row
                else:
                    _apply_config(row, config)
                    row.source = "config"
                    row.updated_at = now

    async def record_transition(
        self,
        *,
        printer_id: str,
        from_state: PrinterState | None,
        status: PrinterStatus,
        at: datetime,
    ) -> None:
        """Append one state-transition row (``to_state`` and details from ``status``); raises PrinterNotFound."""
        row = PrinterStateTransitionRow(
            printer_id=printer_id,
            from_state=None if from_state is None else from_state.value,
            to_state=status.state.value,
            at=at,
            file_name=status.file_name,
            offline_reason=None if status.offline_reason is None else status.offline_reason.value,
            detail=status.offline_detail,
        )
        try:
            async with self._database.transaction() as session:
                session.add(row)
        except IntegrityError as error:
            # The only constraint a well-formed row can break is the foreign key to printers.
            raise PrinterNotFound(printer_id) from error

    async def list_transitions(self, printer_id: str, *, limit: int = 100) -> list[StateTransition]:
        """The newest ``limit`` transitions of a printer, newest first (ties broken by insertion order)."""
        async with self._database.transaction() as session:
            rows = await session.scalars(
                select(PrinterStateTransitionRow)
                .where(PrinterStateTransitionRow.printer_id == printer_id)
                .order_by(PrinterStateTransitionRow.at.desc(), PrinterStateTransitionRow.id.desc())
                .limit(limit)
            )
            return [_transition_from_row(row) for row in rows]

    async def last_transition_states(self) -> dict[str, PrinterState]:
        """The ``to_state`` of each printer's newest transition, in one query."""
        transitions = PrinterStateTransitionRow
        newest_first = (
            func.row_number()
            .over(
                partition_by=transitions.printer_id,
                order_by=(transitions.at.desc(), transitions.id.desc()),
            )
            .label("newest_first")
        )
        ranked = select(transitions.printer_id, transitions.to_state, newest_first).subquery()
        query = select(ranked.c.printer_id, ranked.c.to_state).where(ranked.c.newest_first == 1)
        async with self._database.transaction() as session:
            rows = (await session.execute(query)).all()
        return {printer_id: PrinterState(to_state) for printer_id, to_state in rows}


class SqlSettingsRepository:
    """Runtime settings (``job_creation_auto_create``, ...) as JSON values under string keys."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self._database = database
        self._clock = clock

    async def get_all(self) -> dict[str, object]:
        """Every stored setting, decoded from JSON."""
        async with self._database.transaction() as session:
            rows = await session.scalars(select(SettingRow).order_by(SettingRow.key))
            return {row.key: json.loads(row.value) for row in rows}

    async def set(self, key: str, value: object) -> None:
        """Store ``value`` under ``key``; raises TypeError (before touching the store) if not JSON-serialisable."""
        encoded = json.dumps(value)
        async with self._database.transaction() as session:
            row = await session.get(SettingRow, key, with_for_update=True)
            if row is None:
                session.add(SettingRow(key=key, value=encoded, updated_at=self._clock()))
            else:
                row.value = encoded
                row.updated_at = self._clock()
