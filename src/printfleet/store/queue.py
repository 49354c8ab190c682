"""The queue repository: :class:`SqlQueueRepository`.

Each public method is one transaction. The partial unique indexes ``uq_queue_entries_holding_printer_id`` and
``uq_queue_entries_holding_user_id`` refuse, at the database and whichever process writes, an entry change that
would give one printer to two entries or two printers to one user; that refusal becomes ``QueueConflict``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from printfleet.domain.jobs import Job, JobStatus
from printfleet.domain.queue import EntryStatus, NewQueueEntry, QueueEntry
from printfleet.domain.queue_history import HistoryKind, HistoryRecord
from printfleet.domain.queue_predict import DurationSample
from printfleet.services.errors import QueueConflict
from printfleet.store.database import Database
from printfleet.store.jobs import Clock, job_from_row, utc_now
from printfleet.store.tables import (
    QUEUE_ACTIVE_CONDITION,
    JobRow,
    QueueEntryRow,
    QueueHistoryRow,
    QueuePrinterHoldRow,
    QueueStateRow,
)

PAUSED_KEY = "paused"
"""The ``queue_state`` row holding the queue's pause flag (JSON true / false)."""

_is_active = text(QUEUE_ACTIVE_CONDITION)
_HOLDING_INDEXES = ("uq_queue_entries_holding_printer_id", "uq_queue_entries_holding_user_id")


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else round(value.total_seconds())


def entry_from_row(row: QueueEntryRow) -> QueueEntry:
    """The domain entry of a ``queue_entries`` row, times in UTC."""
    return QueueEntry(
        id=row.id,
        user_id=row.user_id,
        user_name=row.user_name,
        job_name=row.job_name,
        estimate=timedelta(seconds=row.estimate_seconds),
        queue_key=row.queue_key,
        created_at=row.created_at.astimezone(UTC),
        queued_at=row.queued_at.astimezone(UTC),
        printer_ids=frozenset(row.printer_ids or ()),
        status=EntryStatus(row.status),
        printer_id=row.printer_id,
        deadline=_utc(row.deadline),
        offered_at=_utc(row.offered_at),
        claimed_at=_utc(row.claimed_at),
        missed_offers=row.missed_offers,
        job_id=row.job_id,
        started_at=_utc(row.started_at),
        ended_at=_utc(row.ended_at),
        outcome=JobStatus(row.outcome) if row.outcome else None,
        actual_duration=None if row.actual_seconds is None else timedelta(seconds=row.actual_seconds),
        end_reason=row.end_reason,
        version=row.version,
    )


def _write(row: QueueEntryRow, entry: QueueEntry, now: datetime) -> None:
    """Copy every mutable field of ``entry`` onto ``row``."""
    row.user_name = entry.user_name
    row.job_name = entry.job_name
    row.estimate_seconds = round(entry.estimate.total_seconds())
    row.printer_ids = sorted(entry.printer_ids)
    row.queue_key = entry.queue_key
    row.status = entry.status.value
    row.printer_id = entry.printer_id
    row.deadline = entry.deadline
    row.queued_at = entry.queued_at
    row.offered_at = entry.offered_at
    row.claimed_at = entry.claimed_at
    row.missed_offers = entry.missed_offers
    row.job_id = entry.job_id
    row.started_at = entry.started_at
    row.ended_at = entry.ended_at
    row.outcome = entry.outcome.value if entry.outcome else None
    row.actual_seconds = _seconds(entry.actual_duration)
    row.end_reason = entry.end_reason
    row.version = entry.version + 1
    row.updated_at = now


def _history_row(record: HistoryRecord, entry_id: int | None = None) -> QueueHistoryRow:
    return QueueHistoryRow(
        kind=record.kind.value,
        at=record.at,
        entry_id=record.entry_id if entry_id is None else entry_id,
        user_id=record.user_id,
        printer_id=record.printer_id,
        job_id=record.job_id,
        detail=record.detail,
    )


def _record_from_row(row: QueueHistoryRow) -> HistoryRecord:
    return HistoryRecord(
        id=row.id,
        kind=HistoryKind(row.kind),
        at=row.at.astimezone(UTC),
        entry_id=row.entry_id,
        user_id=row.user_id,
        printer_id=row.printer_id,
        job_id=row.job_id,
        detail=row.detail,
    )


def _is_holding_conflict(error: IntegrityError) -> bool:
    """True when a holding index refused the change (PostgreSQL names the index, SQLite the column)."""
    message = str(error.orig)
    return any(name in message for name in _HOLDING_INDEXES) or ("UNIQUE constraint failed: queue_entries." in message)


class SqlQueueRepository:
    """:class:`printfleet.services.ports.QueueRepository` on SQLite or PostgreSQL."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self._database = database
        self._clock = clock

    async def active_entries(self) -> list[QueueEntry]:
        """Every entry still in the queue, first in line first (served by the partial index)."""
        async with self._database.transaction() as session:
            rows = await session.scalars(
                select(QueueEntryRow).where(_is_active).order_by(QueueEntryRow.queue_key, QueueEntryRow.id)
            )
            return [entry_from_row(row) for row in rows]

    async def add_entry(self, entry: NewQueueEntry, history: HistoryRecord) -> QueueEntry:
        """Insert a ``waiting`` entry and its ``joined`` record; returns the entry with its id."""
        now = self._clock()
        row = QueueEntryRow(
            user_id=entry.user_id,
            user_name=entry.user_name,
            job_name=entry.job_name,
            estimate_seconds=round(entry.estimate.total_seconds()),
            printer_ids=sorted(entry.printer_ids),
            queue_key=entry.queue_key,
            status=EntryStatus.WAITING.value,
            created_at=entry.created_at,
            queued_at=entry.created_at,
            missed_offers=0,
            version=0,
            updated_at=now,
        )
        async with self._database.transaction() as session:
            session.add(row)
            await session.flush()
            session.add(_history_row(history, row.id))
            return entry_from_row(row)

    async def save(
        self, entries: Sequence[QueueEntry], history: Sequence[HistoryRecord], *, link: QueueEntry | None = None
    ) -> Job | None:
        """Write ``entries`` and ``history`` in one transaction; with ``link``, mark its job with the entry and user.

        Each entry's ``version`` must be the stored one (optimistic concurrency: a change computed from an older
        state, by another process, is refused); the stored version goes up by one. Rows are locked in id order.
        Raises QueueConflict when a version differs or a holding index refuses a change; nothing is written then.
        """
        now = self._clock()
        try:
            async with self._database.transaction() as session:
                ordered = sorted(entries, key=lambda e: e.id)
                if ordered:
                    query = select(QueueEntryRow).where(QueueEntryRow.id.in_([e.id for e in ordered]))
                    # FOR UPDATE: on PostgreSQL a second writer waits here, then reads the committed version.
                    rows = {row.id: row for row in await session.scalars(query.with_for_update())}
                    # Free a printer or a user before another row takes it: rows that stop holding go first, so the
                    # unique indexes (checked per statement) never see a hand-over as two holders.
                    for entry in sorted(ordered, key=lambda e: (e.status.holds_printer, e.id)):
                        row = rows.get(entry.id)
                        if row is None:
                            raise QueueConflict(f"queue entry #{entry.id} is gone")
                        if row.version != entry.version:
                            raise QueueConflict(f"queue entry #{entry.id} was changed meanwhile")
                        _write(row, entry, now)
                        await session.flush()
                session.add_all(_history_row(record) for record in history)
                job: Job | None = None
                if link is not None and link.job_id is not None:
                    await session.execute(
                        update(JobRow)
                        .where(JobRow.id == link.job_id)
                        .values(queue_entry_id=link.id, queue_user_id=link.user_id, queue_user_name=link.user_name)
                    )
                    job_row = await session.get(JobRow, link.job_id, populate_existing=True)
                    job = None if job_row is None else job_from_row(job_row)
                return job
        except IntegrityError as error:
            if _is_holding_conflict(error):
                raise QueueConflict("a printer or a user would be held twice; the queue changed meanwhile") from None
            raise

    async def get_entry(self, entry_id: int) -> QueueEntry | None:
        """One entry, active or ended, or None (also for an id no 64-bit row id can be)."""
        if not 0 < entry_id < 2**63:
            return None
        async with self._database.transaction() as session:
            row = await session.get(QueueEntryRow, entry_id)
            return None if row is None else entry_from_row(row)

    async def ended_entries(self, *, user_id: str | None = None, limit: int = 20) -> list[QueueEntry]:
        """Ended entries (of ``user_id`` when given), the latest to end first."""
        query = select(QueueEntryRow).where(QueueEntryRow.ended_at.is_not(None))
        if user_id is not None:
            query = query.where(QueueEntryRow.user_id == user_id)
        query = query.order_by(QueueEntryRow.ended_at.desc(), QueueEntryRow.id.desc()).limit(limit)
        async with self._database.transaction() as session:
            return [entry_from_row(row) for row in await session.scalars(query)]

    async def history(self, *, entry_id: int | None = None, limit: int = 100) -> list[HistoryRecord]:
        """History records (of ``entry_id`` when given), newest first."""
        query = select(QueueHistoryRow)
        if entry_id is not None:
            query = query.where(QueueHistoryRow.entry_id == entry_id)
        query = query.order_by(QueueHistoryRow.id.desc()).limit(limit)
        async with self._database.transaction() as session:
            return [_record_from_row(row) for row in await session.scalars(query)]

    async def duration_samples(self, *, limit: int = 5000) -> list[DurationSample]:
        """The latest ``limit`` completed, not deleted jobs with a duration; queue-linked ones carry the entry's user
        and estimate."""
        query = (
            select(
                JobRow.job_name,
                JobRow.duration_seconds,
                JobRow.printer_id,
                QueueEntryRow.user_id,
                QueueEntryRow.estimate_seconds,
            )
            .outerjoin(QueueEntryRow, QueueEntryRow.id == JobRow.queue_entry_id)
            .where(
                JobRow.status == JobStatus.COMPLETED.value,
                JobRow.duration_seconds.is_not(None),
                JobRow.deleted_at.is_(None),
            )
            .order_by(JobRow.id.desc())
            .limit(limit)
        )
        async with self._database.transaction() as session:
            rows = (await session.execute(query)).all()
        return [
            DurationSample(
                job_name=name,
                actual=timedelta(seconds=duration or 0),
                printer_id=printer_id,
                user_id=user_id,
                estimate=None if estimate is None else timedelta(seconds=estimate),
            )
            for name, duration, printer_id, user_id, estimate in rows
        ]

    async def holds(self) -> set[str]:
        """The printers held out of rotation."""
        async with self._database.transaction() as session:
            return set(await session.scalars(select(QueuePrinterHoldRow.printer_id)))

    async def set_hold(self, printer_id: str, *, held: bool, by: str | None, at: datetime) -> None:
        """Hold ``printer_id`` (a repeated hold keeps the first) or release it."""
        async with self._database.transaction() as session:
            row = await session.get(QueuePrinterHoldRow, printer_id)
            if held and row is None:
                session.add(QueuePrinterHoldRow(printer_id=printer_id, held_by=by, held_at=at))
            elif not held and row is not None:
                await session.delete(row)

    async def paused(self) -> bool:
        """Whether the queue is paused."""
        async with self._database.transaction() as session:
            row = await session.get(QueueStateRow, PAUSED_KEY)
            return bool(row is not None and json.loads(row.value))

    async def set_paused(self, paused: bool) -> None:
        """Pause (True) or resume the queue."""
        async with self._database.transaction() as session:
            row = await session.get(QueueStateRow, PAUSED_KEY)
            if row is None:
                session.add(QueueStateRow(key=PAUSED_KEY, value=json.dumps(paused), updated_at=self._clock()))
            else:
                row.value = json.dumps(paused)
                row.updated_at = self._clock()
