"""Printer statuses shared between the processes of a farm: :class:`StatusSharing`.

The process that owns a printer (:mod:`printfleet.services.farm.ownership`) writes the printer's status, as the
monitoring service publishes it, to the store's ``printer_live`` table and announces a ``status`` hint; every other
process reads the row back and shows it (:meth:`printfleet.services.monitoring.MonitoringService.show_shared`), so
every page of every process shows the whole farm.

- What is written is what the monitoring service publishes: a state change at once, telemetry at most once a
  printer a second (the monitoring service coalesces it). The statuses gathered in ``interval_s`` (0.25 s) are
  written in one statement and announced in one batch: a ``status`` hint for a printer whose state changed, a
  ``telemetry`` hint for one whose temperatures, progress or AMS levels only moved. A state change does not wait
  out the interval: it is written, with whatever else was gathered, as soon as the write before it is done.
- A state change is read back at once. Telemetry is read back only while someone watches the farm live here
  (:meth:`StatusSharing.watching`: a WebSocket client, a live page); otherwise the printer is noted as stale and
  read when it is asked for (:meth:`StatusSharing.fresh`: the printers API and pages) or when a watcher arrives.
  Reading another process's status costs about as much as handling the report itself, and a process nobody
  watches has no use for a temperature every second (a farm of three processes behind a proxy reads each status
  once instead of twice).
- A row is written only under the writer's live lease and epoch (the store fences it), so a process paused past its
  lease never overwrites its successor's statuses.
- On entering, once the announcements' listener first listens, and after it reconnected (hints may have been lost
  meanwhile), :meth:`StatusSharing.load_all` reads every known printer's row again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from types import TracebackType
from typing import Protocol

import structlog

from printfleet.aio import all_cancelled, within
from printfleet.domain.announcements import Hint, HintKind
from printfleet.domain.events import DomainEvent, PrinterStatusUpdated
from printfleet.domain.printer import PrinterStatus
from printfleet.domain.status_wire import status_from_wire, status_to_wire
from printfleet.services.errors import StoreUnavailable
from printfleet.services.events import EventBus, Subscription

log = structlog.get_logger(__name__)


class SharedStatusRow(Protocol):
    """A row of ``printer_live``: ``status`` is JSON text (``domain.status_wire``)."""

    @property
    def status(self) -> str: ...


class SharedStatusStore(Protocol):
    """Where shared statuses live (store: ``SqlPrinterLeaseRepository``). Each method raises StoreUnavailable."""

    async def share(self, owner: str, statuses: Mapping[str, tuple[int, str]]) -> set[str]: ...
    async def shared(self, printer_ids: Collection[str]) -> Mapping[str, SharedStatusRow]: ...


class SharedStatusView(Protocol):
    """Where shared statuses are shown (the monitoring service)."""

    def known_ids(self) -> list[str]: ...
    def show_shared(self, printer_id: str, status: PrinterStatus) -> None: ...


class StatusSharing:
    """Writes the statuses of the printers this process owns and reads those the others own (see the module).
    Enter to run. ``owned()`` gives the printers owned now with their lease epochs; ``announce(hint)`` sends a hint
    to the farm."""

    def __init__(
        self,
        *,
        store: SharedStatusStore,
        bus: EventBus,
        view: SharedStatusView,
        owner: str,
        owned: Callable[[], Mapping[str, int]],
        announce: Callable[[Hint], None],
        interval_s: float = 0.25,
    ) -> None:
        self._store = store
        self._bus = bus
        self._view = view
        self._owner = owner
        self._owned = owned
        self._announce = announce
        self._interval_s = interval_s
        self._pending: dict[str, tuple[PrinterStatus, bool]] = {}  # printer id -> (status, telemetry only)
        self._state_shared: dict[str, int] = {}  # printer id -> the lease epoch under which its state was shared
        self._watchers = 0
        self._stale: set[str] = set()  # printers owned elsewhere whose telemetry was announced but not read
        self._reading = asyncio.Lock()
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()  # a state change waits: no pause before the next write
        self._subscription: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> StatusSharing:
        self._subscription = self._bus.subscribe(maxsize=100_000, accepts=_is_status)  # this process's own
        self._tasks = [
            asyncio.create_task(self._gather(self._subscription), name="status-sharing-gather"),
            asyncio.create_task(self._write_loop(), name="status-sharing-write"),
        ]
        try:  # what the others shared before this process knew its printers (its listener may have heard it first)
            await self.load_all()
        except StoreUnavailable as error:
            log.warning("status_sharing.not_read", error=error.error)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await all_cancelled(self._tasks)
        self._tasks = []
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        with contextlib.suppress(StoreUnavailable):  # the last statuses still reach the others
            await self.flush()

    async def _gather(self, subscription: Subscription) -> None:
        async for event in subscription:
            if isinstance(event, PrinterStatusUpdated):
                earlier = self._pending.get(event.printer.id)
                telemetry = event.telemetry and (earlier is None or earlier[1])
                self._pending[event.printer.id] = (event.status, telemetry)
                self._wake.set()
                if not telemetry:
                    self._urgent.set()

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._urgent.clear()
            try:
                await self.flush()
            except StoreUnavailable as error:
                log.warning("status_sharing.not_written", error=error.error)
            except Exception:  # a bug must not stop the sharing for good: the next statuses are tried
                log.exception("status_sharing.failed")
            with contextlib.suppress(TimeoutError):  # telemetry waits the interval out; a state change does not
                await within(self._urgent.wait(), self._interval_s)

    async def flush(self) -> int:
        """Write the statuses gathered so far of the printers owned now, announce them; how many were written.
        Raises StoreUnavailable (those statuses are dropped: the next report of each printer is written)."""
        pending, self._pending = self._pending, {}
        owned = self._owned()
        rows = {
            printer_id: (owned[printer_id], json.dumps(status_to_wire(status), separators=(",", ":")))
            for printer_id, (status, _) in pending.items()
            if printer_id in owned
        }
        if not rows:
            return 0
        try:
            written = await self._store.share(self._owner, rows)
        except BaseException:
            for printer_id, (_, telemetry) in pending.items():
                if not telemetry:  # its state change was not shared: the next share of it announces one
                    self._state_shared.pop(printer_id, None)
            raise
        for printer_id in sorted(rows):
            epoch = owned[printer_id]
            if printer_id not in written:
                self._state_shared.pop(printer_id, None)
                continue
            # Telemetry only after a state shared under this lease: a printer just taken over announces its state
            # (the others may have seen another from its former owner), whatever its monitoring calls it.
            telemetry = pending[printer_id][1] and self._state_shared.get(printer_id) == epoch
            self._state_shared[printer_id] = epoch
            self._announce(Hint(HintKind.TELEMETRY if telemetry else HintKind.STATUS, printer_id))
        return len(written)

    @property
    def watchers(self) -> int:
        """How many live views of the farm are open here (see :meth:`watching`)."""
        return self._watchers

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        """While entered, someone watches the farm live here: every printer's telemetry is read as it is announced.
        Entering reads the printers whose telemetry was not read meanwhile first, so a live view starts current.
        A store that cannot be read is logged (the view starts with what is shown, and follows from there)."""
        self._watchers += 1
        try:
            try:
                await self.fresh()
            except StoreUnavailable as error:
                log.warning("status_sharing.not_read", error=error.error)
            yield
        finally:
            self._watchers -= 1

    async def fresh(self, printer_ids: Collection[str] | None = None) -> None:
        """Read the statuses of ``printer_ids`` (None: every printer) whose telemetry was announced but not read,
        so what is shown now is current. Raises StoreUnavailable (they stay to be read)."""
        if not self._stale:
            return
        async with self._reading:
            wanted = self._stale if printer_ids is None else self._stale.intersection(printer_ids)
            if wanted:
                await self.load(sorted(wanted))

    async def load_telemetry(self, printer_ids: Sequence[str]) -> None:
        """An announcements loader of ``telemetry`` hints: read them while someone watches, else note them as
        stale (read when asked for). Raises StoreUnavailable."""
        if self._watchers > 0:
            await self.load(printer_ids)
        else:
            self._stale.update(printer_ids)

    async def load(self, printer_ids: Sequence[str]) -> None:
        """Read and show the shared statuses of ``printer_ids`` (an announcements loader; printers owned here are
        left alone). A row that cannot be read back is logged and skipped. Raises StoreUnavailable."""
        known = set(self._view.known_ids())
        wanted = [printer_id for printer_id in printer_ids if printer_id in known]
        self._stale.difference_update(printer_ids)  # a telemetry hint announced during the read marks it again
        try:
            rows = await self._store.shared(wanted)
        except StoreUnavailable:
            self._stale.update(wanted)
            raise
        for printer_id, row in rows.items():
            try:
                status = status_from_wire(json.loads(row.status))
            except ValueError as error:  # json.JSONDecodeError is a ValueError
                log.warning("status_sharing.malformed", printer_id=printer_id, problem=str(error)[:200])
                continue
            self._view.show_shared(printer_id, status)

    async def load_all(self) -> None:
        """Read and show the shared status of every printer owned by another process. Raises StoreUnavailable."""
        known = self._view.known_ids()
        self._stale.clear()
        await self.load(known)


def _is_status(event: DomainEvent) -> bool:
    return isinstance(event, PrinterStatusUpdated)
