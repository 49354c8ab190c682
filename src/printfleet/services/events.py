"""In-process event bus: typed domain events fanned out to subscribers, each with its own bounded buffer.

A slow subscriber (a browser on a bad link) never blocks the publisher or the other subscribers: when its
buffer is full the oldest event in it is dropped and counted (Moonraker keeps per-client buffers for the same
reason). Services publish only after their transaction committed (DESIGN.md invariant 7).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from printfleet.domain.events import DomainEvent


class Subscription:
    """One subscriber's buffer. Iterate with ``async for event in subscription``; close with :meth:`close`."""

    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[DomainEvent] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0

    def _offer(self, event: DomainEvent) -> None:
        while True:
            try:
                self._queue.put_nowait(event)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()
                self.dropped += 1

    async def get(self) -> DomainEvent:
        """Wait for the next event."""
        return await self._queue.get()

    def pending(self) -> int:
        """Events waiting in the buffer."""
        return self._queue.qsize()

    def close(self) -> None:
        """Stop receiving events."""
        self._bus._subscribers.discard(self)

    def __aiter__(self) -> AsyncIterator[DomainEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[DomainEvent]:
        while True:
            yield await self._queue.get()


class EventBus:
    """Typed, in-process publish/subscribe. ``publish`` is synchronous and never blocks."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    def subscribe(self, *, maxsize: int = 1000) -> Subscription:
        """A new subscription buffering at most ``maxsize`` events (oldest dropped beyond that)."""
        subscription = Subscription(self, maxsize)
        self._subscribers.add(subscription)
        return subscription

    def publish(self, event: DomainEvent) -> None:
        """Deliver ``event`` to every subscriber's buffer."""
        for subscription in tuple(self._subscribers):
            subscription._offer(event)

    @property
    def subscriber_count(self) -> int:
        """Subscribers currently attached."""
        return len(self._subscribers)
