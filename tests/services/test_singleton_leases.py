"""Singleton roles on a real PostgreSQL: one holder at a time; a holder that stops lets go at once; one that hangs
past its lease is replaced under a higher epoch and, on waking, finds its role gone and leaves it; a stale epoch
cannot renew."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from printfleet.domain.leases import Hold
from printfleet.services.errors import StoreUnavailable
from printfleet.services.leases import Singleton
from printfleet.store.database import Database
from printfleet.store.leases import SqlLeaseRepository

pytestmark = pytest.mark.postgres

TTL = 1.2


class Role:
    """Records when it runs."""

    def __init__(self) -> None:
        self.running = False
        self.starts = 0
        self.stopped_at: datetime | None = None

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        self.running = True
        self.starts += 1
        try:
            yield
        finally:
            self.running = False
            self.stopped_at = datetime.now(UTC)


async def wait_until(check: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    assert callable(check)
    while not check():
        assert loop.time() < deadline, "condition never held"
        await asyncio.sleep(0.05)


@pytest.fixture
async def leases(empty_postgres_url: str) -> AsyncIterator[SqlLeaseRepository]:
    async with Database(empty_postgres_url) as database:
        yield SqlLeaseRepository(database)


async def test_one_holder_at_a_time_and_a_stopping_holder_hands_over_at_once(leases: SqlLeaseRepository) -> None:
    first, second = Role(), Role()
    one = Singleton("test.role", store=leases, owner="a", start=first.run, ttl_s=TTL, retry_s=0.1)
    two = Singleton("test.role", store=leases, owner="b", start=second.run, ttl_s=TTL, retry_s=0.1)
    async with one:
        await wait_until(lambda: first.running)
        async with two:
            for _ in range(30):  # three lease lifetimes: never both
                assert not (first.running and second.running)
                await asyncio.sleep(0.1)
            assert not second.running
            loop = asyncio.get_running_loop()
            stopped = loop.time()
            await one.__aexit__(None, None, None)
            await wait_until(lambda: second.running)
            assert loop.time() - stopped < TTL  # released, not waited out
            assert two.hold is not None
            assert one.hold is None
            assert first.running is False


async def test_a_hung_holder_is_replaced_under_a_new_epoch_and_cannot_renew(leases: SqlLeaseRepository) -> None:
    held = await leases.acquire("test.role", "hung", TTL)
    assert held is not None
    assert await leases.acquire("test.role", "other", TTL) is None  # live: refused
    await asyncio.sleep(TTL + 0.2)  # the holder hangs past its lease
    taken = await leases.acquire("test.role", "other", TTL)
    assert taken is not None
    assert taken.epoch == held.epoch + 1
    assert await leases.renew(held, TTL) is None  # the stale epoch is refused
    renewed = await leases.renew(taken, TTL)
    assert renewed is not None
    assert renewed.expires_at > taken.expires_at
    [(current, live)] = await leases.holders()
    assert (current.owner, current.epoch, live) == ("other", taken.epoch, True)


class Stalling:
    """A lease store that can stall (every call waits while ``paused``: the process or its link hangs) or fail
    (the store down)."""

    def __init__(self, store: SqlLeaseRepository) -> None:
        self._store = store
        self.failing = False
        self.running = asyncio.Event()
        self.running.set()

    async def _gate(self) -> None:
        await self.running.wait()
        if self.failing:
            raise StoreUnavailable("OperationalError", "the database is down")

    async def acquire(self, name: str, owner: str, ttl_s: float) -> Hold | None:
        await self._gate()
        return await self._store.acquire(name, owner, ttl_s)

    async def renew(self, hold: Hold, ttl_s: float) -> Hold | None:
        await self._gate()
        return await self._store.renew(hold, ttl_s)

    async def release(self, hold: Hold) -> None:
        await self._store.release(hold)


async def test_a_holder_whose_store_stalls_leaves_its_role_and_does_not_take_it_back(
    leases: SqlLeaseRepository,
) -> None:
    role, next_role = Role(), Role()
    store = Stalling(leases)
    stalled = Singleton("test.role", store=store, owner="stalled", start=role.run, ttl_s=TTL, retry_s=0.1)
    successor = Singleton("test.role", store=leases, owner="successor", start=next_role.run, ttl_s=TTL, retry_s=0.1)
    async with stalled:
        await wait_until(lambda: role.running)
        first = stalled.hold
        assert first is not None
        store.running.clear()  # its renewals hang: it must leave the role before its lease ends
        await wait_until(lambda: not role.running, timeout=TTL)
        [(last, _)] = await leases.holders()
        assert last.owner == "stalled"
        assert role.stopped_at is not None
        assert role.stopped_at < last.expires_at  # left while its lease was live: nobody else could start yet
        async with successor:
            await wait_until(lambda: next_role.running, timeout=TTL * 3)
            assert successor.hold is not None
            assert successor.hold.epoch > first.epoch
            store.running.set()  # the link is back: the live successor keeps the role
            await asyncio.sleep(TTL)
            assert not role.running
            assert next_role.running
    assert role.starts == 1


async def test_a_holder_that_cannot_reach_the_store_leaves_its_role_before_the_lease_ends(
    leases: SqlLeaseRepository,
) -> None:
    role = Role()
    store = Stalling(leases)
    holder = Singleton("test.role", store=store, owner="cut-off", start=role.run, ttl_s=TTL, retry_s=30.0)
    async with holder:
        await wait_until(lambda: role.running)
        assert holder.hold is not None
        store.failing = True
        await wait_until(lambda: not role.running, timeout=TTL * 2)
        [(last, _)] = await leases.holders()
        assert role.stopped_at is not None
        assert role.stopped_at < last.expires_at  # fenced while its lease was live: nobody else could start yet
        assert role.starts == 1


async def test_a_role_that_fails_to_start_lets_the_lease_go_and_is_taken_up_again(leases: SqlLeaseRepository) -> None:
    attempts = []
    role = Role()

    @contextlib.asynccontextmanager
    async def flaky() -> AsyncIterator[None]:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("the role could not start")
        async with role.run():
            yield

    singleton = Singleton("test.role", store=leases, owner="flaky", start=flaky, ttl_s=TTL, retry_s=0.2)
    async with singleton:
        await wait_until(lambda: role.running, timeout=5)
        assert len(attempts) == 2
        [(current, live)] = await leases.holders()
        assert (current.owner, live) == ("flaky", True)
        assert current.epoch == 2  # let go after the failure, taken again


async def test_a_holder_whose_store_fails_fast_then_hangs_still_leaves_before_the_lease_ends(
    leases: SqlLeaseRepository,
) -> None:
    """One renewal refused at once, the next one hanging: the second may wait only until the fencing point, not a
    whole third of the lease past it (it used to, and left its role after the lease had ended)."""
    role = Role()
    store = Stalling(leases)
    holder = Singleton("test.role", store=store, owner="flaky", start=role.run, ttl_s=TTL, retry_s=30.0)
    async with holder:
        await wait_until(lambda: role.running)
        store.failing = True  # the next renewal fails at once ...
        await asyncio.sleep(TTL / 3 + 0.1)
        store.failing = False
        store.running.clear()  # ... and the one after it hangs
        await wait_until(lambda: not role.running, timeout=TTL * 2)
        [(last, _)] = await leases.holders()
        assert role.stopped_at is not None
        assert role.stopped_at < last.expires_at  # fenced while its lease was live
        store.running.set()
