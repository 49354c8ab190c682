"""Jobs store: ``create_job`` and ``active_job`` p99 with 1,000,000 jobs in the store, on SQLite and PostgreSQL.

What is measured: the two calls the job service makes on every print start and every printer report, through
:class:`~printfleet.store.jobs.SqlJobRepository` on a :class:`~printfleet.store.database.Database` (each call one
transaction, as in the server): ``create_job`` of a running job, then ``active_job`` of its printer. After each
pair the job is ended (``update_job``, not timed) so the next create on that printer is allowed.

The store: a freshly migrated database (SQLite: a file in a temporary directory; PostgreSQL: a database
``printfleet_bench_<hex>`` created beside the one in ``PRINTFLEET_TEST_POSTGRES_URL`` and dropped afterwards),
bulk-loaded through the migrated schema, indexes in place, with 1,000,000 ended jobs (completed, failed, cancelled,
unknown) spread evenly over 1,000 printer ids, one every 30 s, so each printer has 1,000 jobs of history. SQLite is
loaded with ``executemany`` in batches of 50,000 rows; PostgreSQL with ``COPY`` (asyncpg), then ``ANALYZE`` as
autovacuum would do after such a load. The timed calls cycle over the same 1,000 printers: 20 warm-up pairs, then
1,000 timed pairs; p99 by the nearest-rank method.

Run alone with ``python -m bench.store_jobs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import make_url
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bench import Figure, percentile
from printfleet.domain.jobs import JobStatus, NewJob
from printfleet.store.database import Database, migrate
from printfleet.store.jobs import SqlJobRepository
from printfleet.store.types import UTCDateTime

__all__ = ["HISTORY_JOBS", "TARGET_MS", "figures", "run"]

HISTORY_JOBS = 1_000_000
PRINTERS = 1_000
BATCH_ROWS = 50_000
WARM_UP = 20
SAMPLES = 1_000
TARGET_MS = 5.0
"""p99 of each call, in milliseconds."""
POSTGRES_URL_VARIABLE = "PRINTFLEET_TEST_POSTGRES_URL"

_ENDED = (*(["completed"] * 17), "failed", "cancelled", "unknown")  # 85 % completed
_COLUMNS = (
    "printer_id",
    "printer_type",
    "job_name",
    "filename",
    "status",
    "progress",
    "created_at",
    "start_time",
    "end_time",
    "duration_seconds",
    "is_business",
    "customer_info",
    "file_id",
    "native_job_id",
    "end_reason",
    "notes",
    "auto_created",
    "discovered_on_startup",
    "printer_start_time",
    "elapsed_seconds",
    "deleted_at",
    "updated_at",
)
_SQLITE_INSERT = f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"  # noqa: S608


def _printer_id(index: int) -> str:
    return f"bench-{index % PRINTERS:04}"


def _history(start: datetime, first: int, count: int) -> Iterator[tuple[Any, ...]]:
    """Ended jobs ``first`` .. ``first + count - 1``, in ``_COLUMNS`` order, times as datetimes of ``start``'s zone."""
    for index in range(first, first + count):
        created = start + timedelta(seconds=30 * index)
        duration = 600 + index * 7919 % 20_000
        ended = created + timedelta(seconds=duration)
        status = _ENDED[index % len(_ENDED)]
        yield (
            _printer_id(index),
            "bambu",
            f"part {index % 5000}",
            f"part_{index % 5000}.gcode.3mf",
            status,
            100.0 if status == "completed" else 37.5,
            created,
            created,
            ended,
            duration,
            index % 10 == 0,
            "{}",
            None,
            str(index),
            "printer" if status != "unknown" else "not seen ending",
            None,
            index % 4 != 0,
            False,
            created,
            duration,
            None,
            ended,
        )


def _history_start() -> datetime:
    """The first historical job's creation: the history ends just before now, as in a farm's database."""
    return datetime.now(UTC).replace(microsecond=250_000) - timedelta(seconds=30 * HISTORY_JOBS)


def _sqlite_text(moment: datetime) -> str:
    """What :class:`UTCDateTime` stores on SQLite for a UTC datetime, without its per-value overhead."""
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


def _load_sqlite(path: Path) -> None:
    """Bulk-load the history into the migrated SQLite file, in batches, in one transaction."""
    start = _history_start()
    dialect = sqlite.dialect()
    reference = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    if reference is None or reference(start) != _sqlite_text(start):
        raise RuntimeError("the bulk load's datetime text no longer matches what UTCDateTime stores on SQLite")
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        # This connection only: no fsync and a 256 MiB page cache while loading; the timed calls use the app's own.
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-262144")
        connection.execute("BEGIN")
        for first in range(0, HISTORY_JOBS, BATCH_ROWS):
            connection.executemany(
                _SQLITE_INSERT,
                (
                    tuple(_sqlite_text(v) if isinstance(v, datetime) else v for v in row)
                    for row in _history(start, first, BATCH_ROWS)
                ),
            )
        connection.execute("COMMIT")
    finally:
        connection.close()


async def _load_postgres(url: str) -> None:
    """Bulk-load the history with ``COPY`` in batches, then ``ANALYZE``."""
    start = _history_start()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        for first in range(0, HISTORY_JOBS, BATCH_ROWS):
            await connection.copy_records_to_table(
                "jobs", records=list(_history(start, first, BATCH_ROWS)), columns=list(_COLUMNS)
            )
        await connection.execute("ANALYZE jobs")
    finally:
        await connection.close()


async def _time_calls(url: str) -> tuple[list[float], list[float]]:
    """Milliseconds of each timed ``create_job`` and ``active_job``."""
    creates: list[float] = []
    lookups: list[float] = []
    async with Database(url) as database:
        jobs = SqlJobRepository(database)
        for n in range(WARM_UP + SAMPLES):
            printer_id = _printer_id(n)
            now = datetime.now(UTC)
            new_job = NewJob(
                printer_id=printer_id,
                printer_type="bambu",
                job_name=f"bench {n}",
                filename=f"bench_{n}.gcode.3mf",
                status=JobStatus.RUNNING,
                created_at=now,
                start_time=now,
                auto_created=True,
            )
            started = time.perf_counter()
            job = await jobs.create_job(new_job)
            created = time.perf_counter()
            active = await jobs.active_job(printer_id)
            looked_up = time.perf_counter()
            if active is None or active.id != job.id:
                raise RuntimeError(f"active_job({printer_id!r}) returned {active!r}, not job {job.id}")
            await jobs.update_job(job.id, status=JobStatus.COMPLETED, end_time=datetime.now(UTC), progress=100.0)
            if n >= WARM_UP:
                creates.append((created - started) * 1000)
                lookups.append((looked_up - created) * 1000)
    return creates, lookups


def _figure(dialect: str, creates: list[float], lookups: list[float]) -> Figure:
    create_p99, lookup_p99 = percentile(creates, 0.99), percentile(lookups, 0.99)
    return Figure(
        name=f"jobs store ({dialect}, {HISTORY_JOBS:,} jobs)",
        measured=f"create p99 {create_p99:.1f} ms  active lookup p99 {lookup_p99:.1f} ms",
        target=f"≤ {TARGET_MS:g} ms",
        passed=create_p99 <= TARGET_MS and lookup_p99 <= TARGET_MS,
    )


def _load_figure(dialect: str, seconds: float) -> Figure:
    return Figure(
        name=f"jobs store ({dialect}) bulk load",
        measured=f"{HISTORY_JOBS:,} jobs over {PRINTERS:,} printers in {seconds:.1f} s",
    )


def _sqlite_figures() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="printfleet-bench-") as directory:
        path = Path(directory) / "jobs.db"
        url = f"sqlite+aiosqlite:///{path}"
        asyncio.run(migrate(url))
        started = time.perf_counter()
        _load_sqlite(path)
        loaded = time.perf_counter() - started
        creates, lookups = asyncio.run(_time_calls(url))
    return [_load_figure("sqlite", loaded), _figure("sqlite", creates, lookups)]


async def _admin(server_url: str, statement: str) -> None:
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def scratch_postgres(server_url: str) -> AsyncIterator[str]:
    """A migrated database ``printfleet_bench_<hex>`` beside the one in ``server_url``, its URL; dropped on exit."""
    name = f"printfleet_bench_{secrets.token_hex(6)}"
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        await migrate(url)
        yield url
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _postgres_figures(server_url: str) -> list[Figure]:
    async with scratch_postgres(server_url) as url:
        started = time.perf_counter()
        await _load_postgres(url)
        loaded = time.perf_counter() - started
        creates, lookups = await _time_calls(url)
    return [_load_figure("postgresql", loaded), _figure("postgresql", creates, lookups)]


def figures() -> list[Figure]:
    """The figures: bulk-load time (context) and the p99s against the target, SQLite then PostgreSQL."""
    result = _sqlite_figures()
    server_url = os.environ.get(POSTGRES_URL_VARIABLE)
    if server_url:
        result += asyncio.run(_postgres_figures(server_url))
    else:
        result.append(Figure(name="jobs store (postgresql)", measured=f"skipped: {POSTGRES_URL_VARIABLE} is not set"))
    return result


def _line(figure: Figure) -> str:
    return "  ".join(
        part
        for part in (figure.name, figure.measured, figure.target and f"target {figure.target}", figure.verdict)
        if part
    )


def run() -> list[str]:
    """Measure and return the printed lines, for example
    ``jobs store (sqlite, 1,000,000 jobs)  create p99 1.8 ms  active lookup p99 0.3 ms  target ≤ 5 ms  PASS``."""
    return [_line(figure) for figure in figures()]


if __name__ == "__main__":
    for line in run():
        print(line)
