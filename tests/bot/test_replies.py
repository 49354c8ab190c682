"""The bot's words on their own: long lists and long names stay within Discord's 2,000 characters."""

from __future__ import annotations

from datetime import timedelta

from printfleet.bot import replies
from printfleet.domain.printer import PrinterState
from printfleet.domain.queue import EntryStatus, QueueEntry, QueuePolicy
from printfleet.domain.queue_eta import Eta
from printfleet.services.queue_views import PrinterSlot, QueueView
from tests.bot.conftest import NOW


def _entry(entry_id: int, **changes: object) -> QueueEntry:
    values: dict[str, object] = {
        "id": entry_id,
        "user_id": str(100_000_000_000_000_000 + entry_id),
        "user_name": f"user {entry_id}",
        "job_name": "x" * 200,
        "estimate": timedelta(hours=1),
        "queue_key": entry_id,
        "created_at": NOW,
        "queued_at": NOW,
    }
    return QueueEntry(**{**values, **changes})  # type: ignore[arg-type]


def test_take_keeps_what_fits_and_says_how_many_are_left_out() -> None:
    lines = [f"line {i:03}" for i in range(100)]

    kept = replies.take(lines, 100)

    assert kept[-1] == f"… and {100 - len(kept) + 1} more"
    assert len("\n".join(kept)) <= 100
    assert replies.take(lines[:3], 100) == lines[:3]


def test_the_status_of_a_large_farm_and_a_long_queue_fits_in_one_message() -> None:
    waiting = [_entry(i) for i in range(1, 101)]
    printers = [
        PrinterSlot(
            id=f"printer-{i}",
            name=f"Printer number {i}",
            state=PrinterState.PRINTING,
            ready=False,
            held=False,
            holder=None,
            remaining_seconds=600,
            free_at=NOW + timedelta(minutes=10),
        )
        for i in range(200)
    ]
    view = QueueView(
        now=NOW,
        entries=waiting,
        etas={e.id: Eta(i, timedelta(minutes=i), None) for i, e in enumerate(waiting, start=1)},
        printers=printers,
        paused=False,
        policy=QueuePolicy(),
    )

    text = replies.status_reply(view)

    assert len(text) <= replies.MESSAGE_LIMIT
    assert "__Waiting__ (100)" in text
    assert "more\n__Waiting__" in text  # the printers were cut short, the queue still shows
    assert text.endswith("more")


def test_a_long_job_name_is_shortened_in_lists() -> None:
    label = replies.job_label(_entry(7))

    assert label == f"#7 **{'x' * 59}…**"


def test_an_ended_entry_says_how_it_ended() -> None:
    names = {"mk4": "MK4 #1"}
    done = _entry(1, job_name="benchy", status=EntryStatus.DONE, printer_id="mk4", actual_duration=timedelta(hours=1))
    expired = _entry(2, status=EntryStatus.EXPIRED, end_reason="missed 2 offers")

    assert replies.ended_phrase(done, names) == "unknown on **MK4 #1** in 1h"
    removed = _entry(3, status=EntryStatus.REMOVED, end_reason="removed by Dana")

    assert replies.ended_phrase(expired, names) == "expired: missed 2 offers"
    assert replies.ended_phrase(removed, names) == "removed by Dana"
