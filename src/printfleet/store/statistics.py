"""The Statistics page's figures, aggregated in the store (a range's jobs are never loaded one by one).

Day counts: PostgreSQL groups by the local date itself (``timezone(zone, created_at)::date``); SQLite has no time
zones, so it groups by UTC quarter hour and :func:`~printfleet.domain.statistics.counts_by_local_day` sorts those
into local days exactly. Utilisation: each printer's state transitions in the range, plus the last one before it
(the state the range starts in), timed with a ``LEAD`` window and summed per state.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Date, Integer, Select, and_, cast, func, literal, or_, select, text, union_all
from sqlalchemy.sql.elements import ColumnElement

from printfleet.domain.files.model import FileMetadata
from printfleet.domain.statistics import (
    OUTCOMES,
    Counts,
    DurationFigures,
    ReasonFigures,
    StatsRange,
    counts_by_local_day,
)
from printfleet.store.database import Database
from printfleet.store.dispatch_tables import DispatchRow
from printfleet.store.file_tables import PrintFileRow
from printfleet.store.tables import JobRow, PrinterRow, PrinterStateTransitionRow
from printfleet.store.types import UTCDateTime

MAX_REASONS = 20
"""The failure reasons listed (the most frequent)."""

_CONNECTED_EXCLUDES = "offline"


class SqlStatisticsRepository:
    """Aggregates over ``jobs`` and ``printer_state_transitions``. Raises StoreUnavailable when the store fails."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @property
    def _postgres(self) -> bool:
        return self._database.dialect_name == "postgresql"

    def _jobs_in(self, stats_range: StatsRange) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [
            JobRow.created_at >= stats_range.since,
            JobRow.created_at < stats_range.until,
            JobRow.deleted_at.is_(None),
            JobRow.status != "pending",
        ]
        if stats_range.printer_ids:
            conditions.append(JobRow.printer_id.in_(stats_range.printer_ids))
        return conditions

    async def day_counts(self, stats_range: StatsRange) -> dict[date, Counts]:
        """The range's prints per local day and status."""
        if self._postgres:
            day = cast(func.timezone(stats_range.time_zone, JobRow.created_at), Date)
            query = (
                select(day, JobRow.status, func.count()).where(*self._jobs_in(stats_range)).group_by(day, JobRow.status)
            )
            async with self._database.transaction() as session:
                await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
                rows = (await session.execute(query)).all()
            by_day: dict[date, dict[str, int]] = {}
            for local_day, status, count in rows:
                by_day.setdefault(local_day, {})[status] = int(count)
            return {local_day: Counts(counts) for local_day, counts in by_day.items()}
        minute = cast(func.strftime("%M", JobRow.created_at), Integer)
        slot = func.strftime("%Y-%m-%d %H:", JobRow.created_at).concat(func.printf("%02d", (minute // 15) * 15))
        slotted = (
            select(slot, JobRow.status, func.count()).where(*self._jobs_in(stats_range)).group_by(slot, JobRow.status)
        )
        async with self._database.transaction() as session:
            slot_rows = (await session.execute(slotted)).all()
        slots = [
            (datetime.strptime(start, "%Y-%m-%d %H:%M").replace(tzinfo=UTC), status, int(count))
            for start, status, count in slot_rows
        ]
        return counts_by_local_day(stats_range, slots)

    async def printer_counts(self, stats_range: StatsRange) -> dict[str, tuple[Counts, int]]:
        """Per printer: its prints by status and the ended prints' summed ``duration_seconds``."""
        query = (
            select(JobRow.printer_id, JobRow.status, func.count(), func.coalesce(func.sum(JobRow.duration_seconds), 0))
            .where(*self._jobs_in(stats_range))
            .group_by(JobRow.printer_id, JobRow.status)
        )
        async with self._database.transaction() as session:
            if self._postgres:
                await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
            rows = (await session.execute(query)).all()
        by_printer: dict[str, tuple[dict[str, int], int]] = {}
        for printer_id, status, count, seconds in rows:
            counts, total = by_printer.get(printer_id, ({}, 0))
            counts[status] = int(count)
            ended_seconds = int(seconds or 0) if status in OUTCOMES else 0
            by_printer[printer_id] = (counts, total + ended_seconds)
        return {printer_id: (Counts(counts), seconds) for printer_id, (counts, seconds) in by_printer.items()}

    async def reasons(self, stats_range: StatsRange) -> list[ReasonFigures]:
        """The most frequent (status, end reason) pairs of the range's failed, cancelled and unknown prints."""
        reason = func.coalesce(JobRow.end_reason, "")
        count = func.count()
        query = (
            select(JobRow.status, reason, count)
            .where(*self._jobs_in(stats_range), JobRow.status.in_(("failed", "cancelled", "unknown")))
            .group_by(JobRow.status, reason)
            .order_by(count.desc(), JobRow.status, reason)
            .limit(MAX_REASONS)
        )
        async with self._database.transaction() as session:
            rows = (await session.execute(query)).all()
        return [ReasonFigures(status=status, reason=text_, count=int(n)) for status, text_, n in rows]

    async def durations(self, stats_range: StatsRange) -> DurationFigures:
        """Completed prints sent from the library whose plate has a sliced time: mean actual and estimated
        seconds."""
        query = (
            select(DispatchRow.file_id, DispatchRow.plate, JobRow.duration_seconds)
            .join(DispatchRow, DispatchRow.id == JobRow.dispatch_id)
            .where(*self._jobs_in(stats_range), JobRow.status == "completed", JobRow.duration_seconds.is_not(None))
        )
        async with self._database.transaction() as session:
            rows = (await session.execute(query)).all()
            file_ids = sorted({file_id for file_id, _, _ in rows})
            files = (
                {
                    file_id: FileMetadata.from_json(metadata)
                    for file_id, metadata in (
                        await session.execute(
                            select(PrintFileRow.id, PrintFileRow.file_metadata).where(PrintFileRow.id.in_(file_ids))
                        )
                    ).all()
                }
                if file_ids
                else {}
            )
        actual: list[float] = []
        estimated: list[float] = []
        for file_id, plate, seconds in rows:
            metadata = files.get(file_id)
            sliced = next((p.print_time_s for p in metadata.plates if p.index == plate), None) if metadata else None
            if sliced:
                actual.append(float(seconds or 0))
                estimated.append(float(sliced))
        if not actual:
            return DurationFigures(prints=0, actual_seconds=None, estimated_seconds=None)
        return DurationFigures(
            prints=len(actual),
            actual_seconds=sum(actual) / len(actual),
            estimated_seconds=sum(estimated) / len(estimated),
        )

    async def state_seconds(self, stats_range: StatsRange, *, now: datetime) -> dict[str, tuple[float, float]]:
        """Per printer: (seconds ``printing``, seconds connected) within the range, up to ``now``."""
        since = stats_range.since
        until = min(stats_range.until, now)
        if until <= since:
            return {}
        transitions = PrinterStateTransitionRow
        earlier = transitions.__table__.alias("earlier")
        last_before = (
            select(earlier.c.id)
            .where(earlier.c.printer_id == PrinterRow.id, earlier.c.at < since)
            .order_by(earlier.c.at.desc(), earlier.c.id.desc())
            .limit(1)
            .correlate(PrinterRow)
            .scalar_subquery()
        )
        # One index probe per printer (printer_id, at): the last change before the range, for every printer.
        starting: Select[Any] = select(last_before.label("id")).select_from(PrinterRow)
        if stats_range.printer_ids:
            starting = starting.where(PrinterRow.id.in_(stats_range.printer_ids))
        in_range = [transitions.at >= since, transitions.at < until]
        if stats_range.printer_ids:
            in_range.append(transitions.printer_id.in_(stats_range.printer_ids))
        rows = union_all(
            select(transitions.id, transitions.printer_id, transitions.to_state, transitions.at).where(*in_range),
            select(transitions.id, transitions.printer_id, transitions.to_state, transitions.at).where(
                transitions.id.in_(starting)
            ),
        ).subquery("rows")
        # Byte order is enough to keep each printer's changes together, and much cheaper than a language's collation.
        partition = rows.c.printer_id.collate("C") if self._postgres else rows.c.printer_id
        following = func.lead(rows.c.at).over(partition_by=partition, order_by=(rows.c.at, rows.c.id))
        timed = select(rows.c.printer_id, rows.c.to_state, rows.c.at, following.label("next_at")).subquery("timed")
        begin = self._greatest(timed.c.at, literal(since, UTCDateTime()))
        end = self._least(func.coalesce(timed.c.next_at, literal(until, UTCDateTime())), literal(until, UTCDateTime()))
        seconds = self._seconds(begin, end)
        query = (
            select(timed.c.printer_id, timed.c.to_state, func.sum(seconds))
            .where(or_(timed.c.next_at.is_(None), timed.c.next_at > since))
            .group_by(timed.c.printer_id, timed.c.to_state)
        )
        async with self._database.transaction() as session:
            if self._postgres:
                # The window sorts the range's changes by printer and time: in memory rather than on disk, and
                # without compiling the query first (JIT costs more than it saves on a query this size).
                await session.execute(text("SET LOCAL work_mem = '64MB'"))
                await session.execute(text("SET LOCAL jit = off"))
            result = (await session.execute(query)).all()
        spent: dict[str, tuple[float, float]] = {}
        for printer_id, state, total in result:
            printing, connected = spent.get(printer_id, (0.0, 0.0))
            value = max(0.0, float(total or 0.0))
            if state == "printing":
                printing += value
            if state != _CONNECTED_EXCLUDES:
                connected += value
            spent[printer_id] = (printing, connected)
        return spent

    def _greatest(self, a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.greatest(a, b) if self._postgres else func.max(a, b)

    def _least(self, a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.least(a, b) if self._postgres else func.min(a, b)

    def _seconds(self, begin: ColumnElement[Any], end: ColumnElement[Any]) -> ColumnElement[Any]:
        if self._postgres:
            return func.extract("epoch", end - begin)
        return (func.julianday(end) - func.julianday(begin)) * 86400.0

    async def job_rows(self, stats_range: StatsRange, *, limit: int) -> Sequence[Any]:
        """The range's prints for the CSV export, oldest first, at most ``limit``: (id, printer id, job name,
        status, created, start, end, duration seconds, end reason)."""
        query = (
            select(
                JobRow.id,
                JobRow.printer_id,
                JobRow.job_name,
                JobRow.status,
                JobRow.created_at,
                JobRow.start_time,
                JobRow.end_time,
                JobRow.duration_seconds,
                JobRow.end_reason,
            )
            .where(and_(*self._jobs_in(stats_range)))
            .order_by(JobRow.created_at, JobRow.id)
            .limit(limit)
        )
        async with self._database.transaction() as session:
            return (await session.execute(query)).all()
