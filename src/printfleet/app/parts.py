"""The composition root's building blocks (:mod:`printfleet.app` wires them): the adapter for each printer kind,
the self-healing bounds, the record of the running parts, the Discord bot when configured, and the one-time set-up
announcement."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from printfleet.config import DiscordSettings
from printfleet.domain.printer import PrinterConfig, PrinterKind
from printfleet.observability.metrics import PrometheusMetrics
from printfleet.printers.bambu.client import BambuConnection
from printfleet.printers.base import ConnectionObserver
from printfleet.printers.moonraker.client import MoonrakerConnection
from printfleet.printers.octoprint.client import OctoPrintConnection
from printfleet.printers.prusalink.client import PrusaLinkConnection
from printfleet.services.accounts import AccountService
from printfleet.services.dispatch.plates import PlateService
from printfleet.services.dispatch.service import DispatchService
from printfleet.services.events import EventBus
from printfleet.services.farm.status_sharing import StatusSharing
from printfleet.services.files import FileLibrary
from printfleet.services.health import HealthService, StoreHealth
from printfleet.services.jobs import JobService
from printfleet.services.maintenance import MaintenanceService
from printfleet.services.materials import MaterialsService
from printfleet.services.materials.slots import SlotService
from printfleet.services.materials.usage import UsageService
from printfleet.services.monitoring import MonitoringService
from printfleet.services.notifications import NotificationService, Outbox
from printfleet.services.notifications.ports import DiscordPoster
from printfleet.services.orders import OrderService
from printfleet.services.ports import ConnectionFactory, PrinterConnection, StatusCallback
from printfleet.services.printers import PrinterService
from printfleet.services.queue import QueueService
from printfleet.services.schedule import Scheduler, ScheduleService
from printfleet.services.settings import MONITORING_INTERVAL, SettingsService
from printfleet.store.database import Database

log = structlog.get_logger("printfleet.app")


def connection_factory(observer: ConnectionObserver) -> ConnectionFactory:
    """Build the adapter for a printer's kind, reporting to ``observer``'s metrics."""

    def build(config: PrinterConfig, sink: StatusCallback) -> PrinterConnection:
        if config.kind is PrinterKind.BAMBU:
            return BambuConnection(config, sink=sink, observer=observer)
        if config.kind is PrinterKind.PRUSALINK:
            return PrusaLinkConnection(config, sink=sink, observer=observer)
        if config.kind is PrinterKind.MOONRAKER:
            return MoonrakerConnection(config, sink=sink, observer=observer)
        return OctoPrintConnection(config, sink=sink, observer=observer)

    return build


@dataclass(frozen=True, slots=True, kw_only=True)
class Recovery:
    """Backoff bounds, in seconds, of the self-healing: retries of a printer state the store could not take (and
    of the store probe while it fails), and restarts of a crashed printer connection. Tests use small ones."""

    store_retry_initial_s: float = 0.5
    store_retry_max_s: float = 15.0
    restart_initial_s: float = 1.0
    restart_max_s: float = 60.0


@dataclass(slots=True)
class Runtime:
    """The running parts, reachable from tests and the CLI through ``app.state.runtime``."""

    database: Database
    bus: EventBus
    metrics: PrometheusMetrics
    monitoring: MonitoringService
    printers: PrinterService
    jobs: JobService
    settings: SettingsService
    queue: QueueService
    accounts: AccountService
    health: HealthService
    store_health: StoreHealth
    files: FileLibrary
    dispatch: DispatchService
    plates: PlateService
    materials: MaterialsService
    slots: SlotService
    notifications: NotificationService
    outbox: Outbox
    maintenance: MaintenanceService
    schedule: ScheduleService
    orders: OrderService
    scheduler: Scheduler
    usage: UsageService
    sharing: StatusSharing | None = None
    """The printer statuses shared with the other processes of a farm (None: not a shared farm)."""


def warn_about_tls(configs: list[PrinterConfig]) -> None:
    """Warn (once each, at start-up) about Bambu printers whose certificate is not verified."""
    for config in configs:
        if config.kind is PrinterKind.BAMBU and config.tls_insecure:
            log.warning(
                "printer.tls_insecure",
                printer_id=config.id,
                hint="the printer's certificate is not verified; set ca_file to verify it",
            )


def follow_monitoring_interval(settings: SettingsService, monitoring: MonitoringService) -> None:
    """Make the ``monitoring_interval`` setting the poll interval of every polled printer without its own, at once."""

    async def on_settings_changed(old: dict[str, Any], new: dict[str, Any]) -> None:
        if old[MONITORING_INTERVAL] != new[MONITORING_INTERVAL]:
            await monitoring.apply_default_poll_interval()

    settings.add_listener(on_settings_changed)


SLOW_STOP_S = 2.0
"""A part of the server whose stop takes longer than this many seconds is named in a warning."""


@asynccontextmanager
async def logged(name: str, part: AbstractAsyncContextManager[object]) -> AsyncIterator[object]:
    """``part``, with its stop logged: ``printfleet.part_stopping`` (debug) before, ``printfleet.part_stopped`` after
    (a warning when it took over :data:`SLOW_STOP_S` seconds), so a shutdown that hangs or drags names the part."""
    value = await part.__aenter__()
    error: BaseException | None = None
    try:
        yield value
    except BaseException as raised:
        error = raised
        raise
    finally:
        log.debug("printfleet.part_stopping", part=name)
        began = time.monotonic()
        await part.__aexit__(type(error) if error is not None else None, error, error.__traceback__ if error else None)
        took = round(time.monotonic() - began, 2)
        if took > SLOW_STOP_S:
            log.warning("printfleet.part_stopped_slowly", part=name, seconds=took)
        else:
            log.debug("printfleet.part_stopped", part=name, seconds=took)


@asynccontextmanager
async def together(*parts: AbstractAsyncContextManager[object]) -> AsyncIterator[object]:
    """Enter ``parts`` in order as one context (left in reverse order); it yields what the first one yields."""
    async with AsyncExitStack() as stack:
        entered = [await stack.enter_async_context(part) for part in parts]
        yield entered[0] if entered else None


def discord_bot(
    settings: DiscordSettings,
    *,
    queue: QueueService,
    bus: EventBus,
    accounts: AccountService | None = None,
    plates: PlateService | None = None,
    on_poster: Callable[[DiscordPoster | None], None] | None = None,
) -> AbstractAsyncContextManager[object]:
    """The Discord bot when ``settings`` are complete (``discord.enabled``), else nothing; its members act as their
    ``accounts``; ``on_poster`` gets it as the sender of ``discord`` notification channels while it is logged in.
    Entering it never waits for Discord; a refused token or an unreachable Discord is logged and the server runs on
    without the bot."""
    if not settings.enabled:
        return nullcontext()
    from printfleet.bot import DiscordBot  # discord.py is loaded only when the bot runs: about 20 MB less without

    return DiscordBot(settings, queue=queue, bus=bus, accounts=accounts, plates=plates, on_poster=on_poster)


SETUP_MESSAGE = "no account exists yet; create the first admin at {url} (valid 1 hour, once)"


def setup_announcer(*, json_lines: bool) -> Callable[[str], None]:
    """What prints the one-time set-up URL on stderr for the operator: a plain line, or with JSON logs one JSON
    object like the log's lines. It is written straight to stderr, never through the logging pipeline."""

    def announce(url: str) -> None:
        message = SETUP_MESSAGE.format(url=url)
        if json_lines:
            line = {"event": "setup.url", "level": "warning", "message": message, "timestamp": _utcnow_iso()}
            print(json.dumps(line), file=sys.stderr, flush=True)
        else:
            print(f"printfleet: {message}", file=sys.stderr, flush=True)

    return announce


def _utcnow_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
