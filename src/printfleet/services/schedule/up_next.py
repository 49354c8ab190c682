"""Which scheduled print each printer runs next, kept in memory for the printer cards: :class:`UpNextTracker`.

The timeline (:meth:`ScheduleService.timeline`) is computed again after scheduled prints change (this process's
and, on a farm, the others': it follows remote events too), at most once per ``debounce_s`` (1 s), and every
``interval_s`` (60 s) as predicted times move. A printer whose next print changed (another print, another predicted
start minute) has its status published again (``refresh``), so its card updates live.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import structlog

from printfleet.domain.events import DomainEvent, ScheduledPrintUpdated
from printfleet.domain.printer import UpNext
from printfleet.domain.schedule.model import ScheduledPrint
from printfleet.domain.schedule.timeline import TimelineEntry
from printfleet.services.errors import StoreUnavailable
from printfleet.services.events import EventBus, TimedFollower

log = structlog.get_logger(__name__)


def next_per_printer(timeline: Sequence[tuple[TimelineEntry, ScheduledPrint]]) -> dict[str, UpNext]:
    """The first print not yet running per printer, in timeline order, its start to the minute."""
    found: dict[str, UpNext] = {}
    for entry, print_ in timeline:
        if entry.running or entry.printer_id is None or entry.printer_id in found:
            continue
        start = entry.start.replace(second=0, microsecond=0) if entry.start is not None else None
        found[entry.printer_id] = UpNext(print_id=entry.print_id, job_name=print_.job_name, start=start)
    return found


class UpNextTracker(TimedFollower):
    """Keeps :meth:`lookup` (printer id → its next scheduled print) up to date. Enter to run.

    ``timeline()``: the schedule's timeline (:meth:`ScheduleService.timeline`); ``refresh(printer_id)``: publish
    the printer's status again."""

    def __init__(
        self,
        *,
        timeline: Callable[[], Awaitable[Sequence[tuple[TimelineEntry, ScheduledPrint]]]],
        bus: EventBus,
        refresh: Callable[[str], None],
        debounce_s: float = 1.0,
        interval_s: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(bus, name="schedule-up-next", clock=clock, remote=True, maxsize=1_000)
        self._timeline = timeline
        self._refresh = refresh
        self._debounce = timedelta(seconds=debounce_s)
        self._interval = timedelta(seconds=interval_s)
        self._next: dict[str, UpNext] = {}
        self._due: datetime = clock()  # the first look at once

    def lookup(self, printer_id: str) -> UpNext | None:
        """The print predicted next on ``printer_id`` (from memory), None when none is."""
        return self._next.get(printer_id)

    async def update(self) -> list[str]:
        """Compute the timeline again; the printers whose next print changed (their statuses published again).
        Raises StoreUnavailable."""
        fresh = next_per_printer(await self._timeline())
        changed = sorted(pid for pid in fresh.keys() | self._next.keys() if fresh.get(pid) != self._next.get(pid))
        self._next = fresh
        for printer_id in changed:
            self._refresh(printer_id)
        return changed

    def next_due(self) -> datetime | None:
        """The next look: a second after a change, else a minute after the last one."""
        return self._due

    async def on_event(self, event: DomainEvent, now: datetime) -> None:
        """A scheduled print changed: look again a second from now (changes meanwhile wait for that look)."""
        if isinstance(event, ScheduledPrintUpdated):
            self._due = min(self._due, now + self._debounce)

    async def on_time(self, now: datetime) -> None:
        """Look when due; a failure is logged and the next look is at the usual interval."""
        if now < self._due:
            return
        self._due = now + self._interval
        try:
            await self.update()
        except StoreUnavailable as error:
            log.warning("schedule.up_next_not_updated", error=error.error)
        except Exception:  # the cards' next print must never stop the server
            log.exception("schedule.up_next_failed")
