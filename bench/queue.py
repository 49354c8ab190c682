"""Queue service: ``join`` and ``claim`` p99 with 10,000 entries queued, and how late a claim deadline acts.

The issue's targets: ``join`` and ``claim`` ≤ 20 ms p99 service time with 10,000 entries queued; a deadline acts
within 1 s of its time.

The set-up, as in the server: a :class:`~printfleet.services.queue.QueueService` on a freshly migrated database
(SQLite: a file in a temporary directory; PostgreSQL: a database ``printfleet_bench_<hex>`` created beside the one
in ``PRINTFLEET_TEST_POSTGRES_URL`` and dropped afterwards) through :class:`SqlQueueRepository` and
:class:`SqlJobRepository`, an :class:`EventBus` with one subscriber, and 20 Bambu Lab printers, all printing with a
remaining time reported (so every ETA has printers to simulate and nothing is offered while the queue fills). The
rate limit is the interfaces' business (``check_rate``) and is not called. The deadline scheduler runs
(``async with service``) throughout.

1. Fill: 10,000 waiting entries of distinct users (every tenth limited to one to three printers), bulk-inserted
   with their ``joined`` history records, then loaded by the service's start-up (``reload``).
2. ``join``: 300 more users join, one at a time; each call is timed from the call to its return. Between calls the
   benchmark yields for 2 ms, so the scheduler's round after each commit runs between the calls (as it does when
   users join seconds apart) and not inside the next one.
3. ``claim``: the printers go round the queue's cycle, one printer at a time: its print finishes (the entry
   printing on it is done, the printer is offered to the first waiting entry), the offered user claims it (timed),
   the print starts (linked to the entry). 10 rounds of the 20 printers: 200 claims.
4. Deadline lateness: a second service on the same store with a 1 s claim window; the printers become ready 50 ms
   apart, nobody claims, and each offer expires (the printer goes to the next entry, whose offer expires in turn).
   For each ``claim_expired`` event the subscriber records how long after the entry's claim deadline it arrived;
   the first 40 are kept.

Percentiles by the nearest-rank method (:func:`bench.percentile`). Run alone with ``python -m bench.queue``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, make_url, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bench import Figure, percentile
from printfleet.domain.events import ClaimExpired, ClaimOffered
from printfleet.domain.printer import PrinterConfig, PrinterKind, PrinterState, PrinterStatus, Secret
from printfleet.domain.queue import EntryStatus, QueuePolicy
from printfleet.domain.queue_commands import RateLimit
from printfleet.services.events import EventBus, Subscription
from printfleet.services.queue import QueueService
from printfleet.store.database import Database, migrate
from printfleet.store.jobs import SqlJobRepository
from printfleet.store.queue import SqlQueueRepository
from printfleet.store.tables import QueueEntryRow, QueueHistoryRow

__all__ = ["DEADLINE_TARGET_S", "TARGET_MS", "Sizes", "measure", "run"]

TARGET_MS = 20.0
"""p99 service time of ``join`` and of ``claim``, milliseconds."""
DEADLINE_TARGET_S = 1.0
"""Longest delay from a claim deadline to its ``claim_expired`` event, seconds."""
POSTGRES_URL_VARIABLE = "PRINTFLEET_TEST_POSTGRES_URL"
GAP_S = 0.002
"""The pause between two timed calls (the scheduler's round after a commit runs in it)."""
READY_STAGGER_S = 0.05
"""The printers become ready this far apart in the deadline phase, so the deadlines do not all fall together."""
_REMAINING_S = 3 * 3600


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much to do: entries queued before measuring, timed joins, timed claims (a multiple of ``printers`` is
    best), ``claim_expired`` events kept, printers."""

    queued: int = 10_000
    joins: int = 300
    claims: int = 200
    expiries: int = 40
    printers: int = 20


@dataclass(slots=True)
class _Results:
    joins: list[float] = field(default_factory=list)
    cold_joins: list[float] = field(default_factory=list)
    claims: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    rounds: list[float] = field(default_factory=list)
    fill_s: float = 0.0
    load_s: float = 0.0


class _Farm:
    """The printers the queue sees (``QueueService(printers=...)``): configs and their latest status."""

    def __init__(self, count: int) -> None:
        self.configs = [
            PrinterConfig(
                id=f"bench-{n:02}",
                name=f"Bench {n:02}",
                kind=PrinterKind.BAMBU,
                host="127.0.0.1",
                serial=f"01S00BENCH{n:04}",
                access_code=Secret("12345678"),
            )
            for n in range(count)
        ]
        self.status = {config.id: _printing() for config in self.configs}

    def watched(self) -> list[tuple[PrinterConfig, PrinterStatus]]:
        return [(config, self.status[config.id]) for config in self.configs]

    async def change(self, service: QueueService, config: PrinterConfig, current: PrinterStatus) -> None:
        """What the monitoring service does on a state change: store the status, then call the listener."""
        previous = self.status[config.id]
        self.status[config.id] = current
        await service.on_printer_change(config, previous, current)


def _printing() -> PrinterStatus:
    return PrinterStatus(
        state=PrinterState.PRINTING,
        raw_state="RUNNING",
        file_name="bench.gcode.3mf",
        progress=10.0,
        remaining_seconds=_REMAINING_S,
        print_start_time=datetime.now(UTC) - timedelta(minutes=20),
    )


def _state(state: PrinterState) -> PrinterStatus:
    return PrinterStatus(state=state, raw_state=state.value.upper())


def _limits(index: int, printer_ids: list[str]) -> list[str]:
    """Every tenth entry may use one to three printers only; the others any."""
    if index % 10:
        return []
    count = 1 + index // 10 % 3
    return sorted({printer_ids[(index * 7 + k) % len(printer_ids)] for k in range(count)})


async def _fill(database: Database, count: int, printer_ids: list[str]) -> None:
    """``count`` waiting entries of distinct users, with their ``joined`` records, in one transaction."""
    start = datetime.now(UTC) - timedelta(seconds=count)
    rows = [
        {
            "user_id": f"user-{n:05}",
            "user_name": f"User {n}",
            "job_name": f"part {n % 500}",
            "estimate_seconds": 1800 + n * 7919 % 5 * 1800,
            "printer_ids": _limits(n, printer_ids),
            "queue_key": n + 1,
            "status": EntryStatus.WAITING.value,
            "created_at": start + timedelta(seconds=n),
            "queued_at": start + timedelta(seconds=n),
            "missed_offers": 0,
            "updated_at": start + timedelta(seconds=n),
        }
        for n in range(count)
    ]
    async with database.transaction() as session:
        await session.execute(insert(QueueEntryRow), rows)
        ids = (await session.scalars(select(QueueEntryRow.id).order_by(QueueEntryRow.id))).all()
        history = [
            {"kind": "joined", "at": row["created_at"], "entry_id": entry_id, "user_id": row["user_id"]}
            for entry_id, row in zip(ids, rows, strict=True)
        ]
        await session.execute(insert(QueueHistoryRow), history)


def _service(database: Database, bus: EventBus, farm: _Farm, policy: QueuePolicy) -> QueueService:
    return QueueService(
        repository=SqlQueueRepository(database),
        jobs=SqlJobRepository(database),
        bus=bus,
        printers=farm.watched,
        policy=policy,
        rate_limit=RateLimit(capacity=10**9),
    )


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


async def _joins(service: QueueService, count: int, results: _Results, *, cold: bool = False) -> None:
    """``count`` timed joins. ``cold``: each right after a queue change, as the first join after an offer, a claim
    or a printer's state change is (the service then simulates the whole queue again for the new entry's wait)."""
    first = len(results.joins) + len(results.cold_joins)
    for n in range(first, first + count):
        if cold:
            service._tail = None  # what any change of the queue or of a printer's state does
        started = time.perf_counter()
        joined = await service.join(
            user_id=f"joiner-{n:04}", user_name=f"Joiner {n}", job_name=f"bracket v{n}", estimate=timedelta(hours=2)
        )
        (results.cold_joins if cold else results.joins).append(_ms(started))
        if not joined.created or joined.entry.status is not EntryStatus.WAITING:
            raise RuntimeError(f"join {n} gave {joined!r}: nothing should be offered while every printer prints")
        await asyncio.sleep(GAP_S)


async def _next_offer(subscription: Subscription, printer_id: str) -> ClaimOffered:
    while True:
        event = await asyncio.wait_for(subscription.get(), 10.0)
        if isinstance(event, ClaimOffered) and event.entry.printer_id == printer_id:
            return event


async def _claims(
    service: QueueService, farm: _Farm, subscription: Subscription, count: int, results: _Results
) -> None:
    """Printer by printer: the print ends (offered to the next entry), the offer is claimed (timed), a print starts."""
    for n in range(count):
        config = farm.configs[n % len(farm.configs)]
        await farm.change(service, config, _state(PrinterState.FINISHED))
        offer = await _next_offer(subscription, config.id)
        started = time.perf_counter()
        claimed = await service.claim(user_id=offer.entry.user_id)
        results.claims.append(_ms(started))
        if claimed.status is not EntryStatus.CLAIMED or claimed.printer_id != config.id:
            raise RuntimeError(f"claim {n} gave {claimed!r}")
        await asyncio.sleep(GAP_S)
        await farm.change(service, config, _printing())


async def _rounds(service: QueueService, count: int, results: _Results) -> None:
    """The scheduler's round with nothing due (what every commit costs the event loop besides the call itself)."""
    for _ in range(count):
        started = time.perf_counter()
        await service.run_due()
        results.rounds.append(_ms(started))


async def _lateness(
    database: Database, farm: _Farm, expiries: int, results: _Results, *, timeout_s: float = 60.0
) -> None:
    """Printers become ready one after another with a 1 s claim window; nobody claims. Lateness of each expiry."""
    bus = EventBus()
    subscription = bus.subscribe(maxsize=100_000)
    service = _service(database, bus, farm, QueuePolicy(claim_window=timedelta(seconds=1), max_missed_offers=None))
    deadlines: dict[tuple[int, str], datetime] = {}

    async def collect() -> None:
        while len(results.lags) < expiries:
            event = await subscription.get()
            arrived = datetime.now(UTC)
            if isinstance(event, ClaimOffered):
                assert event.entry.deadline is not None
                assert event.entry.printer_id is not None
                deadlines[event.entry.id, event.entry.printer_id] = event.entry.deadline
            elif isinstance(event, ClaimExpired):
                deadline = deadlines.pop((event.entry.id, event.printer_id))
                results.lags.append((arrived - deadline).total_seconds() * 1000)

    async with service:
        collector = asyncio.create_task(collect())
        try:
            for config in farm.configs:
                await farm.change(service, config, _state(PrinterState.IDLE))
                await asyncio.sleep(READY_STAGGER_S)
            await asyncio.wait_for(collector, timeout_s)
        finally:
            collector.cancel()
            subscription.close()


async def _measure_on(url: str, sizes: Sizes) -> _Results:
    results = _Results()
    farm = _Farm(sizes.printers)
    async with Database(url) as database:
        started = time.perf_counter()
        await _fill(database, sizes.queued, [config.id for config in farm.configs])
        results.fill_s = time.perf_counter() - started
        bus = EventBus()
        subscription = bus.subscribe(maxsize=100_000)
        service = _service(database, bus, farm, QueuePolicy())
        started = time.perf_counter()
        async with service:
            results.load_s = time.perf_counter() - started
            if len(service.view().waiting) != sizes.queued:
                raise RuntimeError(f"{len(service.view().waiting)} entries waiting, not {sizes.queued}")
            await _joins(service, sizes.joins, results)
            await _joins(service, max(1, sizes.joins // 10), results, cold=True)
            await _claims(service, farm, subscription, sizes.claims, results)
            await _rounds(service, 20, results)
        subscription.close()
        await _lateness(database, farm, sizes.expiries, results)
    return results


def _figures(dialect: str, sizes: Sizes, results: _Results) -> list[Figure]:
    join_p50, join_p99 = percentile(results.joins, 0.50), percentile(results.joins, 0.99)
    claim_p50, claim_p99 = percentile(results.claims, 0.50), percentile(results.claims, 0.99)
    lag_p50, lag_max = percentile(results.lags, 0.50), max(results.lags, default=float("nan"))
    queued = f"{sizes.queued:,} queued"
    return [
        Figure(
            f"queue ({dialect}) fill",
            f"{sizes.queued:,} entries bulk-inserted in {results.fill_s:.1f} s, service start (load) "
            f"{results.load_s * 1000:.0f} ms",
        ),
        Figure(
            f"queue join ({dialect}, {queued})",
            f"p50 {join_p50:.1f} ms  p99 {join_p99:.1f} ms  ({len(results.joins)} joins)",
            f"p99 ≤ {TARGET_MS:g} ms",
            join_p99 <= TARGET_MS,
        ),
        Figure(
            f"  queue join right after a change ({dialect})",
            f"p50 {percentile(results.cold_joins, 0.50):.1f} ms  p99 {percentile(results.cold_joins, 0.99):.1f} ms  "
            f"({len(results.cold_joins)} joins; the wait is simulated over the whole queue)",
        ),
        Figure(
            f"queue claim ({dialect}, {queued})",
            f"p50 {claim_p50:.1f} ms  p99 {claim_p99:.1f} ms  ({len(results.claims)} claims)",
            f"p99 ≤ {TARGET_MS:g} ms",
            claim_p99 <= TARGET_MS,
        ),
        Figure(
            f"  queue ({dialect}) scheduler round, nothing due",
            f"p50 {percentile(results.rounds, 0.50):.1f} ms  max {max(results.rounds, default=float('nan')):.1f} ms",
        ),
        Figure(
            f"queue deadline → claim_expired ({dialect})",
            f"p50 {lag_p50:.0f} ms  max {lag_max:.0f} ms late  ({len(results.lags)} expiries)",
            f"max ≤ {DEADLINE_TARGET_S * 1000:.0f} ms",
            lag_max <= DEADLINE_TARGET_S * 1000,
        ),
    ]


async def _measure_sqlite(sizes: Sizes) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="printfleet-bench-") as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'queue.db'}"
        await migrate(url)
        return _figures("sqlite", sizes, await _measure_on(url, sizes))


async def _admin(server_url: str, statement: str) -> None:
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


async def _measure_postgres(server_url: str, sizes: Sizes) -> list[Figure]:
    name = f"printfleet_bench_{secrets.token_hex(6)}"
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        await migrate(url)
        return _figures("postgresql", sizes, await _measure_on(url, sizes))
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def measure(sizes: Sizes = Sizes(), *, dialects: Iterable[str] = ("sqlite", "postgresql")) -> list[Figure]:
    """The figures for each of ``dialects``; PostgreSQL only when ``PRINTFLEET_TEST_POSTGRES_URL`` is set."""
    figures: list[Figure] = []
    for dialect in dialects:
        if dialect == "sqlite":
            figures += await _measure_sqlite(sizes)
            continue
        server_url = os.environ.get(POSTGRES_URL_VARIABLE)
        if server_url:
            figures += await _measure_postgres(server_url, sizes)
        else:
            figures.append(Figure("queue (postgresql)", f"skipped: {POSTGRES_URL_VARIABLE} is not set"))
    return figures


def run() -> list[Figure]:
    """Measure at the issue's sizes, on SQLite and (when configured) PostgreSQL."""
    return asyncio.run(measure())


if __name__ == "__main__":
    from bench.__main__ import format_table
    from printfleet.observability.logging import configure_logging

    configure_logging(level="WARNING")
    print(format_table(run()))
