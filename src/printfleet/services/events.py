"""In-process event bus: typed domain events fanned out to subscribers, each with its own bounded buffer.

A slow subscriber (a browser on a bad link) never blocks the publisher or the other subscribers: when its
buffer is full the oldest event in it is dropped and counted (Moonraker keeps per-client buffers for the same
reason). Services publish only after their transaction committed (DESIGN.md invariant 7).

Events of another process of the farm (re-read from the store after its announcement, see
:mod:`printfleet.services.farm.announcements`) are published as *remote*: they reach only the subscribers that show
things to people (``subscribe(remote=True)``: WebSocket clients, live pages), never the ones that act on events
(notifications, the outbox, the queue), since the process where the change happened acted on it already.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from types import TracebackType
from typing import Self

from printfleet.aio import cancelled, within
from printfleet.domain.events import DomainEvent


class Subscription:
    """One subscriber's buffer. Iterate with ``async for event in subscription``; close with :meth:`close`."""

    def __init__(
        self, bus: EventBus, maxsize: int, *, remote: bool = False, accepts: Callable[[DomainEvent], bool] | None = None
    ) -> None:
        self._bus = bus
        self.remote = remote
        self.accepts = accepts
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

    def subscribe(
        self, *, maxsize: int = 1000, remote: bool = False, accepts: Callable[[DomainEvent], bool] | None = None
    ) -> Subscription:
        """A new subscription buffering at most ``maxsize`` events (oldest dropped beyond that); with ``remote``
        it also gets the events of the farm's other processes. ``accepts``: only the events it says yes to are
        buffered (a subscriber that acts on a few kinds is not woken by every printer's telemetry)."""
        subscription = Subscription(self, maxsize, remote=remote, accepts=accepts)
        self._subscribers.add(subscription)
        return subscription

    def publish(self, event: DomainEvent, *, remote: bool = False) -> None:
        """Deliver ``event`` to every subscriber's buffer; a ``remote`` one (another process's change, re-read
        here) only to the subscribers that asked for those."""
        for subscription in tuple(self._subscribers):
            if (subscription.remote or not remote) and (subscription.accepts is None or subscription.accepts(event)):
                subscription._offer(event)

    @property
    def subscriber_count(self) -> int:
        """Subscribers currently attached."""
        return len(self._subscribers)


class TimedFollower:
    """A subscriber that follows the bus and also acts at times it chooses: :meth:`on_event` for each event,
    then :meth:`on_time` (also when :meth:`next_due`, aware UTC, arrives with no event). Enter to run (subscribed at
    once, so no event published after entering is missed); leave to stop. ``clock`` gives aware UTC; with ``remote``
    it also follows the farm's other processes' events (a follower that only shows things)."""

    def __init__(
        self,
        bus: EventBus,
        *,
        name: str,
        clock: Callable[[], datetime],
        remote: bool = False,
        maxsize: int = 10_000,
        accepts: Callable[[DomainEvent], bool] | None = None,
    ) -> None:
        """``accepts``: the events :meth:`on_event` takes (see :meth:`EventBus.subscribe`; None: all)."""
        self._accepts = accepts
        self._bus = bus
        self._name = name
        self._clock = clock
        self._remote = remote
        self._maxsize = maxsize
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
        self._subscription = self._bus.subscribe(maxsize=self._maxsize, remote=self._remote, accepts=self._accepts)
        self._task = asyncio.create_task(self._follow(self._subscription), name=self._name)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await cancelled(self._task)
        if self._subscription is not None:
            self._subscription.close()
        self._task = self._subscription = None

    async def _follow(self, subscription: Subscription) -> None:
        while True:
            due_at = self.next_due()
            wait = None if due_at is None else max((due_at - self._clock()).total_seconds(), 0.0)
            try:
                event = await within(subscription.get(), wait)
            except TimeoutError:
                event = None
            if event is not None:
                await self.on_event(event, self._clock())
            await self.on_time(self._clock())
