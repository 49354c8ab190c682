"""Composition of a shared farm (docs/farm.md, "Printer ownership"): on PostgreSQL with ``farm.printer_ownership``,
each printer is connected by the one process that owns its lease; the others show the status it shares and send
their commands and prints through it. On SQLite, or with the setting off, nothing here is wired and every printer
is connected by this process.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import socket
import time
from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import structlog

from printfleet.app.parts import together
from printfleet.config import Settings
from printfleet.domain.announcements import HintKind
from printfleet.domain.printer import PrinterCommandRejected, PrinterConfig, PrinterStatus
from printfleet.observability.metrics import PrometheusMetrics
from printfleet.services.dispatch.service import DispatchService
from printfleet.services.errors import StaleOwner, StoreUnavailable
from printfleet.services.events import EventBus
from printfleet.services.farm.announcements import FarmAnnouncements
from printfleet.services.farm.command_relay import CommandRelay
from printfleet.services.farm.ownership import PrinterOwnership
from printfleet.services.farm.status_sharing import StatusSharing
from printfleet.services.monitoring import MonitoringService
from printfleet.services.ports import PrinterConnection
from printfleet.services.printers import PrinterCommand, PrinterService
from printfleet.store.database import Database
from printfleet.store.printer_leases import SqlPrinterLeaseRepository

log = structlog.get_logger("printfleet.app")


def shares_printers(settings: Settings, database: Database) -> bool:
    """Whether printers are owned one process each (PostgreSQL and ``farm.printer_ownership``)."""
    return database.dialect_name == "postgresql" and settings.farm.printer_ownership


def owner_name(settings: Settings) -> str:
    """This process's name as a printer owner: its host name and the address it serves on. No two live processes
    share it (two cannot listen on one address), and a process restarted on the same address has the same name, so
    it takes its previous run's printers up at once instead of waiting for their leases to expire."""
    return f"{socket.gethostname()[:100]}:{settings.http.host}:{settings.http.port}"


class ConnectedPrinters:
    """The printers connected to this process, as the print scheduler sees them: it sends prints to those only (in
    a shared farm each process schedules for the printers it owns)."""

    def __init__(self, monitoring: MonitoringService) -> None:
        self._monitoring = monitoring

    def watched(self) -> list[tuple[PrinterConfig, PrinterStatus]]:
        """The connected printers with their statuses, ordered by id."""
        return self._monitoring.connected()

    def status(self, printer_id: str) -> PrinterStatus | None:
        """A connected printer's status, else None."""
        return self._monitoring.status(printer_id) if self._monitoring.owns(printer_id) else None

    def config(self, printer_id: str) -> PrinterConfig | None:
        """A connected printer's configuration, else None."""
        return self._monitoring.config(printer_id) if self._monitoring.owns(printer_id) else None

    def connection(self, printer_id: str) -> PrinterConnection | None:
        """A connected printer's connection, else None."""
        return self._monitoring.connection(printer_id)


@dataclass(frozen=True, slots=True)
class SharedFarm:
    """The parts of a shared farm: who owns which printer, the statuses shared, the commands relayed."""

    ownership: PrinterOwnership
    sharing: StatusSharing
    relay: CommandRelay
    leases: SqlPrinterLeaseRepository

    async def fence(self, printer_id: str) -> None:
        """Before a printer's state change is written: this process still owns it under the epoch it holds.
        Raises StaleOwner, StoreUnavailable."""
        epoch = self.ownership.owned.get(printer_id)
        if epoch is None:
            raise StaleOwner(printer_id, 0)
        await self.leases.fenced({printer_id: epoch}, self.ownership.owner)

    def running(self) -> AbstractAsyncContextManager[object]:
        """Sharing statuses, then owning printers (left in reverse order: the printers are let go first)."""
        return together(self.sharing, self.ownership)


def build_shared_farm(
    settings: Settings,
    database: Database,
    *,
    bus: EventBus,
    monitoring: MonitoringService,
    printers: PrinterService,
    dispatch: DispatchService,
    announcements: FarmAnnouncements,
    metrics: PrometheusMetrics,
) -> SharedFarm:
    """Wire printer ownership into ``monitoring`` (built with ``shared_farm``), ``printers`` (commands relayed),
    ``dispatch`` (prints taken up by their printer's owner) and ``announcements`` (statuses, commands, replies)."""
    leases = SqlPrinterLeaseRepository(database)
    name = owner_name(settings)
    ownership_ref: list[PrinterOwnership] = []
    sharing = StatusSharing(
        store=leases,
        bus=bus,
        view=monitoring,
        owner=name,
        owned=lambda: ownership_ref[0].owned if ownership_ref else {},
        announce=announcements.announce,
    )

    async def changed(gained: frozenset[str], lost: frozenset[str]) -> None:
        await dispatch.let_go(lost)  # left in the store for the next owner, as at a restart
        await monitoring.let_go(sorted(lost))
        if len(lost) >= RELEASE_MEMORY_AFTER:
            await asyncio.sleep(0)  # the closed connections' last callbacks run first
            release_freed_memory()
        try:
            await monitoring.take_over(sorted(gained))
            if gained:
                await dispatch.resume_for(gained)
            if lost:
                await sharing.load(sorted(lost))  # what their new owners shared so far
        except StoreUnavailable as error:
            log.warning("ownership.not_taken_up", error=error.error)
        log.info("ownership.changed", gained=len(gained), lost=len(lost), owned=len(ownership_ref[0].owned))

    ownership = PrinterOwnership(
        store=leases,
        owner=name,
        printers=monitoring.printer_ids,
        on_change=changed,
        ttl_s=settings.farm.printer_lease_ttl,
        metrics=metrics,
    )
    ownership_ref.append(ownership)

    async def run_here(printer_id: str, command: str) -> None:
        try:
            known = PrinterCommand(command)
        except ValueError:
            raise PrinterCommandRejected(printer_id, f"unknown command {command[:20]!r}") from None
        await printers.command_here(printer_id, known)

    relay = CommandRelay(announce=announcements.announce, run=run_here, owns=monitoring.owns)
    printers.relay = relay.send

    async def dispatches(keys: Sequence[str]) -> None:
        await dispatch.take_up(_numbers(keys))

    announcements.add_loader(HintKind.STATUS, sharing.load, resync=sharing.load_all, at_start=True)
    announcements.add_loader(HintKind.TELEMETRY, sharing.load_telemetry)
    printers.freshen = sharing.fresh
    printers.detached = monitoring.detached  # PrusaLink's preview of a printer owned elsewhere, fetched from here
    announcements.add_loader(HintKind.COMMAND, relay.commands)
    announcements.add_loader(HintKind.REPLY, relay.replies)
    announcements.add_loader(HintKind.DISPATCH, dispatches)

    async def printers_changed(_keys: Sequence[str]) -> None:
        ownership.wake()  # a printer added elsewhere is claimed at once, not at the next round

    announcements.add_loader(HintKind.PRINTER, printers_changed)
    printers.add_change_listener(lambda _printer_id: ownership.wake())
    shared = SharedFarm(ownership=ownership, sharing=sharing, relay=relay, leases=leases)
    monitoring.fence = shared.fence
    return shared


RELEASE_MEMORY_AFTER = 50
"""Letting go of at least this many printers at once hands the memory they used back to the system."""


def release_freed_memory() -> None:
    """Collect garbage and return the C heap's free pages to the system (glibc's ``malloc_trim``; nothing where
    there is none). A process that held a whole farm at start and handed two thirds of it to the others otherwise
    keeps the peak: about 420 MB where 300 MB serve its share (measured with 1,000 printers on three processes)."""
    began = time.perf_counter()
    gc.collect()
    trimmed = False
    name = ctypes.util.find_library("c")
    if name is not None:
        libc = ctypes.CDLL(name)
        trim = getattr(libc, "malloc_trim", None)
        if trim is not None:
            trimmed = bool(trim(0))
    log.info("farm.memory_released", trimmed=trimmed, took_ms=round((time.perf_counter() - began) * 1000))


def _numbers(keys: Collection[str]) -> list[int]:
    return [int(key) for key in keys if key.isdigit()]
