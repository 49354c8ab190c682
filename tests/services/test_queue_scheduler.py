"""The deadline scheduler after a (re)start, driven by a controlled clock: a start deadline that falls inside the
start-up grace is acted on at its time once its printer has reported, even when the scheduler wakes a moment early."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from printfleet.domain.events import DomainEvent, ReservationReleased
from printfleet.domain.queue import EntryStatus, QueueEntry
from printfleet.services.queue_grace import MIN_GRACE_WAKE, StartupGrace
from tests.services.queue_support import IDLE, T0, Recorder, Setup

STEP = timedelta(milliseconds=10)
"""How far the ticking clock moves at each read."""


class TickingClock:
    """A controlled clock: it stands still until :meth:`tick_from`, then every read moves it on by a step (time
    passing between two reads, as between the scheduler's wake-up and its next look at the queue, with no real
    waiting)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.step = timedelta(0)

    def __call__(self) -> datetime:
        now = self.now
        self.now += self.step
        return now

    def tick_from(self, moment: datetime, step: timedelta) -> None:
        self.now, self.step = moment, step


async def first_event(events: Recorder, kind: type, *, within: float) -> DomainEvent | None:
    """The first event of ``kind`` published within ``within`` real seconds, or None."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while loop.time() < give_up:
        found = [e for e in events.drain() if isinstance(e, kind)]
        if found:
            return found[0]
        await asyncio.sleep(0.01)
    return None


@pytest.mark.parametrize("steps_before", range(1, 7))
async def test_a_start_deadline_inside_the_startup_grace_is_acted_on_at_its_time_once_the_printer_reported(
    setup: Setup, steps_before: int
) -> None:
    service, farm = setup.service, setup.farm
    entry = (await service.join(user_id="u1", user_name="A", job_name="One", estimate="1h")).entry
    await farm.set(service, "p1", IDLE)
    claimed = await service.claim(user_id="u1")
    deadline = claimed.deadline
    assert deadline is not None
    await service.stop()

    # A restart 20 s before the start deadline: it falls inside the 30 s start-up grace.
    clock = TickingClock(deadline - timedelta(seconds=20))
    restarted = setup.build(clock=clock, startup_grace=timedelta(seconds=30))
    async with restarted:
        setup.events.drain()
        # From a few reads before the deadline on, time passes at every read: the scheduler, woken by the
        # printer's first report, looks at the queue just before the deadline and again just after it.
        clock.tick_from(deadline - steps_before * STEP, STEP)
        await restarted.on_printer_change(farm.configs["p1"], None, IDLE)  # p1 reported: no grace for it
        released = await first_event(setup.events, ReservationReleased, within=3.0)
        assert released is not None, "the start deadline waited for the end of the start-up grace"
    assert isinstance(released, ReservationReleased)
    assert (released.entry.id, released.printer_id, released.reason) == (entry.id, "p1", "start_missed")
    assert released.entry.status is EntryStatus.WAITING


def test_only_reservations_of_silent_printers_wait_out_the_grace_and_only_while_it_lasts() -> None:
    monotonic = [100.0]
    grace = StartupGrace(timedelta(seconds=30), monotonic=lambda: monotonic[0])
    deadline = T0 + timedelta(minutes=15)
    silent = claimed_entry(1, "p1", deadline)
    reported = claimed_entry(2, "p2", deadline + timedelta(seconds=5))
    assert grace.report("p2") is True
    assert grace.report("p2") is False

    at = deadline + timedelta(seconds=10)  # both deadlines are over, 0 s into the grace
    assert grace.waits(silent)
    assert not grace.waits(reported)
    assert grace.due([silent, reported], at)
    assert grace.due([silent], at) is False
    assert grace.next_wake([silent, reported], at) == deadline + timedelta(seconds=5)  # due now, not in 30 s
    assert grace.next_wake([silent], at) == at + timedelta(seconds=30)
    monotonic[0] += 29.9
    assert grace.next_wake([silent], at) == at + MIN_GRACE_WAKE  # no busy loop at the grace's end
    monotonic[0] += 0.2
    assert grace.due([silent], at)
    assert grace.next_wake([silent], at) == deadline
    grace.restart()  # a restart: the grace runs again, and p2 has still reported
    assert grace.waits(silent)
    assert not grace.waits(reported)
    assert grace.next_wake([], at) is None


def claimed_entry(entry_id: int, printer_id: str, deadline: datetime) -> QueueEntry:
    return QueueEntry(
        id=entry_id,
        user_id=f"u{entry_id}",
        user_name=f"U{entry_id}",
        job_name="job",
        estimate=timedelta(hours=1),
        queue_key=entry_id,
        created_at=T0,
        queued_at=T0,
        status=EntryStatus.CLAIMED,
        printer_id=printer_id,
        deadline=deadline,
    )
