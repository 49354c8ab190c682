"""The farm's statistics over a range of local days (the Statistics page, ``GET /api/v1/statistics``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, Protocol

from printfleet.domain.statistics import (
    Counts,
    DurationFigures,
    PrinterFigures,
    ReasonFigures,
    Statistics,
    StatsRange,
    days_filled,
)

CSV_LIMIT = 100_000
"""The most prints one CSV export holds (oldest first); a longer range is exported in parts."""


class StatisticsRepository(Protocol):
    """The store's aggregates (see :class:`~printfleet.store.statistics.SqlStatisticsRepository`)."""

    async def day_counts(self, stats_range: StatsRange) -> dict[date, Counts]: ...

    async def printer_counts(self, stats_range: StatsRange) -> dict[str, tuple[Counts, int]]: ...

    async def reasons(self, stats_range: StatsRange) -> list[ReasonFigures]: ...

    async def durations(self, stats_range: StatsRange) -> DurationFigures: ...

    async def state_seconds(self, stats_range: StatsRange, *, now: datetime) -> dict[str, tuple[float, float]]: ...

    async def job_rows(self, stats_range: StatsRange, *, limit: int) -> Sequence[Any]: ...


class StatisticsService:
    """Builds :class:`~printfleet.domain.statistics.Statistics`; the aggregates run side by side (on PostgreSQL each
    on its own connection). Raises StoreUnavailable."""

    def __init__(self, repository: StatisticsRepository, *, clock: Callable[[], datetime] | None = None) -> None:
        self._repository = repository
        self._clock = clock or (lambda: datetime.now(UTC))

    async def figures(self, stats_range: StatsRange) -> Statistics:
        """Every figure of the range."""
        days, printers, reasons, durations, seconds = await asyncio.gather(
            self._repository.day_counts(stats_range),
            self._repository.printer_counts(stats_range),
            self._repository.reasons(stats_range),
            self._repository.durations(stats_range),
            self._repository.state_seconds(stats_range, now=self._clock()),
        )
        figures = [
            PrinterFigures(
                printer_id=printer_id,
                counts=printers.get(printer_id, (Counts(), 0))[0],
                print_seconds=printers.get(printer_id, (Counts(), 0))[1],
                printing_seconds=seconds.get(printer_id, (0.0, 0.0))[0],
                connected_seconds=seconds.get(printer_id, (0.0, 0.0))[1],
            )
            for printer_id in sorted(set(printers) | set(seconds))
        ]
        return Statistics(
            range=stats_range,
            days=days_filled(stats_range, days),
            printers=figures,
            reasons=reasons,
            durations=durations,
        )

    async def job_rows(self, stats_range: StatsRange) -> Sequence[Any]:
        """The range's prints for a CSV export (see the repository), at most :data:`CSV_LIMIT`."""
        return await self._repository.job_rows(stats_range, limit=CSV_LIMIT)
