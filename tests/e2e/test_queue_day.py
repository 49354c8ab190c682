"""A simulated day of the shared queue: 3 simulated X1C printers (MQTT over TLS), 10 users, joins, claims, missed
offers, no-shows, a reservation nobody prints on, prints that finish and fail, an unqueued print, and a server
restart in the middle. Windows are seconds long so the day fits in half a minute.

At the end every entry's history is the one its user's behaviour implies, each linked job carries its entry and
user, and no printer stood idle while an eligible user waited for longer than one claim window.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from printfleet.domain.queue import EntryStatus
from printfleet.domain.queue_history import HistoryKind
from printfleet.services.queue import QueueService
from printfleet.sim.bambu import BambuFarm
from tests.e2e.harness import Server

pytestmark = pytest.mark.usefixtures("mosquitto_binary")

CLAIM_WINDOW_S = 2.0
START_WINDOW_S = 3.0

# Who does what. prompt: claims and prints at once; fail: the same, then the print fails; no_show: never claims
# (two missed offers remove the entry); late: claims, never prints (the reservation runs out), then does it right.
BEHAVIOUR = {
    "u0": "prompt",
    "u1": "no_show",
    "u2": "prompt",
    "u3": "fail",
    "u4": "late",
    "u5": "prompt",
    "u6": "no_show",
    "u7": "prompt",
    "u8": "fail",
    "u9": "prompt",
}

J, OF, C, L = HistoryKind.JOINED, HistoryKind.OFFERED, HistoryKind.CLAIMED, HistoryKind.LINKED
DONE, MISSED, EXPIRED = HistoryKind.DONE, HistoryKind.CLAIM_MISSED, HistoryKind.EXPIRED
SM = HistoryKind.START_MISSED
EXPECTED = {
    "prompt": [(J, None), (OF, None), (C, None), (L, None), (DONE, "completed")],
    "fail": [(J, None), (OF, None), (C, None), (L, None), (DONE, "failed")],
    "no_show": [(J, None), (OF, None), (MISSED, None), (OF, None), (MISSED, "missed"), (EXPIRED, "missed")],
    "late": [
        (J, None),
        (OF, None),
        (C, None),
        (SM, None),
        (OF, None),
        (C, None),
        (L, None),
        (DONE, "completed"),
    ],
}


@pytest.fixture
async def farm(tmp_path: Path) -> AsyncIterator[BambuFarm]:
    async with BambuFarm(3, workdir=tmp_path / "bambu", report_interval_s=0.1, prepare_s=0.2) as bambu:
        yield bambu


class Day:
    """The users, acting on what the queue shows them, through whichever server is running."""

    def __init__(self, server: Server, farm: BambuFarm) -> None:
        self.server = server
        self.farm = farm
        self.up = True
        self.late_done: set[str] = set()
        self.idle_violations: list[str] = []

    def queue(self) -> QueueService | None:
        if not self.up:
            return None
        with contextlib.suppress(AssertionError, AttributeError):
            queue: QueueService = self.server.runtime.queue
            return queue
        return None

    async def user(self, user_id: str) -> None:
        behaviour = BEHAVIOUR[user_id]
        # (entry, status, printer, when it was offered or claimed) already acted on: a second offer of the same
        # printer is a new one.
        acted: set[tuple[int, str, str, str]] = set()
        while True:
            await asyncio.sleep(0.05)
            queue = self.queue()
            if queue is None:
                continue
            mine = [e for e in queue.view().entries if e.user_id == user_id]
            if not mine:
                return  # the entry ended
            entry = mine[0]
            moment = entry.claimed_at if entry.status is EntryStatus.CLAIMED else entry.offered_at
            key = (entry.id, entry.status.value, entry.printer_id or "", moment.isoformat() if moment else "")
            if key in acted or entry.printer_id is None:
                continue
            if entry.status is EntryStatus.OFFERED and behaviour != "no_show":
                acted.add(key)
                await asyncio.sleep(0.2)
                with contextlib.suppress(Exception):  # the server may be restarting: look again
                    await queue.claim(user_id=user_id)
                    continue
                acted.discard(key)
            elif entry.status is EntryStatus.CLAIMED:
                acted.add(key)
                if behaviour == "late" and user_id not in self.late_done:
                    self.late_done.add(user_id)  # walks away: no print starts
                    continue
                printer = self.farm.printers[int(entry.printer_id.rsplit("-", 1)[1]) - 1]
                await asyncio.sleep(0.3)
                await printer.start_print(f"{user_id}-{entry.job_name}.3mf", duration_s=1.5)
                if behaviour == "fail":
                    await asyncio.sleep(0.9)
                    await printer.fail()

    async def watch_idle(self) -> None:
        """Record a printer left idle while someone who may use it waits, for longer than one claim window."""
        since: dict[str, float] = {}
        while True:
            await asyncio.sleep(0.1)
            queue = self.queue()
            if queue is None:
                since.clear()  # the server is down: nothing to hold it to
                continue
            view = queue.view()
            busy_users = {e.user_id for e in view.holding}
            for slot in view.printers:
                waiting = [
                    e for e in view.waiting if e.can_use(slot.id) and e.user_id not in busy_users and not view.paused
                ]
                if slot.ready and not slot.held and slot.holder is None and waiting:
                    started = since.setdefault(slot.id, time.monotonic())
                    if time.monotonic() - started > CLAIM_WINDOW_S:
                        self.idle_violations.append(f"{slot.id} idle while {[e.user_id for e in waiting]} wait")
                else:
                    since.pop(slot.id, None)


async def test_a_simulated_day(database_url: str, farm: BambuFarm) -> None:
    settings = {
        "queue": {
            "claim_window": f"{CLAIM_WINDOW_S}s",
            "start_window": f"{START_WINDOW_S}s",
            "rate_limit": {"burst": 1000},
            "startup_grace": "5s",
        }
    }
    server = Server(database_url, farm.printer_configs(), **settings)
    await server.start()
    await server.wait_online()
    day = Day(server, farm)
    ids = [p.printer_id for p in farm.printers]

    # Before anyone queues, someone walks up and prints on the third printer: an unqueued print.
    await farm.printers[2].start_print("walk-up.3mf", duration_s=1.5)
    await server.wait_printer(ids[2], "printing")

    queue: QueueService = server.runtime.queue
    for n, user_id in enumerate(BEHAVIOUR):
        printers = [ids[0]] if user_id == "u9" else []
        await queue.join(
            user_id=user_id,
            user_name=f"User {n}",
            job_name=f"part {n}",
            estimate=timedelta(minutes=5 + n),
            printer_ids=printers,
        )
    users = [asyncio.create_task(day.user(user_id)) for user_id in BEHAVIOUR]
    watcher = asyncio.create_task(day.watch_idle())
    try:
        # Mid-day, once four entries have ended, the server restarts (a clean stop; deadlines stay in the store).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while len(await server.runtime.queue.history(limit=50)) < 4:
            assert loop.time() < deadline, "the day never got going"
            await asyncio.sleep(0.1)
        day.up = False
        await server.stop()
        await asyncio.sleep(0.5)
        await server.start()
        day.up = True
        await asyncio.wait_for(asyncio.gather(*users), timeout=90)
    finally:
        watcher.cancel()
        for task in users:
            task.cancel()
        await asyncio.gather(watcher, *users, return_exceptions=True)

    try:
        queue = server.runtime.queue
        ended = {e.user_id: e for e in await queue.history(limit=50)}
        assert set(ended) == set(BEHAVIOUR)
        for user_id, behaviour in BEHAVIOUR.items():
            entry = ended[user_id]
            records = list(reversed(await queue.events(entry_id=entry.id)))
            got = [(r.kind, r.detail) for r in records]
            expected = EXPECTED[behaviour]
            assert [kind for kind, _ in got] == [kind for kind, _ in expected], (user_id, got)
            for (_, detail), (_, wanted) in zip(got, expected, strict=True):
                if wanted is not None:
                    assert (detail or "").startswith(wanted), (user_id, got)
            if behaviour in ("prompt", "fail", "late"):
                assert entry.status is EntryStatus.DONE
                # The job's duration is in whole seconds: a 1.5 s print first seen a moment after it began (around
                # the restart) may round down to 0.
                assert entry.actual_duration is not None
                assert timedelta(0) <= entry.actual_duration <= timedelta(seconds=10)
            else:
                assert entry.status is EntryStatus.EXPIRED
        assert ended["u9"].printer_id == ids[0]  # limited to the first printer

        jobs = await server.jobs()
        linked = {job["queue_user_id"]: job for job in jobs if job["queue_entry_id"] is not None}
        assert set(linked) == {u for u, b in BEHAVIOUR.items() if b in ("prompt", "fail", "late")}
        for user_id, job in linked.items():
            assert job["queue_entry_id"] == ended[user_id].id
            assert job["queue_user_name"] == f"User {user_id[1:]}"
            assert job["status"] == ("failed" if BEHAVIOUR[user_id] == "fail" else "completed")
        walk_up = [job for job in jobs if job["filename"] == "walk-up.3mf"]
        assert len(walk_up) == 1
        assert walk_up[0]["queue_entry_id"] is None
        unqueued = [r for r in await queue.events(limit=500) if r.kind is HistoryKind.UNQUEUED]
        assert [(r.printer_id, r.detail) for r in unqueued] == [(ids[2], "walk-up.3mf")]

        assert day.idle_violations == []
        assert queue.view().entries == []
    finally:
        await server.stop()
