"""Claim reminders: a queue member who has not claimed an offered printer hears again when
``notifications.claim_reminder`` (default 3 min) is left of the claim window.

:class:`ClaimReminders` follows the queue's offers on the bus. When a reminder falls due it reads the entry again
from the queue and publishes :class:`~printfleet.domain.events.ClaimReminder` only if the entry is still offered
the same printer under the same offer (claimed, cancelled, expired or re-offered entries hear nothing). An offer
whose window is shorter than the reminder gets none.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType

import structlog

from printfleet.domain.events import ClaimOffered, ClaimReminder
from printfleet.domain.queue import EntryStatus, QueueEntry
from printfleet.services.events import EventBus, Subscription

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


class ClaimReminders:
    """Publishes a reminder for each offer still open ``before`` its deadline. Enter to run; leave to stop."""

    def __init__(
        self,
        *,
        bus: EventBus,
        entries: EntryLookup,
        before: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._bus = bus
        self._entries = entries
        self._before = before
        self._clock = clock
        self._due: dict[int, tuple[datetime, QueueEntry]] = {}
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ClaimReminders:
        if self._before > timedelta(0):
            self._subscription = self._bus.subscribe(maxsize=10_000)
            self._task = asyncio.create_task(self._run(self._subscription), name="claim-reminders")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._subscription is not None:
            self._subscription.close()
        self._task = self._subscription = None

    async def _run(self, subscription: Subscription) -> None:
        while True:
            soonest = min((due for due, _ in self._due.values()), default=None)
            wait = None if soonest is None else max((soonest - self._clock()).total_seconds(), 0.0)
            try:
                event = await asyncio.wait_for(subscription.get(), wait)
            except TimeoutError:
                event = None
            if isinstance(event, ClaimOffered):
                due = reminder_at(event.entry, self._before)
                if due is not None:
                    self._due[event.entry.id] = (due, event.entry)
            now = self._clock()
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
