"""The Spoolman outbox in the store: :class:`SqlSpoolmanRepository` (table ``spoolman_reports``, migration 0015).
Reports are written by :meth:`printfleet.store.materials.usage.SqlUsageRepository.settle`, in the transaction that
charges the spools; this reads and updates them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from printfleet.domain.materials.spoolman import ReportState, SpoolmanReport
from printfleet.store.database import Database
from printfleet.store.materials.tables import SpoolmanReportRow, SpoolRow


def _report(row: SpoolmanReportRow) -> SpoolmanReport:
    return SpoolmanReport(
        id=row.id,
        job_id=row.job_id,
        spool_id=row.spool_id,
        spoolman_id=row.spoolman_id,
        grams=row.grams,
        state=ReportState(row.state),
        attempts=row.attempts,
        baseline_g=row.baseline_g,
        uncertain=row.uncertain,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
    )


class SqlSpoolmanRepository:
    """Reads and updates the outbox. Raises StoreUnavailable when the store fails."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def due(self, now: datetime, *, limit: int = 50) -> list[SpoolmanReport]:
        """Pending reports whose next attempt is due, oldest first."""
        async with self._database.transaction() as session:
            rows = await session.scalars(
                select(SpoolmanReportRow)
                .where(SpoolmanReportRow.state == ReportState.PENDING.value, SpoolmanReportRow.next_attempt_at <= now)
                .order_by(SpoolmanReportRow.next_attempt_at, SpoolmanReportRow.id)
                .limit(limit)
            )
            return [_report(row) for row in rows]

    async def next_due(self) -> datetime | None:
        """When the earliest pending report is due, or None when none is pending."""
        async with self._database.transaction() as session:
            found = await session.scalar(
                select(func.min(SpoolmanReportRow.next_attempt_at)).where(
                    SpoolmanReportRow.state == ReportState.PENDING.value
                )
            )
            return found if isinstance(found, datetime) else None

    async def update(self, report_id: int, *, at: datetime, **changes: Any) -> None:
        """Set ``changes`` (columns of the report; a :class:`ReportState` as its value) and ``updated_at``."""
        values = {key: value.value if isinstance(value, ReportState) else value for key, value in changes.items()}
        async with self._database.transaction() as session:
            await session.execute(
                update(SpoolmanReportRow).where(SpoolmanReportRow.id == report_id).values(updated_at=at, **values)
            )

    async def unlink(self, spoolman_id: int) -> list[int]:
        """Forget the link of every printfleet spool to Spoolman spool ``spoolman_id`` (Spoolman no longer has it);
        the printfleet spool ids that were linked."""
        async with self._database.transaction() as session:
            ids = list(await session.scalars(select(SpoolRow.id).where(SpoolRow.spoolman_id == spoolman_id)))
            if ids:
                await session.execute(update(SpoolRow).where(SpoolRow.id.in_(ids)).values(spoolman_id=None))
            return ids

    async def counts(self) -> dict[ReportState, int]:
        """How many reports are in each state."""
        async with self._database.transaction() as session:
            rows = await session.execute(
                select(SpoolmanReportRow.state, func.count()).group_by(SpoolmanReportRow.state)
            )
            found = {ReportState(state): int(count) for state, count in rows}
        return {state: found.get(state, 0) for state in ReportState}

    async def reports(self, *, job_id: int | None = None, limit: int = 100) -> list[SpoolmanReport]:
        """Reports newest first (of one job when given)."""
        query = select(SpoolmanReportRow).order_by(SpoolmanReportRow.id.desc()).limit(limit)
        if job_id is not None:
            query = query.where(SpoolmanReportRow.job_id == job_id)
        async with self._database.transaction() as session:
            return [_report(row) for row in await session.scalars(query)]
