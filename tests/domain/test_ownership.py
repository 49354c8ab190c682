"""Which process owns which printer: rendezvous hashing spreads printers evenly and moves only the printers of a
process that comes or goes; each process claims what it wins, then orphans, while below its fair share, and lets go
of its excess above it (what another live process wins first), so the farm settles evenly."""

from __future__ import annotations

from collections import Counter

from printfleet.domain.leases import renewal_wait
from printfleet.domain.ownership import LeaseState, Moves, fair_share, plan_moves, preferred

PRINTERS = [f"x1c-{number}" for number in range(1, 1001)]


def owners(processes: list[str]) -> dict[str, str | None]:
    return {printer_id: preferred(printer_id, processes) for printer_id in PRINTERS}


def test_a_thousand_printers_spread_evenly_over_three_processes_and_a_fourth_takes_only_its_own() -> None:
    three = owners(["a", "b", "c"])
    counts = Counter(three.values())
    assert set(counts) == {"a", "b", "c"}
    assert all(280 <= count <= 390 for count in counts.values()), counts  # 333 each, give or take the hash
    four = owners(["a", "b", "c", "d"])
    moved = [printer_id for printer_id in PRINTERS if three[printer_id] != four[printer_id]]
    assert all(four[printer_id] == "d" for printer_id in moved), "a printer moved between the processes that stayed"
    assert 200 <= len(moved) <= 300  # about a quarter: only what the newcomer wins
    # a process leaving hands on exactly its own printers
    back = owners(["a", "b", "c"])
    assert back == three, "the same processes must give the same owners (no hidden state, no randomness)"


def test_the_fair_share_rounds_up() -> None:
    assert fair_share(1000, 3) == 334
    assert fair_share(10, 1) == 10
    assert fair_share(0, 2) == 0
    assert fair_share(5, 0) == 5


def test_alone_a_process_claims_every_printer_then_hands_a_newcomer_what_it_wins() -> None:
    printers = PRINTERS[:100]
    first = plan_moves("a", printers, {}, ["a"])
    assert first == Moves(claim=tuple(printers), release=())
    held = {printer_id: LeaseState(owner="a", live=True) for printer_id in printers}
    # b arrives: a is above its share (100 > 50) and lets go of b's printers; b waits for them, claiming nothing held
    a_moves = plan_moves("a", printers, held, ["a", "b"])
    wins_b = [printer_id for printer_id in printers if preferred(printer_id, ["a", "b"]) == "b"]
    assert len(a_moves.release) == 100 - 50  # its excess, b's own first
    assert set(wins_b[:50]) <= set(a_moves.release)
    assert a_moves.claim == ()
    assert plan_moves("b", printers, held, ["a", "b"]) == Moves()
    # once let go, b claims them (its own by preference)
    after = {**held, **{printer_id: LeaseState(owner=None, live=False) for printer_id in a_moves.release}}
    assert sorted(plan_moves("b", printers, after, ["a", "b"]).claim) == sorted(a_moves.release)


def test_the_printers_of_a_dead_process_are_taken_by_those_below_their_share() -> None:
    printers = PRINTERS[:90]
    live = ["a", "b", "c"]
    leases = {printer_id: LeaseState(owner=preferred(printer_id, live), live=True) for printer_id in printers}
    dead = {p: LeaseState(owner="c", live=False) for p, lease in leases.items() if lease.owner == "c"}
    leases.update(dead)
    # c's heartbeat is still fresh in a's view: c wins its printers, yet a, below its share of 30, takes some over
    a_moves = plan_moves("a", printers, leases, live)
    mine = sum(1 for lease in leases.values() if lease.owner == "a" and lease.live)
    assert len(a_moves.claim) == max(0, 30 - mine)
    assert set(a_moves.claim) <= set(dead)
    # once c is no longer seen alive, a claims the expired printers it now wins first, up to its share of 45
    a_after = plan_moves("a", printers, leases, ["a", "b"])
    wins = [p for p in dead if preferred(p, ["a", "b"]) == "a"]
    assert list(a_after.claim[: len(wins)]) == wins[: 45 - mine]
    assert len(a_after.claim) == min(len(dead), 45 - mine)


def test_a_process_no_printer_prefers_still_gets_its_share_and_the_farm_settles() -> None:
    printers = PRINTERS[:6]
    nobody_prefers = next(
        name for name in (f"p{n}" for n in range(1000)) if all(preferred(p, ["a", "b", name]) != name for p in printers)
    )
    processes = ["a", "b", nobody_prefers]
    leases: dict[str, LeaseState] = {}
    for _ in range(10):  # rounds, each process in turn, each acting on what the store shows then
        for me in processes:
            moves = plan_moves(me, printers, leases, processes)
            for printer_id in moves.release:
                leases[printer_id] = LeaseState(owner=None, live=False)
            for printer_id in moves.claim:
                if printer_id not in leases or not leases[printer_id].live:
                    leases[printer_id] = LeaseState(owner=me, live=True)
    counts = Counter(lease.owner for lease in leases.values() if lease.live)
    assert counts == {"a": 2, "b": 2, nobody_prefers: 2}, counts


def test_a_renewal_waits_a_third_of_the_ttl_but_never_past_the_fencing_point() -> None:
    assert renewal_wait(renewed_at=100.0, now=104.0, ttl_s=12.0) == 4.0  # on time: a third of the TTL
    assert renewal_wait(renewed_at=100.0, now=106.0, ttl_s=12.0) == 2.0  # late: only until 2/3 TTL after the last
    assert renewal_wait(renewed_at=100.0, now=109.0, ttl_s=12.0) == 0.0  # past the fencing point: fence now
