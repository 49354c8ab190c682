"""In-process event bus: typed domain events fanned out to subscribers, each with its own bounded buffer.

A slow subscriber (a browser on a bad link) never blocks the publisher or the other subscribers: when its
buffer is full the oldest event in it is dropped and counted (Moonraker keeps per-client buffers for the same
reason). Services publish only after their transaction committed (DESIGN.md invariant 7).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from types import TracebackType
from typing import Self

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


class TimedFollower:
    """A subscriber that follows the bus and also acts at times it chooses: :meth:`on_event` for each event,
    then :meth:`on_time` (also when :meth:`next_due`, aware UTC, arrives with no event). Enter to run (subscribed at
    once, so no event published after entering is missed); leave to stop. ``clock`` gives aware UTC."""

    def __init__(self, bus: EventBus, *, name: str, clock: Callable[[], datetime]) -> None:
        self._bus = bus
        self._name = name
        self._clock = clock
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    def next_due(self) -> datetime | None:
        """When :meth:`on_time` must run next without an event (None: only on events)."""
        return None

    async def on_event(self, event: DomainEvent, now: datetime) -> None:
        """Take one event."""

    async def on_time(self, now: datetime) -> None:
        """Do what is due by ``now``."""

    async def __aenter__(self) -> Self:
        self._subscription = self._bus.subscribe(maxsize=10_000)
        self._task = asyncio.create_task(self._follow(self._subscription), name=self._name)
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

    async def _follow(self, subscription: Subscription) -> None:
        while True:
            due_at = self.next_due()
            wait = None if due_at is None else max((due_at - self._clock()).total_seconds(), 0.0)
            try:
                event = await asyncio.wait_for(subscription.get(), wait)
            except TimeoutError:
                event = None
            if event is not None:
                await self.on_event(event, self._clock())
            await self.on_time(self._clock())
