"""Live monitoring: one connection task per printer, the latest status of each, state transitions persisted.

Statuses arrive from adapters through :meth:`MonitoringService.on_status`. A change of the lifecycle fields
(state, file, native job id, offline reason, errors, stage) is a *state change*: when the state itself changed it
is written as a transition row first, then published at once. Anything else is telemetry, published at most once
per printer per ``telemetry_interval_s`` (1 s), always ending on the newest values. While a print is under way,
the listeners also get a checkpoint every ``checkpoint_interval_s`` (15 s) without a state change.

:meth:`MonitoringService.probe` is the exception: a throw-away connection for a "test connection" button, whose
reports go nowhere but to its caller.

Poll intervals: a polled printer (PrusaLink, OctoPrint) whose configuration has no ``poll_interval`` follows the
global ``monitoring_interval`` setting. The service resolves it when it builds a connection (the adapter gets a
configuration with the current global interval filled in, and knows nothing of settings), while the configuration
it keeps, lists and publishes still says None. When the setting changes, :meth:`MonitoringService.
apply_default_poll_interval` reconnects the printers that follow it.

**A shared farm** (several processes on one PostgreSQL, docs/farm.md): each printer is owned by one process, the only
one that connects to it. Built with ``shared_farm``, the service connects to no printer by itself: every printer is
*known* (its configuration and the status its owner last shared, :meth:`MonitoringService.show_shared`), and
connected only once this process comes to own it (:meth:`MonitoringService.take_over`; :meth:`MonitoringService.
let_go` when it no longer does). Known printers are listed, shown and published like connected ones (their events
as remote events: nothing here acts on them); only connected ones reach the listeners and have a
:meth:`MonitoringService.connection`. Before a connected printer's state change is handled, ``fence(printer_id)``
checks that this process still owns it (a process paused past its lease must not write over its successor's
records); refused (StaleOwner), the printer is let go and nothing is written.

Store failures (:class:`~printfleet.services.errors.StoreUnavailable`: the database locked, its disk full, its
server gone) never reach a connection: the printer's live status is kept and published, and its handling (the
transition row, the listeners) is retried with backoff (``store_retry_initial_s`` doubling up to
``store_retry_max_s``) until the store takes it, always for the newest status against the last one handled, so
job tracking sees the printer move from what it last knew to what the printer reports now (states passed through
while the store failed are not recorded, as when the server is down). A connection task that
ends anyway (an adapter bug) is logged at ERROR, counted and restarted with a fresh connection after a backoff
(``restart_initial_s`` doubling up to ``restart_max_s``). Both show in :meth:`MonitoringService.health_reasons`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

import structlog

from printfleet.domain.events import PrinterRemoved
from printfleet.domain.printer import (
    DEFAULT_POLL_INTERVAL_S,
    OfflineReason,
    PrinterConfig,
    PrinterKind,
    PrinterState,
    PrinterStatus,
)
from printfleet.services.errors import PrinterNotFound, StaleOwner, StoreUnavailable
from printfleet.services.events import EventBus
from printfleet.services.health import RetryDelays
from printfleet.services.monitoring.connection import Watched, supervise
from printfleet.services.monitoring.known import KnownPrinters
from printfleet.services.monitoring.publisher import StatusPublisher
from printfleet.services.ports import (
    ConnectionFactory,
    MonitoringMetrics,
    PrinterConnection,
    PrinterRepository,
    StatusCallback,
)
from printfleet.services.probe import first_answer
from printfleet.services.shown_status import ShownStatus

log = structlog.get_logger("printfleet.monitoring")

StatusListener = Callable[[PrinterConfig, PrinterStatus | None, PrinterStatus], Awaitable[None]]
"""``await listener(printer, previous, current)`` for every state change, after it was persisted, and every
``checkpoint_interval_s`` while a print is under way (so job tracking stores progress and elapsed time, by which it
tells a print seen again after a restart from a new print of the same file). A listener may raise
StoreUnavailable: the state change is then handled again (every listener called again, ``previous`` being the last
state fully handled) once the store is back, so a listener must be idempotent."""


SlotListener = Callable[[PrinterConfig, PrinterStatus], Awaitable[None]]
"""``await listener(printer, current)`` whenever a printer's ``material_slots`` changed (another object: adapters hand
on the same one while nothing changed), including the first reading after each connect. A listener raising
StoreUnavailable is logged; the next change is compared with what it stored, so nothing is announced twice."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class MonitoringService:
    """Owns the printer connections and the live status of every printer.

    Use as an async context manager (or ``start``/``stop``): on exit every connection task is cancelled.
    """

    def __init__(
        self,
        *,
        repository: PrinterRepository,
        bus: EventBus,
        connection_factory: ConnectionFactory,
        metrics: MonitoringMetrics | None = None,
        telemetry_interval_s: float = 1.0,
        checkpoint_interval_s: float = 15.0,
        clock: Callable[[], datetime] = _utcnow,
        default_poll_interval: Callable[[], float] = lambda: DEFAULT_POLL_INTERVAL_S,
        store_retry_initial_s: float = 0.5,
        store_retry_max_s: float = 15.0,
        restart_initial_s: float = 1.0,
        restart_max_s: float = 60.0,
        shared_farm: bool = False,
        fence: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """``shared_farm`` and ``fence(printer_id)`` (raises StaleOwner, StoreUnavailable): see the module.
        ``default_poll_interval()`` is the current global poll interval in seconds (the composition root wires
        the ``monitoring_interval`` setting), read whenever a connection is built. ``store_retry_*`` bound the
        delays (seconds) between attempts to record a printer's state while the store fails, ``restart_*`` those
        before a crashed connection is restarted."""
        self._repository = repository
        self._bus = bus
        self._factory = connection_factory
        self._metrics = metrics
        self._publisher = StatusPublisher(bus=bus, current=self._connected_status, interval_s=telemetry_interval_s)
        self._checkpoint_interval_s = checkpoint_interval_s
        self._clock = clock
        self._default_poll_interval = default_poll_interval
        self._watched: dict[str, Watched] = {}
        self._shared_farm = shared_farm
        self.fence = fence
        """``await fence(printer_id)`` before a state change is handled (see the module); set by the composition
        root."""
        self._letting_go: set[asyncio.Task[None]] = set()
        self._listeners: list[StatusListener] = []
        self._telemetry_listeners: list[StatusListener] = []
        self._slot_listeners: list[SlotListener] = []
        self._recorded: dict[str, PrinterState] = {}
        self._store_retry = (store_retry_initial_s, store_retry_max_s)
        self._restart = (restart_initial_s, restart_max_s)
        self.shown = ShownStatus()
        self._known = KnownPrinters(bus=bus, shown=self.shown)  # a shared farm's printers other processes own
        """What printfleet adds to every status it hands out or publishes (its lookups are set by the composition
        root)."""

    def refresh(self, printer_id: str) -> None:
        """Publish the printer's status again at once (printfleet's own part of it changed, e.g. the plate); a
        printer another process owns as a remote event (its owner publishes its own)."""
        entry = self._watched.get(printer_id)
        if entry is not None:
            self._publisher.now(entry.config.id)
        else:
            self._known.publish(printer_id)

    def add_listener(self, listener: StatusListener) -> None:
        """Call ``listener`` on every state change (after it was persisted, before it is published; while the
        store fails, the live status is published first and the listener called once the store is back)."""
        self._listeners.append(listener)

    def add_telemetry_listener(self, listener: StatusListener) -> None:
        """Call ``listener`` on every report that changes no state (telemetry: progress, layer, temperatures), with
        the report before it. It must be cheap (it runs for every report) and find its own milestones; a
        StoreUnavailable it raises is dropped."""
        self._telemetry_listeners.append(listener)

    def add_slot_listener(self, listener: SlotListener) -> None:
        """Call ``listener`` whenever a printer's material slots change (see :data:`SlotListener`)."""
        self._slot_listeners.append(listener)

    async def _slots_changed(self, config: PrinterConfig, status: PrinterStatus) -> None:
        for listener in self._slot_listeners:
            try:
                await listener(config, status)
            except StoreUnavailable as error:
                log.warning("monitoring.slots_not_recorded", printer_id=config.id, error=error.error)
            except Exception:  # a slot listener must not stop the printer's status
                log.exception("monitoring.slot_listener_failed", printer_id=config.id)

    async def start(self) -> None:
        """Connect to every printer in the store (in a shared farm: know every printer, connect to none)."""
        self._recorded = await self._repository.last_transition_states()
        for config in await self._repository.list_printers():
            self.add(config)

    async def stop(self) -> None:
        """Cancel every connection task and wait for them."""
        watched = list(self._watched.values())
        self._watched.clear()
        self._known.clear()
        for entry in watched:
            self._publisher.forget(entry.config.id)
        await self._cancel(watched)

    @property
    def shared_farm(self) -> bool:
        """Whether printers are owned by one process of a farm each (see the module)."""
        return self._shared_farm

    def add(self, config: PrinterConfig) -> None:
        """A printer added (at start, through the API, or by another process): connect to it; in a shared farm,
        know it until this process owns it."""
        if self._shared_farm:
            if config.id not in self._watched:
                self._known.know(config)
        else:
            self.watch(config)

    def owns(self, printer_id: str) -> bool:
        """Whether this process is connected to ``printer_id`` (always, outside a shared farm, for a printer it
        has)."""
        return printer_id in self._watched

    def printer_ids(self) -> list[str]:
        """Every printer's id, connected here or known, sorted."""
        return sorted({*self._watched, *self._known.ids()})

    def known_ids(self) -> list[str]:
        """The printers known here but owned by other processes, sorted."""
        return self._known.ids()

    async def take_over(self, printer_ids: Iterable[str]) -> list[str]:
        """This process now owns ``printer_ids``: connect to them (their last recorded states read again from the
        store, in one query: their previous owners may have recorded more; should the store fail, what this process
        knew is used). The printers connected; one not known here is left out."""
        wanted = [printer_id for printer_id in printer_ids if printer_id in self._known]
        if not wanted:
            return []
        try:
            recorded = await self._repository.last_transition_states()
        except StoreUnavailable as error:
            log.warning("monitoring.recorded_states_not_read", error=error.error, printers=len(wanted))
            recorded = {}
        taken = []
        for printer_id in wanted:
            known = self._known.forget(printer_id)
            if known is None:
                continue
            if printer_id in recorded:
                self._recorded[printer_id] = recorded[printer_id]
            self._start(known.config, self._recorded.get(printer_id))
            taken.append(printer_id)
        self._update_connected_gauge()
        return taken

    async def let_go(self, printer_ids: Iterable[str]) -> None:
        """This process no longer owns ``printer_ids``: close their connections, all at once, and show each one's
        last status until its new owner shares one."""
        leaving = [entry for printer_id in printer_ids if (entry := self._watched.pop(printer_id, None)) is not None]
        if not leaving:
            return
        for entry in leaving:
            self._publisher.forget(entry.config.id)
            self._known.know(entry.config, entry.status)
        await self._cancel(leaving)
        self._update_connected_gauge()

    def show_shared(self, printer_id: str, status: PrinterStatus) -> None:
        """The status ``printer_id``'s owner shared: shown and published here (as a remote event). Ignored for a
        printer connected here or not known."""
        self._known.show_shared(printer_id, status)

    async def __aenter__(self) -> MonitoringService:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @staticmethod
    async def _cancel(watched: Iterable[Watched]) -> None:
        tasks = []
        for entry in watched:
            for task in (entry.task, entry.retry):
                if task is not None:
                    task.cancel()
                    tasks.append(task)
        await asyncio.gather(*tasks, return_exceptions=True)

    def _connect(self, config: PrinterConfig, sink: StatusCallback) -> PrinterConnection:
        """Build a connection with the effective poll interval: the printer's own, else the global one now."""
        return self._factory(config.with_default_poll_interval(self._default_poll_interval()), sink)

    def detached(self, config: PrinterConfig) -> PrinterConnection:
        """A connection to ``config``'s printer that is not run and reports nothing (for a one-off request another
        process of a farm may make of a printer it does not own)."""

        async def ignored(_printer_id: str, _status: PrinterStatus) -> None:
            return None

        return self._connect(config, ignored)

    def _start(self, config: PrinterConfig, recorded: PrinterState | None) -> Watched:
        entry = Watched(config, self._connect(config, self.on_status), recorded)
        self._watched[config.id] = entry
        initial, maximum = self._restart
        entry.task = asyncio.get_running_loop().create_task(
            supervise(
                entry,
                rebuild=lambda: self._connect(entry.config, self.on_status),
                metrics=self._metrics,
                restart_initial_s=initial,
                restart_max_s=maximum,
            ),
            name=f"printer:{config.id}",
        )
        return entry

    def watch(self, config: PrinterConfig) -> None:
        """Start a connection to ``config`` (replacing none: call :meth:`unwatch` first for an edit)."""
        self._start(config, self._recorded.get(config.id))
        self._update_connected_gauge()

    async def unwatch(self, printer_id: str, *, removed: bool = False) -> None:
        """Close the connection to a printer; publish ``printer_removed`` when it was deleted (a known printer is
        forgotten then)."""
        if removed:
            self._known.forget(printer_id)
        entry = self._watched.pop(printer_id, None)
        if entry is not None:
            self._publisher.forget(printer_id)
            await self._cancel([entry])
        self._update_connected_gauge()
        if removed:
            self._recorded.pop(printer_id, None)
            self._bus.publish(PrinterRemoved(printer_id=printer_id))

    async def rewatch(self, config: PrinterConfig) -> None:
        """Reconnect with a changed configuration (an API edit); a known printer's configuration is replaced."""
        if self._known.replace_config(config):
            return
        entry = self._watched.get(config.id)
        if entry is not None:
            self._recorded[config.id] = entry.last_recorded_state or PrinterState.OFFLINE
        await self.unwatch(config.id)
        self.watch(config)

    async def apply_default_poll_interval(self) -> list[str]:
        """Reconnect every watched polled printer that follows the global poll interval (``poll_interval`` None)
        and whose connection polls at another one than ``default_poll_interval()`` now; return their ids.

        Called when the ``monitoring_interval`` setting changed. The configuration is unchanged, so unlike
        :meth:`rewatch` this keeps the printer's live status (the API and the connected gauge show no
        ``connecting`` in between) and its last recorded state: the new connection's first report is compared
        with what was known, so an unchanged printer writes no transition row, calls no listener and is
        published as telemetry only. What is carried over is the last *settled* status: should the old
        connection be cancelled while its report was being handled (a listener half way), the new connection's
        first report is handled again in full. Old and new connections are swapped with no ``await`` in
        between, so a concurrent edit or removal of the printer never finds it missing or doubled.
        """
        interval = self._default_poll_interval()
        stale = [
            entry
            for entry in self._watched.values()
            if entry.config.kind.is_polled
            and entry.config.poll_interval is None
            and entry.connection.config.poll_interval != interval
        ]
        for old in stale:
            new = self._start(old.config, old.last_recorded_state)
            new.status = new.settled = old.settled
        await self._cancel(stale)  # each old task is cancelled before it can report again, then awaited
        self._update_connected_gauge()
        if stale:
            log.info(
                "monitoring.poll_interval_applied",
                poll_interval_s=interval,
                printer_ids=[entry.config.id for entry in stale],
            )
        return [entry.config.id for entry in stale]

    async def probe(
        self,
        config: PrinterConfig,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - expiry is an answer, not an error
    ) -> PrinterStatus:
        """Connect to ``config`` once, off the books (built with the service's factory, reporting to nobody but
        the caller), and return the printer's first real answer: see :func:`printfleet.services.probe.
        first_answer`. Raises ValueError when ``timeout`` is not positive or the adapter refuses ``config``."""
        return await first_answer(lambda sink: self._connect(config, sink), name=config.id, timeout=timeout)

    def status(self, printer_id: str) -> PrinterStatus | None:
        """The latest status of a printer (connected or known), or None when it is neither."""
        entry = self._watched.get(printer_id)
        if entry is not None:
            return self.shown.of(entry.config, entry.status)
        return self._known.status(printer_id)

    def config(self, printer_id: str) -> PrinterConfig | None:
        """The configuration a printer's connection follows (or a known printer's), or None."""
        entry = self._watched.get(printer_id)
        return entry.config if entry is not None else self._known.config(printer_id)

    def connection(self, printer_id: str) -> PrinterConnection | None:
        """The live connection of a printer (for commands), or None."""
        entry = self._watched.get(printer_id)
        return entry.connection if entry is not None else None

    def watched(self) -> list[tuple[PrinterConfig, PrinterStatus]]:
        """Every printer of the farm with its latest status, ordered by id: those connected here and, in a shared
        farm, those other processes own."""
        shown = [(e.config, self.shown.of(e.config, e.status)) for e in self._watched.values()]
        shown += self._known.all()
        return sorted(shown, key=lambda pair: pair[0].id)

    def connected(self) -> list[tuple[PrinterConfig, PrinterStatus]]:
        """The printers connected here (owned, in a shared farm) with their latest statuses, ordered by id: what
        job tracking and the printers' own alarms act on."""
        return [(e.config, self.shown.of(e.config, e.status)) for _, e in sorted(self._watched.items())]

    async def on_status(self, printer_id: str, status: PrinterStatus) -> None:
        """Receive a snapshot from an adapter (the sink every connection is built with). Never raises
        StoreUnavailable: a state the store cannot take now is published at once and recorded later."""
        entry = self._watched.get(printer_id)
        if entry is None:  # a late report from a connection being closed
            return
        previous = entry.status
        entry.status = status
        if previous.state is PrinterState.OFFLINE or status.state is PrinterState.OFFLINE:
            self._update_connected_gauge()
        if status.material_slots is not None and status.material_slots is not previous.material_slots:
            await self._slots_changed(entry.config, status)
        if entry.retry is not None:  # an earlier state waits for the store; its retry handles the newest one
            if previous.lifecycle_key() == status.lifecycle_key():
                self._publisher.telemetry(entry.config.id)
            else:
                self._publisher.now(entry.config.id)
            return
        if previous.lifecycle_key() == status.lifecycle_key():
            self._publisher.telemetry(entry.config.id)
            entry.settled = status
            for telemetry_listener in self._telemetry_listeners:
                with contextlib.suppress(StoreUnavailable):  # a milestone the store cannot take now is dropped
                    await telemetry_listener(entry.config, previous, status)
            if status.state.is_active and time.monotonic() - entry.last_checkpoint >= self._checkpoint_interval_s:
                entry.last_checkpoint = time.monotonic()
                try:
                    for listener in self._listeners:  # a progress checkpoint of the running print
                        await listener(entry.config, previous, status)
                except StoreUnavailable:  # the next checkpoint or state change catches up; the store logs it
                    pass
            return
        try:
            await self._settle(entry, previous, status)
        except StaleOwner:
            await self._stale(entry)
        except StoreUnavailable as error:
            self._defer(entry, error)
        except PrinterNotFound:  # removed (here or by another process) while its connection still reported
            log.info("monitoring.report_of_removed_printer", printer_id=printer_id, state=status.state.value)

    async def _settle(self, entry: Watched, previous: PrinterStatus, status: PrinterStatus) -> None:
        """Record ``status``'s transition (unless recorded already), call the listeners, publish; raises
        StoreUnavailable with ``entry.settled`` unchanged (so the handling can be tried again), StaleOwner when
        this process no longer owns the printer (nothing written)."""
        if self.fence is not None:
            await self.fence(entry.config.id)
        if status.state is not entry.last_recorded_state and status.offline_reason is not OfflineReason.CONNECTING:
            await self._repository.record_transition(
                printer_id=entry.config.id, from_state=entry.last_recorded_state, status=status, at=self._clock()
            )
            entry.last_recorded_state = status.state
        entry.last_checkpoint = time.monotonic()
        for listener in self._listeners:
            await listener(entry.config, previous, status)
        self._publisher.now(entry.config.id)
        entry.settled = status

    def _defer(self, entry: Watched, error: StoreUnavailable) -> None:
        """Publish the printer's live status now and retry its handling in the background with backoff."""
        log.warning(
            "monitoring.state_not_recorded",
            printer_id=entry.config.id,
            state=entry.status.state.value,
            error=error.error,
            detail=error.detail,
        )
        self._publisher.now(entry.config.id)
        entry.retry = asyncio.get_running_loop().create_task(
            self._retry_settle(entry), name=f"printer-retry:{entry.config.id}"
        )

    async def _retry_settle(self, entry: Watched) -> None:
        """Handle the newest status against the last handled one until the store takes it; then, should newer
        states have arrived meanwhile, those too (without waiting)."""
        initial, maximum = self._store_retry
        delays = RetryDelays(initial=initial, maximum=maximum)
        attempts = 0
        while True:
            await asyncio.sleep(delays.next_delay())
            attempts += 1
            try:
                while (status := entry.status).lifecycle_key() != entry.settled.lifecycle_key():
                    await self._settle(entry, entry.settled, status)
            except StoreUnavailable:
                continue
            except StaleOwner:
                entry.retry = None
                await self._stale(entry)
                return
            except PrinterNotFound:  # removed meanwhile: nothing left to record
                entry.retry = None
                return
            entry.settled = entry.status
            entry.retry = None
            log.info(
                "monitoring.state_recorded",
                printer_id=entry.config.id,
                state=entry.status.state.value,
                attempts=attempts,
            )
            return

    async def _stale(self, entry: Watched) -> None:
        """Another process owns the printer now (this one was paused or cut off past its lease): let it go."""
        log.warning("monitoring.stale_owner", printer_id=entry.config.id, state=entry.status.state.value)
        if self._watched.get(entry.config.id) is entry:
            if entry.task is asyncio.current_task():  # its own report: close it from outside the task
                task = asyncio.get_running_loop().create_task(self.let_go([entry.config.id]))
                self._letting_go.add(task)
                task.add_done_callback(self._letting_go.discard)
            else:
                await self.let_go([entry.config.id])

    def health_reasons(self) -> list[str]:
        """A health source: printers whose latest state waits for the store, connections waiting to restart.

        A printer that is offline because it cannot be reached is not a reason (see ``services.health``)."""
        reasons: list[str] = []
        waiting = sorted(printer_id for printer_id, entry in self._watched.items() if entry.retry is not None)
        if waiting:
            reasons.append(
                f"{len(waiting)} printer(s) with a state not recorded yet (the store failed; retrying): "
                + ", ".join(waiting)
            )
        crashed = sorted(f"{pid} ({entry.crashed})" for pid, entry in self._watched.items() if entry.crashed)
        if crashed:
            reasons.append(f"{len(crashed)} printer connection(s) crashed and restarting: " + ", ".join(crashed))
        return reasons

    def _connected_status(self, printer_id: str) -> tuple[PrinterConfig, PrinterStatus] | None:
        """A connected printer's configuration and status as shown (what the publisher publishes), else None."""
        entry = self._watched.get(printer_id)
        return (entry.config, self.shown.of(entry.config, entry.status)) if entry is not None else None

    def _update_connected_gauge(self) -> None:
        if self._metrics is None:
            return
        counts = dict.fromkeys(PrinterKind, 0)
        for entry in self._watched.values():
            if entry.status.state is not PrinterState.OFFLINE:
                counts[entry.config.kind] += 1
        for kind, count in counts.items():
            self._metrics.set_connected(kind, count)
