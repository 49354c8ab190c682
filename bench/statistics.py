"""Statistics: the figures behind ``/statistics`` and ``GET /api/v1/statistics`` over 1,000,000 jobs on PostgreSQL
(target ≤ 500 ms).

What is measured: :meth:`~printfleet.services.statistics.StatisticsService.figures` (its five aggregates side by
side: prints per local day, per printer, failure reasons, sliced against actual time, utilisation from the state
transitions) through a :class:`~printfleet.store.database.Database` as in the server, for the page's default range
(the last 30 days, about 86,000 jobs: the target applies to it) and for the whole history (350 days, every job:
context; every state change of the year is timed, which takes seconds), days in Europe/Berlin.

The store: a database ``printfleet_bench_<hex>`` created beside the one in ``PRINTFLEET_TEST_POSTGRES_URL``,
migrated, loaded with ``bench.store_jobs``'s 1,000,000 ended jobs over 1,000 printers (``COPY``), the 1,000
printers, and two state transitions per job (printing at its start, idle at its end: 2,000,000 rows), ``ANALYZE``.
Each range runs 2 times to warm up, then 5 timed times.

Run alone with ``python -m bench.statistics``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy import make_url

from bench import Figure
from bench.store_jobs import HISTORY_JOBS, POSTGRES_URL_VARIABLE, PRINTERS, _load_postgres, scratch_postgres
from printfleet.domain.statistics import StatsRange
from printfleet.services.statistics import StatisticsService
from printfleet.store.database import Database
from printfleet.store.statistics import SqlStatisticsRepository

TARGET_MS = 500.0
WARM_UP = 2
SAMPLES = 5
TIME_ZONE = "Europe/Berlin"
DEFAULT_RANGE = "last 30 days (the page's default)"


async def _load_printers_and_transitions(url: str) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            """
            INSERT INTO printers (id, name, kind, tls_insecure, queue_mode, source, created_at, updated_at)
            SELECT DISTINCT printer_id, printer_id, 'bambu', false, 'members', 'api', now(), now() FROM jobs
            """
        )
        await connection.execute(
            """
            INSERT INTO printer_state_transitions (printer_id, from_state, to_state, at)
            SELECT printer_id, 'idle', 'printing', start_time FROM jobs
            UNION ALL
            SELECT printer_id, 'printing', 'idle', end_time FROM jobs
            """
        )
        await connection.execute("ANALYZE printers")
        await connection.execute("ANALYZE printer_state_transitions")
    finally:
        await connection.close()


async def _time(url: str) -> dict[str, tuple[list[float], int]]:
    timings: dict[str, tuple[list[float], int]] = {}
    today = datetime.now(UTC).date()
    ranges = {
        DEFAULT_RANGE: StatsRange.of(today - timedelta(days=29), today, TIME_ZONE),
        "whole history (350 days)": StatsRange.of(today - timedelta(days=349), today, TIME_ZONE),
    }
    async with Database(url) as database:
        service = StatisticsService(SqlStatisticsRepository(database))
        for name, asked in ranges.items():
            runs: list[float] = []
            prints = 0
            for n in range(WARM_UP + SAMPLES):
                started = time.perf_counter()
                figures = await service.figures(asked)
                elapsed = (time.perf_counter() - started) * 1000
                prints = figures.counts.total
                if len(figures.printers) != PRINTERS:
                    raise RuntimeError(f"{name}: {len(figures.printers)} printers in the figures")
                if n >= WARM_UP:
                    runs.append(elapsed)
            timings[name] = (runs, prints)
    return timings


async def _postgres(server_url: str) -> list[Figure]:
    async with scratch_postgres(server_url) as url:
        started = time.perf_counter()
        await _load_postgres(url)
        await _load_printers_and_transitions(url)
        loaded = time.perf_counter() - started
        timings = await _time(url)
    figures = [
        Figure(
            name="statistics (postgresql) bulk load",
            measured=f"{HISTORY_JOBS:,} jobs and {2 * HISTORY_JOBS:,} state transitions in {loaded:.1f} s",
        )
    ]
    for label, (runs, prints) in timings.items():
        judged = label == DEFAULT_RANGE
        figures.append(
            Figure(
                name=f"statistics figures, {label}",
                measured=(
                    f"median {statistics.median(runs):.0f} ms, max {max(runs):.0f} ms ({prints:,} prints, "
                    f"{PRINTERS:,} printers)"
                ),
                target=f"≤ {TARGET_MS:g} ms" if judged else "",
                passed=max(runs) <= TARGET_MS if judged else None,
            )
        )
    return figures


def run() -> list[Figure]:
    """The figures: bulk load (context), the default range and the whole history against the target."""
    server_url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not server_url:
        return [Figure(name="statistics (postgresql)", measured=f"skipped: {POSTGRES_URL_VARIABLE} is not set")]
    return asyncio.run(_postgres(server_url))


if __name__ == "__main__":
    for figure in run():
        print(figure)
