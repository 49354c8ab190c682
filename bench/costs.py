"""Costs report: ``GET /api/v1/reports/costs``'s query over 1,000,000 ended jobs on PostgreSQL (target ≤ 500 ms).

What is measured: :meth:`~printfleet.store.materials.usage.SqlUsageRepository.report`, the query behind the report
and the Costs page, for each grouping (printer, material, business flag, outcome, week) over the whole history (the
worst case: every row aggregated), through a :class:`~printfleet.store.database.Database` as in the server.

The store: a database ``printfleet_bench_<hex>`` created beside the one in ``PRINTFLEET_TEST_POSTGRES_URL``,
migrated, loaded with ``bench.store_jobs``'s 1,000,000 ended jobs over 1,000 printers (``COPY``), then one cost
snapshot per job (``COPY``; materials from a handful of mixes, 10 % business, the jobs' own outcomes), ``ANALYZE``.
Each grouping runs 2 times to warm up, then 5 timed times; the figure is the slowest grouping's median and max.

Run alone with ``python -m bench.costs``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import make_url

from bench import Figure
from bench.store_jobs import BATCH_ROWS, HISTORY_JOBS, POSTGRES_URL_VARIABLE, _load_postgres, scratch_postgres
from printfleet.domain.materials.costs import CostGrouping, week_of
from printfleet.store.database import Database
from printfleet.store.materials.usage import SqlUsageRepository

TARGET_MS = 500.0
WARM_UP = 2
SAMPLES = 5
_MIXES = ("PLA", "PLA", "PLA", "PETG", "PETG+PLA", "ABS", "PLA+TPU")
_OUTCOMES = (*(["completed"] * 17), "failed", "cancelled", "unknown")  # as bench.store_jobs ends its jobs
_COLUMNS = (
    "job_id",
    "printer_id",
    "ended_at",
    "outcome",
    "currency",
    "material_grams",
    "material_cost",
    "printing_hours",
    "energy_kwh",
    "energy_cost",
    "machine_cost",
    "total_cost",
    "materials",
    "is_business",
    "deleted",
    "week",
    "computed_at",
)


def _costs(ids: list[int], ended: dict[int, tuple[str, datetime]], first: int, count: int) -> Iterator[tuple[Any, ...]]:
    for n in range(first, first + count):
        job_id = ids[n]
        printer_id, ended_at = ended[job_id]
        grams = 5.0 + n * 7 % 300
        hours = 0.2 + n * 13 % 40 / 4
        material = round(grams * 0.022, 4)
        energy_kwh = round(0.15 * hours, 4)
        energy = round(energy_kwh * 0.3, 4)
        machine = round(hours * 1.5, 4)
        yield (
            job_id,
            printer_id,
            ended_at,
            _OUTCOMES[n % len(_OUTCOMES)],
            "EUR",
            grams,
            material,
            hours,
            energy_kwh,
            energy,
            machine,
            round(material + energy + machine, 4),
            _MIXES[n % len(_MIXES)],
            n % 10 == 0,
            False,
            week_of(ended_at),
            ended_at,
        )


async def _load_costs(url: str) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT id, printer_id, end_time FROM jobs ORDER BY id")
        ended = {row["id"]: (row["printer_id"], row["end_time"]) for row in rows}
        ids = list(ended)
        for first in range(0, len(ids), BATCH_ROWS):
            count = min(BATCH_ROWS, len(ids) - first)
            await connection.copy_records_to_table(
                "job_costs", records=list(_costs(ids, ended, first, count)), columns=list(_COLUMNS)
            )
        await connection.execute("ANALYZE job_costs")
    finally:
        await connection.close()


async def _time(url: str) -> dict[CostGrouping, list[float]]:
    timings: dict[CostGrouping, list[float]] = {}
    async with Database(url) as database:
        repository = SqlUsageRepository(database)
        until = datetime.now(UTC) + timedelta(days=1)
        since = until - timedelta(days=3650)
        for grouping in CostGrouping:
            runs: list[float] = []
            for n in range(WARM_UP + SAMPLES):
                started = time.perf_counter()
                rows = await repository.report(since=since, until=until, grouping=grouping, currency="EUR")
                elapsed = (time.perf_counter() - started) * 1000
                if sum(row.jobs for row in rows) != HISTORY_JOBS:
                    raise RuntimeError(f"the report by {grouping.value} counted {sum(r.jobs for r in rows)} jobs")
                if n >= WARM_UP:
                    runs.append(elapsed)
            timings[grouping] = runs
    return timings


def _runs(runs: list[float]) -> str:
    return ", ".join(f"{run:.0f}" for run in runs)


async def _postgres(server_url: str) -> list[Figure]:
    async with scratch_postgres(server_url) as url:
        started = time.perf_counter()
        await _load_postgres(url)
        await _load_costs(url)
        loaded = time.perf_counter() - started
        timings = await _time(url)
    figures = [
        Figure(name="costs report (postgresql) bulk load", measured=f"{HISTORY_JOBS:,} costed jobs in {loaded:.1f} s")
    ]
    for grouping, runs in timings.items():
        figures.append(
            Figure(
                name=f"costs report by {grouping.value} (postgresql)",
                measured=f"median {statistics.median(runs):.0f} ms, max {max(runs):.0f} ms ({_runs(runs)})",
            )
        )
    worst = max(timings.values(), key=max)
    figures.append(
        Figure(
            name=f"costs report, slowest grouping ({HISTORY_JOBS:,} jobs)",
            measured=f"median {statistics.median(worst):.0f} ms, max {max(worst):.0f} ms",
            target=f"≤ {TARGET_MS:g} ms",
            passed=max(worst) <= TARGET_MS,
        )
    )
    return figures


def run() -> list[Figure]:
    """The figures: bulk load (context), each grouping (context), the slowest grouping against the target."""
    server_url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not server_url:
        return [Figure(name="costs report (postgresql)", measured=f"skipped: {POSTGRES_URL_VARIABLE} is not set")]
    return asyncio.run(_postgres(server_url))


if __name__ == "__main__":
    for figure in run():
        print(figure)
