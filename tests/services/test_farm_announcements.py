"""Announcements between two processes' services on a real PostgreSQL (LISTEN/NOTIFY): a change made in one is
re-read in the other within a second, never echoed back to its sender, coalesced into few payloads; a malformed
payload is counted and skipped; a listener that lost its connection reconnects and re-reads everything."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import pytest
from sqlalchemy import text

from printfleet.domain.announcements import Hint, HintKind
from printfleet.domain.events import QueueUpdated, SettingsUpdated
from printfleet.services.events import EventBus
from printfleet.services.farm.announcements import FarmAnnouncements
from printfleet.store.announcements import CHANNEL, PgAnnouncementChannel
from printfleet.store.database import Database

pytestmark = pytest.mark.postgres


@dataclass
class Counts:
    payloads: int = 0
    hints: int = 0
    malformed: int = 0
    reconnects: int = 0

    def announcements_sent(self, payloads: int, hints: int) -> None:
        self.payloads += payloads
        self.hints += hints

    def announcement_received(self, kind: str) -> None:
        pass

    def announcement_malformed(self) -> None:
        self.malformed += 1

    def listener_reconnected(self) -> None:
        self.reconnects += 1

    def notify_queue_usage(self, fraction: float) -> None:
        pass


@dataclass
class Process:
    """One process's side: its bus, what its loaders were asked to re-read, how often it re-read everything."""

    name: str
    bus: EventBus = field(default_factory=EventBus)
    loaded: list[tuple[HintKind, str]] = field(default_factory=list)
    resyncs: int = 0
    counts: Counts = field(default_factory=Counts)
    announcements: FarmAnnouncements | None = None

    def keys(self, kind: HintKind) -> list[str]:
        return [key for loaded_kind, key in self.loaded if loaded_kind is kind]

    async def resync(self) -> None:
        self.resyncs += 1


async def wait_until(check: object, timeout: float = 5.0) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert callable(check)
    while not check():
        assert loop.time() - started < timeout, "condition never held"
        await asyncio.sleep(0.01)
    return loop.time() - started


@contextlib.asynccontextmanager
async def running(database: Database, process: Process) -> AsyncIterator[FarmAnnouncements]:
    def loader(kind: HintKind):  # type: ignore[no-untyped-def]
        async def load(keys: Sequence[str]) -> None:
            process.loaded.extend((kind, key) for key in keys)

        return load

    announcements = FarmAnnouncements(
        channel=PgAnnouncementChannel(database, watch_interval_s=0.2, watch_timeout_s=1.0, retry_initial_s=0.1),
        bus=process.bus,
        sender=process.name,
        loaders={kind: loader(kind) for kind in HintKind},
        resync=process.resync,
        metrics=process.counts,
    )
    async with announcements:
        process.announcements = announcements
        yield announcements


@pytest.fixture
async def database(empty_postgres_url: str) -> AsyncIterator[Database]:
    async with Database(empty_postgres_url) as database:
        yield database


async def listening(database: Database, count: int) -> None:
    """Wait until ``count`` listener connections have said LISTEN."""

    async def listeners() -> int:
        async with database.transaction() as session:
            query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'printfleet-listener'"
            return int((await session.execute(text(query))).scalar_one())

    for _ in range(200):
        if await listeners() >= count:
            await asyncio.sleep(0.1)  # LISTEN follows the connection by a round trip
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the listeners never connected")


async def test_a_change_in_one_process_is_re_read_in_the_other_and_not_echoed(database: Database) -> None:
    a, b = Process("a"), Process("b")
    async with running(database, a), running(database, b):
        await listening(database, 2)

        a.bus.publish(SettingsUpdated(settings={"auto_create": False}))
        a.bus.publish(QueueUpdated(reason="paused"))
        assert a.announcements is not None
        a.announcements.announce(Hint(HintKind.PRINTER, "x1c-2"))

        seconds = await wait_until(lambda: len(b.loaded) == 3)
        assert seconds < 1.0
        assert set(b.loaded) == {(HintKind.QUEUE, ""), (HintKind.SETTINGS, ""), (HintKind.PRINTER, "x1c-2")}
        await asyncio.sleep(0.3)
        assert a.loaded == []  # its own announcement is not re-read by the sender


async def test_remote_events_reach_only_the_subscribers_that_show_them(database: Database) -> None:
    a = Process("a")
    pages = a.bus.subscribe(remote=True)
    actor = a.bus.subscribe()
    async with running(database, a):
        a.bus.publish(SettingsUpdated(settings={"x": 1}), remote=True)  # another process's change, re-read here
        await asyncio.sleep(0.5)
        assert pages.pending() == 1
        assert actor.pending() == 0
        assert a.counts.hints == 0  # and it is not announced back to the farm


async def test_a_burst_of_changes_goes_out_in_few_payloads(database: Database) -> None:
    a, b = Process("a"), Process("b")
    async with running(database, a), running(database, b):
        await listening(database, 2)
        assert a.announcements is not None
        for job_id in range(2_000):
            a.announcements.announce(Hint(HintKind.JOB, str(job_id % 1_000)))  # each job twice
            if job_id % 100 == 0:
                await asyncio.sleep(0)

        await wait_until(lambda: len(set(b.keys(HintKind.JOB))) == 1_000)
        assert a.counts.hints < 1_100  # a job changed again after its hint went out is announced again
        assert a.counts.payloads < 20


async def test_a_malformed_payload_is_counted_and_the_next_one_still_read(database: Database) -> None:
    a, b = Process("a"), Process("b")
    async with running(database, a), running(database, b):
        await listening(database, 2)
        async with database.transaction() as session:
            await session.execute(text("SELECT pg_notify(:c, '{broken')"), {"c": CHANNEL})
        assert a.announcements is not None
        a.announcements.announce(Hint(HintKind.ORDER, "4"))

        await wait_until(lambda: b.keys(HintKind.ORDER) == ["4"])
        assert b.counts.malformed == 1


async def test_a_listener_that_lost_its_connection_reconnects_and_re_reads_everything(database: Database) -> None:
    a, b = Process("a"), Process("b")
    async with running(database, a), running(database, b):
        await listening(database, 2)
        async with database.transaction() as session:
            killed = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"
            await session.execute(text(killed), {"name": "printfleet-listener"})

        await wait_until(lambda: b.resyncs == 1 and a.resyncs == 1)
        assert b.counts.reconnects == 1
        await listening(database, 2)
        assert a.announcements is not None
        a.announcements.announce(Hint(HintKind.JOB, "9"))
        await wait_until(lambda: b.keys(HintKind.JOB) == ["9"])
