"""Claim reminders on a real event bus: an offer still open when the reminder falls due is recalled once; one
claimed, re-offered or made with less time left than the reminder is not."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

from printfleet.domain.events import ClaimOffered, ClaimReminder
from printfleet.domain.queue import EntryStatus, QueueEntry
from printfleet.services.events import EventBus
from printfleet.services.notifications.claim_reminders import ClaimReminders, reminder_at

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def offered(entry_id: int, *, now: datetime, window: timedelta) -> QueueEntry:
    return QueueEntry(
        id=entry_id,
        user_id=f"user:{entry_id}",
        user_name="Maya",
        job_name="Halter",
        estimate=timedelta(hours=1),
        queue_key=entry_id,
        created_at=T0,
        queued_at=T0,
        status=EntryStatus.OFFERED,
        printer_id="x1c",
        offered_at=now,
        deadline=now + window,
    )


def test_the_reminder_falls_before_the_deadline_unless_the_window_is_shorter() -> None:
    entry = offered(1, now=T0, window=timedelta(minutes=10))
    assert reminder_at(entry, timedelta(minutes=3)) == T0 + timedelta(minutes=7)
    assert reminder_at(entry, timedelta(minutes=10)) is None
    assert reminder_at(entry, timedelta(0)) is None
    assert reminder_at(dataclasses.replace(entry, deadline=None), timedelta(minutes=3)) is None


async def test_only_an_offer_still_open_is_recalled_once() -> None:
    bus = EventBus()
    now = datetime.now(UTC)
    window = timedelta(seconds=0.6)
    still_open = offered(1, now=now, window=window)
    claimed = offered(2, now=now, window=window)
    reoffered = offered(3, now=now, window=window)
    current = {
        1: still_open,
        2: dataclasses.replace(claimed, status=EntryStatus.CLAIMED),
        3: dataclasses.replace(reoffered, offered_at=now + timedelta(seconds=0.1)),
    }

    async def lookup(entry_id: int) -> QueueEntry:
        return current[entry_id]

    heard = bus.subscribe()
    async with ClaimReminders(bus=bus, entries=lookup, before=timedelta(seconds=0.3)):
        for entry in (still_open, claimed, reoffered):
            bus.publish(ClaimOffered(entry))
        await asyncio.sleep(1.0)
    reminders = []
    while heard.pending():
        event = await heard.get()
        if isinstance(event, ClaimReminder):
            reminders.append(event.entry.id)
    assert reminders == [1]
