"""Claim reminders: a queue member who has not claimed an offered printer hears again when
``notifications.claim_reminder`` (default 3 min) is left of the claim window.

:class:`ClaimReminders` follows the queue's offers on the bus. When a reminder falls due it reads the entry again
from the queue and publishes :class:`~printfleet.domain.events.ClaimReminder` only if the entry is still offered
the same printer under the same offer (claimed, cancelled, expired or re-offered entries hear nothing). An offer
whose window is shorter than the reminder gets none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Self

import structlog

from printfleet.domain.events import ClaimOffered, ClaimReminder, DomainEvent
from printfleet.domain.queue import EntryStatus, QueueEntry
from printfleet.services.events import EventBus, TimedFollower

log = structlog.get_logger(__name__)

EntryLookup = Callable[[int], Awaitable[QueueEntry]]
"""The queue's current state of an entry (``QueueService.entry``); raises when there is none."""


def reminder_at(entry: QueueEntry, before: timedelta) -> datetime | None:
    """When ``entry``'s offer is to be recalled: ``before`` its deadline, or None (no deadline, no reminder
    wanted, or an offer made with less than ``before`` left)."""
    if entry.deadline is None or before <= timedelta(0):
        return None
    due = entry.deadline - before
    offered = entry.offered_at
    if offered is not None and due <= offered:
        return None
    return due


class ClaimReminders(TimedFollower):
    """Publishes a reminder for each offer still open ``before`` its deadline (none when ``before`` is zero). Enter
    to run; leave to stop."""

    def __init__(
        self,
        *,
        bus: EventBus,
        entries: EntryLookup,
        before: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(
            bus, name="claim-reminders", clock=clock, accepts=lambda event: isinstance(event, ClaimOffered)
        )
        self._entries = entries
        self._before = before
        self._due: dict[int, tuple[datetime, QueueEntry]] = {}

    async def __aenter__(self) -> Self:
        if self._before > timedelta(0):
            await super().__aenter__()
        return self

    def next_due(self) -> datetime | None:
        """The soonest reminder."""
        return min((due for due, _ in self._due.values()), default=None)

    async def on_event(self, event: DomainEvent, now: datetime) -> None:
        """An offer sets its reminder (a new offer of the same entry replaces the old one's)."""
        if isinstance(event, ClaimOffered):
            due = reminder_at(event.entry, self._before)
            if due is not None:
                self._due[event.entry.id] = (due, event.entry)

    async def on_time(self, now: datetime) -> None:
        """Send the reminders due by ``now`` whose offers are still open."""
        for entry_id, (due, offered) in list(self._due.items()):
            if due > now:
                continue
            del self._due[entry_id]
            try:
                await self._remind(offered)
            except Exception:  # a reminder that cannot be checked is left out; the offer itself was sent
                log.exception("queue.claim_reminder_failed", entry_id=entry_id)

    async def _remind(self, offered: QueueEntry) -> None:
        current = await self._entries(offered.id)
        still_open = (
            current.status is EntryStatus.OFFERED
            and current.printer_id == offered.printer_id
            and current.offered_at == offered.offered_at
        )
        if not still_open:
            return
        log.info("queue.claim_reminder", entry_id=current.id, printer_id=current.printer_id)
        self._bus.publish(ClaimReminder(entry=current))
