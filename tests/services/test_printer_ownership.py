"""Printer ownership on a real PostgreSQL (research C1): processes share the printers with no printer ever owned
twice; a process killed without a word is replaced once its leases expire; a newcomer takes about its share and
nothing else moves; a paused owner's lease is taken under a higher epoch and its stale writes are refused; an owner
that cannot renew drops its printers before its leases can expire; one that stops lets go at once; statuses shared
by an owner are read back by the others, and a stale owner cannot overwrite them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Collection

import pytest
from sqlalchemy import text

from printfleet.domain.ownership import LeaseState
from printfleet.domain.printer import PrinterState, PrinterStatus
from printfleet.domain.status_wire import status_from_wire, status_to_wire
from printfleet.services.errors import StaleOwner, StoreUnavailable
from printfleet.services.farm.ownership import PrinterOwnership
from printfleet.store.database import Database
from printfleet.store.printer_leases import SqlPrinterLeaseRepository, check_fence

pytestmark = pytest.mark.postgres

TTL = 1.2
PRINTERS = [f"p{number:03d}" for number in range(120)]


@pytest.fixture
async def database(empty_postgres_url: str) -> AsyncIterator[Database]:
    async with Database(empty_postgres_url) as opened:
        async with opened.transaction() as session:
            for printer_id in PRINTERS:
                await session.execute(
                    text(
                        "INSERT INTO printers (id, name, kind, tls_insecure, source, created_at, updated_at)"
                        " VALUES (:id, :id, 'bambu', false, 'api', now(), now())"
                    ),
                    {"id": printer_id},
                )
        yield opened


class Changes:
    """What a process was told it gained and lost, in order."""

    def __init__(self) -> None:
        self.gained: list[frozenset[str]] = []
        self.lost: list[frozenset[str]] = []

    async def __call__(self, gained: frozenset[str], lost: frozenset[str]) -> None:
        self.gained.append(gained)
        self.lost.append(lost)


def process(database: Database, name: str, changes: Changes | None = None) -> PrinterOwnership:
    return PrinterOwnership(
        store=SqlPrinterLeaseRepository(database),
        owner=name,
        printers=lambda: PRINTERS,
        on_change=changes,
        ttl_s=TTL,
    )


async def rounds(*processes: PrinterOwnership, count: int = 3) -> None:
    """Each process runs ``count`` rounds, in turn, checking after every round that no printer has two owners."""
    for _ in range(count):
        for each in processes:
            await each.step()
            assert_no_printer_twice(processes)


def assert_no_printer_twice(processes: Collection[PrinterOwnership]) -> None:
    seen: dict[str, str] = {}
    for each in processes:
        for printer_id in each.owned:
            assert printer_id not in seen, f"{printer_id} owned by {seen[printer_id]} and {each.owner}"
            seen[printer_id] = each.owner


async def stored_owners(database: Database) -> dict[str, str | None]:
    leases = await SqlPrinterLeaseRepository(database).leases()
    return {printer_id: lease.owner if lease.live else None for printer_id, lease in leases.items()}


async def test_three_processes_share_the_printers_a_killed_one_is_replaced_and_a_newcomer_moves_little(
    database: Database,
) -> None:
    a, b, c = process(database, "a"), process(database, "b"), process(database, "c")
    await rounds(a, b, c)
    assert sum(len(each.owned) for each in (a, b, c)) == len(PRINTERS)
    # 40 each, give or take the hash: a process keeps every printer it wins, even one over its fair share
    assert all(30 <= len(each.owned) <= 50 for each in (a, b, c)), [len(each.owned) for each in (a, b, c)]
    assert await stored_owners(database) == {p: o.owner for o in (a, b, c) for p in o.owned}

    # c is killed: no release, no goodbye. Once its leases have expired the others own everything.
    of_c = set(c.owned)
    loop = asyncio.get_running_loop()
    killed_at = loop.time()
    while set().union(a.owned, b.owned) != set(PRINTERS):
        assert loop.time() - killed_at < TTL + 3 * TTL / 3 + 1, "c's printers were not taken over in time"
        await asyncio.sleep(TTL / 3)
        await rounds(a, b, count=1)
    assert of_c <= set().union(a.owned, b.owned)

    # d joins: it ends with about half (two live processes before, three now), and only printers it wins move
    before = {p: o.owner for o in (a, b) for p in o.owned}
    d = process(database, "d")
    await rounds(a, b, d, count=4)
    after = {p: o.owner for o in (a, b, d) for p in o.owned}
    assert set(after) == set(PRINTERS)
    moved = [p for p in PRINTERS if before[p] != after[p]]
    assert moved
    assert all(after[p] == "d" for p in moved), "only the newcomer's printers may move"
    assert 25 <= len(d.owned) <= 55


async def test_a_paused_owner_is_replaced_under_a_higher_epoch_and_its_stale_writes_are_refused(
    database: Database,
) -> None:
    told = Changes()
    a, b = process(database, "a", told), process(database, "b")
    await a.step()
    assert set(a.owned) == set(PRINTERS)  # alone: it claims every printer
    epoch = a.owned["p000"]
    repository = SqlPrinterLeaseRepository(database)
    await repository.fenced({"p000": epoch}, "a")  # the owner's write passes

    await asyncio.sleep(TTL + 0.2)  # a is "paused" past its leases; b, alone alive now, claims everything
    await b.step()
    assert set(b.owned) == set(PRINTERS)
    assert b.owned["p000"] == epoch + 1
    with pytest.raises(StaleOwner):
        await repository.fenced({"p000": epoch}, "a")
    async with database.transaction() as session:  # inside a write's own transaction, too
        with pytest.raises(StaleOwner):
            await check_fence(session, printer_id="p000", owner="a", epoch=epoch)

    await a.step()  # a wakes: its renewal finds nothing; it drops every printer and claims nothing b holds
    assert a.owned == {}
    assert told.lost[-1] == frozenset(PRINTERS)
    assert_no_printer_twice([a, b])


class FailingStore(SqlPrinterLeaseRepository):
    """The real store, until ``failing`` is set: then every call fails as an unreachable database would."""

    failing = False

    async def renew(self, owner: str, ttl_s: float) -> dict[str, int]:
        if self.failing:
            raise StoreUnavailable("OSError", "connection refused")
        return await super().renew(owner, ttl_s)

    async def heartbeat(self, owner: str, ttl_s: float) -> list[str]:
        if self.failing:
            raise StoreUnavailable("OSError", "connection refused")
        return await super().heartbeat(owner, ttl_s)

    async def leases(self) -> dict[str, LeaseState]:
        if self.failing:
            raise StoreUnavailable("OSError", "connection refused")
        return await super().leases()


async def test_an_owner_that_cannot_renew_drops_its_printers_before_its_leases_expire(database: Database) -> None:
    told = Changes()
    store = FailingStore(database)
    a = PrinterOwnership(store=store, owner="a", printers=lambda: PRINTERS, on_change=told, ttl_s=TTL)
    await a.step()
    assert len(a.owned) == len(PRINTERS)
    store.failing = True
    loop = asyncio.get_running_loop()
    cut_at = loop.time()
    await a.step()  # the first failure: the last renewal is recent, the printers stay
    assert len(a.owned) == len(PRINTERS)
    while a.owned:
        await asyncio.sleep(0.05)
        await a.step()
    dropped_after = loop.time() - cut_at
    assert dropped_after < TTL, f"dropped {dropped_after:.2f} s after the cut: the leases could have expired first"
    assert told.lost[-1] == frozenset(PRINTERS)
    assert all(owner == "a" for owner in (await stored_owners(database)).values())  # still a's, until they expire


async def test_a_stopping_owner_lets_go_at_once_and_its_printers_are_claimed_at_the_next_round(
    database: Database,
) -> None:
    told = Changes()
    async with process(database, "a", told) as a:
        assert len(a.owned) == len(PRINTERS)
        assert told.gained == [frozenset(PRINTERS)]
    assert told.lost[-1] == frozenset(PRINTERS)
    assert set((await stored_owners(database)).values()) == {None}
    b = process(database, "b")
    await b.step()
    assert set(b.owned) == set(PRINTERS)  # at once: no wait for an expiry
    assert await SqlPrinterLeaseRepository(database).heartbeat("b", TTL) == ["b"]  # a left the processes too


async def test_an_owner_shares_its_printers_statuses_and_a_stale_owner_cannot_overwrite_them(
    database: Database,
) -> None:
    """The owner writes its printers' statuses in one statement; another process reads them back as the same
    statuses; after a takeover the old owner's writes are refused and the successor's stand."""
    repository = SqlPrinterLeaseRepository(database)
    a, b = process(database, "a"), process(database, "b")
    await a.step()
    printing = PrinterStatus(state=PrinterState.PRINTING, progress=12.0, layer=3, total_layers=240)
    written = await repository.share(
        "a", {p: (epoch, json.dumps(status_to_wire(printing))) for p, epoch in a.owned.items()}
    )
    assert written == set(PRINTERS)
    read = await repository.shared(["p000", "p001", "unknown"])
    assert set(read) == {"p000", "p001"}
    assert status_from_wire(json.loads(read["p000"].status)) == printing
    assert read["p000"].owner == "a"
    assert read["p000"].updated_at.tzinfo is not None

    stale = a.owned
    await asyncio.sleep(TTL + 0.2)  # a pauses past its leases; b takes over and writes its own view
    await b.step()
    idle = PrinterStatus(state=PrinterState.IDLE)
    assert await repository.share("b", {"p000": (b.owned["p000"], json.dumps(status_to_wire(idle)))}) == {"p000"}
    paused = printing.replace(state=PrinterState.PAUSED)
    refused = await repository.share("a", {"p000": (stale["p000"], json.dumps(status_to_wire(paused)))})
    assert refused == set()
    assert status_from_wire(json.loads((await repository.shared(["p000"]))["p000"].status)) == idle


class HangingStore(SqlPrinterLeaseRepository):
    """The real store, until ``hanging`` is set: then a renewal waits for ever, as on a link that hangs."""

    hanging = False

    async def renew(self, owner: str, ttl_s: float) -> dict[str, int]:
        if self.hanging:
            await asyncio.Event().wait()
        return await super().renew(owner, ttl_s)


async def test_an_owner_whose_renewal_hangs_drops_its_printers_at_the_fencing_point(database: Database) -> None:
    """A renewal that hangs is given up at 2/3 TTL after the last renewal, and the printers are dropped there: their
    leases are still live then, so nobody else can have claimed them yet."""
    told = Changes()
    store = HangingStore(database)
    async with PrinterOwnership(store=store, owner="a", printers=lambda: PRINTERS, on_change=told, ttl_s=TTL) as a:
        assert len(a.owned) == len(PRINTERS)
        store.hanging = True
        loop = asyncio.get_running_loop()
        hung_at = loop.time()
        while a.owned:
            assert loop.time() - hung_at < TTL, "the printers were still held when their leases could have ended"
            await asyncio.sleep(0.02)
        assert told.lost[-1] == frozenset(PRINTERS)
        assert all(owner == "a" for owner in (await stored_owners(database)).values())  # its leases were still live
