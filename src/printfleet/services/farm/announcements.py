"""Every process of a farm on PostgreSQL sees what the others changed: :class:`FarmAnnouncements`.

Sending: the events this process publishes on its bus (after their transaction committed) are turned into hints
(:func:`printfleet.domain.announcements.hint_of`) and sent to the other processes, coalesced: the hints gathered
while one send runs go out together in the next, at most one send per ``flush_interval_s`` (0.2 s), each hint once
(moonraker-auth-scale research C2: NOTIFY as a coalesced hint, never one per report). A printer's change of state,
a command and its reply do not wait the interval out (:data:`URGENT`): they go with the next send as soon as the
one before it is done; a burst of job changes still goes out in few payloads, each job once. Hints that are not
events (a printer's configuration changed) are sent with :meth:`FarmAnnouncements.announce`.

Receiving: each payload of another process is decoded and its hints handed, grouped by kind with repeats dropped,
to that kind's *loader*, which re-reads the things from the store and publishes them on this process's bus as
remote events (seen by pages and WebSocket clients, not acted on again). After the listener reconnected (hints
may have been lost meanwhile), ``resync()`` re-reads everything this process keeps in memory.

A malformed payload is logged and counted, a loader that fails is logged; neither stops the others. A send the store
refuses is logged and dropped: the receivers' pages are then stale until the next change or resync, never wrong in
the store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Protocol, Self

import structlog

from printfleet.aio import all_cancelled, within
from printfleet.domain.announcements import Hint, HintKind, decode, encode, hint_of
from printfleet.services.errors import StoreUnavailable
from printfleet.services.events import EventBus, Subscription

log = structlog.get_logger(__name__)

URGENT = frozenset({HintKind.STATUS, HintKind.COMMAND, HintKind.REPLY})
"""The hints sent without waiting out the send interval: what a person waits for (a printer's state shown on another
process's page, a command carried out by the printer's owner)."""

_LISTENING = "\x00listening"
"""In the incoming queue: the listener listens for the first time (``at_start`` resyncs run there)."""

Loader = Callable[[Sequence[str]], Awaitable[None]]
"""``await loader(keys)``: re-read the things of one kind named by ``keys`` (each once, in the order announced) and
publish them as remote events. May raise StoreUnavailable (logged)."""


class AnnouncementChannel(Protocol):
    """How payloads travel between processes (store: ``PgAnnouncementChannel``)."""

    async def send(self, payloads: Sequence[str]) -> None: ...
    async def queue_usage(self) -> float: ...
    async def listen(
        self, on_payload: Callable[[str], None], on_connected: Callable[[bool], Awaitable[None]]
    ) -> None: ...


class AnnouncementMetrics(Protocol):
    """What the announcements count (``printfleet_announcement_*`` in /metrics)."""

    def announcements_sent(self, payloads: int, hints: int) -> None: ...
    def announcement_received(self, kind: str) -> None: ...
    def announcement_malformed(self) -> None: ...
    def listener_reconnected(self) -> None: ...
    def notify_queue_usage(self, fraction: float) -> None: ...


class FarmAnnouncements:
    """Sends this process's changes to the farm's other processes and shows theirs here. Enter to run.

    ``sender``: this process's name (``services.leases.process_identity``); payloads it sent itself are ignored
    when they come back. ``loaders``: one per hint kind (a kind without one is ignored). ``resync()``: re-read
    everything after the listener reconnected. ``usage_interval_s``: how often the server's notification queue
    usage is read for the metrics (seconds)."""

    def __init__(
        self,
        *,
        channel: AnnouncementChannel,
        bus: EventBus,
        sender: str,
        loaders: Mapping[HintKind, Loader],
        resync: Callable[[], Awaitable[None]],
        metrics: AnnouncementMetrics | None = None,
        flush_interval_s: float = 0.2,
        usage_interval_s: float = 30.0,
    ) -> None:
        self._channel = channel
        self._bus = bus
        self._sender = sender
        self._loaders: dict[HintKind, list[Loader]] = {kind: [loader] for kind, loader in loaders.items()}
        self._resyncs = [resync]
        self._starts: list[Callable[[], Awaitable[None]]] = []
        self._metrics = metrics
        self._flush_interval_s = flush_interval_s
        self._usage_interval_s = usage_interval_s
        self._outgoing: dict[Hint, None] = {}
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()
        self._incoming: asyncio.Queue[str] = asyncio.Queue()
        self._subscription: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def add_loader(
        self,
        kind: HintKind,
        loader: Loader,
        *,
        resync: Callable[[], Awaitable[None]] | None = None,
        at_start: bool = False,
    ) -> None:
        """Also call ``loader`` for the hints of ``kind`` (after those given before), and ``resync()`` after the
        listener reconnected; with ``at_start`` also once the listener first listens (what was announced before
        this process listened is read then, and nothing announced after is missed). Call before entering."""
        self._loaders.setdefault(kind, []).append(loader)
        if resync is not None:
            self._resyncs.append(resync)
            if at_start:
                self._starts.append(resync)

    def announce(self, hint: Hint) -> None:
        """Send ``hint`` with the next batch (call after the change committed)."""
        self._outgoing[hint] = None
        self._wake.set()
        if hint.kind in URGENT:
            self._urgent.set()

    async def __aenter__(self) -> Self:
        self._subscription = self._bus.subscribe(maxsize=10_000)  # this process's own events only
        self._tasks = [
            asyncio.create_task(self._follow(self._subscription), name="announcements-follow"),
            asyncio.create_task(self._send_loop(), name="announcements-send"),
            asyncio.create_task(self._channel.listen(self._received, self._connected), name="announcements-listen"),
            asyncio.create_task(self._apply_loop(), name="announcements-apply"),
            asyncio.create_task(self._usage_loop(), name="announcements-usage"),
        ]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await all_cancelled(self._tasks)
        self._tasks = []
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        with contextlib.suppress(StoreUnavailable):  # what changed last still reaches the others
            await self._flush()

    # --- sending ------------------------------------------------------------------------------------------------

    async def _follow(self, subscription: Subscription) -> None:
        async for event in subscription:
            hint = hint_of(event)
            if hint is not None:
                self.announce(hint)

    async def _send_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._urgent.clear()
            try:
                await self._flush()
            except StoreUnavailable as error:
                log.warning("announcements.not_sent", error=error.error)
            with contextlib.suppress(TimeoutError):  # the interval, unless an urgent hint waits
                await within(self._urgent.wait(), self._flush_interval_s)

    async def _flush(self) -> None:
        """Send the hints gathered so far (dropped when the store refuses them: raises StoreUnavailable)."""
        hints, self._outgoing = list(self._outgoing), {}
        if not hints:
            return
        payloads = encode(self._sender, hints)
        await self._channel.send(payloads)
        if self._metrics is not None:
            self._metrics.announcements_sent(len(payloads), len(hints))

    async def _usage_loop(self) -> None:
        while True:
            try:
                usage = await self._channel.queue_usage()
            except StoreUnavailable:
                usage = None
            if usage is not None and self._metrics is not None:
                self._metrics.notify_queue_usage(usage)
            if usage is not None and usage >= 0.5:
                log.warning("announcements.notify_queue_filling", usage=round(usage, 3))
            await asyncio.sleep(self._usage_interval_s)

    # --- receiving ----------------------------------------------------------------------------------------------

    def _received(self, payload: str) -> None:
        self._incoming.put_nowait(payload)

    async def _connected(self, first: bool) -> None:
        if first:
            if self._starts:
                await self._incoming.put(_LISTENING)  # in order with the payloads, as a resync is
            return
        if self._metrics is not None:
            self._metrics.listener_reconnected()
        await self._incoming.put("")  # "" in the queue: resync there, in order with the payloads

    async def _apply_loop(self) -> None:
        while True:
            batch = [await self._incoming.get()]
            while not self._incoming.empty():
                batch.append(self._incoming.get_nowait())
            await self._apply(batch)

    async def _apply(self, payloads: Sequence[str]) -> None:
        """Re-read what ``payloads`` name (each thing once), kind by kind; a resync marker re-reads everything."""
        for marker, resyncs in (("", self._resyncs), (_LISTENING, self._starts)):
            if marker not in payloads:
                continue
            try:
                for resync in resyncs:
                    await resync()
                log.info("announcements.resynced", reconnected=marker == "")
            except StoreUnavailable as error:
                log.warning("announcements.resync_failed", error=error.error)
            except Exception:  # a resync that crashed must not stop the announcements
                log.exception("announcements.resync_failed")
        keys: dict[HintKind, dict[str, None]] = {}
        for payload in payloads:
            if payload in ("", _LISTENING):
                continue
            try:
                sender, hints = decode(payload)
            except ValueError as error:
                log.warning("announcements.malformed", problem=str(error), size=len(payload))
                if self._metrics is not None:
                    self._metrics.announcement_malformed()
                continue
            if sender == self._sender:
                continue
            for hint in hints:
                keys.setdefault(hint.kind, {})[hint.key] = None
        for kind, named in keys.items():
            loaders = self._loaders.get(kind, [])
            if loaders and self._metrics is not None:
                self._metrics.announcement_received(kind.value)
            for loader in loaders:
                try:
                    await loader(list(named))
                except StoreUnavailable as error:
                    log.warning("announcements.not_loaded", kind=kind.value, error=error.error)
                except Exception:  # one kind's loader failing must not stop the others
                    log.exception("announcements.loader_failed", kind=kind.value)
