"""The queue scheduler's timing after a (re)start: which deadlines are due, and when to look again.

A reservation whose start window ran out while the server was down, or runs out before its printer has reported
since start-up, may have been used: the printer may say, in its first report, that a print began inside the window.
Such a claimed entry waits for that report, for at most the start-up grace. Every other deadline (claim deadlines,
and the start deadlines of printers that have reported) is due at its time, even one that falls inside the grace.

The grace is measured on the monotonic clock from :meth:`StartupGrace.restart`, not on the queue's injected clock:
a wall clock step at boot must neither stretch nor cut it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from printfleet.domain.queue import EntryStatus, QueueEntry

MIN_GRACE_WAKE = timedelta(seconds=0.25)
"""The shortest wait before looking again at a reservation waiting out the grace (no busy loop at its end)."""


class StartupGrace:
    """The start-up grace of ``grace`` (a timedelta) and the printers that reported since the start.

    ``monotonic`` is the clock the grace runs on (seconds; :func:`time.monotonic` unless a test injects one).
    """

    def __init__(self, grace: timedelta, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._grace = grace.total_seconds()
        self._monotonic = monotonic
        self._started = monotonic()
        self._reported: set[str] = set()

    def restart(self) -> None:
        """The queue (re)starts: the grace runs from now."""
        self._started = self._monotonic()

    def report(self, printer_id: str) -> bool:
        """Note a report of ``printer_id``; True when it is the printer's first since start-up."""
        first = printer_id not in self._reported
        self._reported.add(printer_id)
        return first

    def left(self) -> timedelta:
        """How much of the grace is left (zero or negative once it is over)."""
        return timedelta(seconds=self._grace - (self._monotonic() - self._started))

    def waits(self, entry: QueueEntry) -> bool:
        """Whether ``entry``'s deadline, should it be over, waits: a reservation whose printer has not reported
        since start-up, while the grace lasts."""
        return (
            entry.status is EntryStatus.CLAIMED
            and entry.printer_id not in self._reported
            and self.left() > timedelta(0)
        )

    def due(self, entries: Iterable[QueueEntry], now: datetime) -> bool:
        """Whether a deadline of ``entries`` is over at ``now`` (aware UTC) and does not wait."""
        return any(e.deadline is not None and now >= e.deadline and not self.waits(e) for e in entries)

    def next_wake(self, entries: Iterable[QueueEntry], now: datetime) -> datetime | None:
        """When the scheduler must look again (aware UTC), None when no deadline runs.

        The earliest deadline of ``entries``; for a deadline that is over at ``now`` and waits, the grace's end
        (at least :data:`MIN_GRACE_WAKE` from now). Any other deadline over at ``now`` (the scheduler woke a moment
        before it, and the clock passed it since) is due now, not at the grace's end."""
        wakes: list[datetime] = []
        for entry in entries:
            if entry.deadline is None:
                continue
            if entry.deadline <= now and self.waits(entry):
                wakes.append(now + max(self.left(), MIN_GRACE_WAKE))
            else:
                wakes.append(entry.deadline)
        return min(wakes, default=None)
