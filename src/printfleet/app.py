"""Composition root: the only place that knows the concrete store, adapters and metrics, and wires them.

``build_app(settings)`` returns the FastAPI application; its lifespan migrates the database, seeds the
configuration file's printers, starts one connection per printer and stops everything on shutdown. Polled printers
without their own ``poll_interval`` poll at the ``monitoring_interval`` setting, and are reconnected when it
changes. The store reports every transaction's outcome to the store health, which ``/healthz`` reads together with
the monitoring service's own reasons (add a source to ``Runtime.health`` for a new one).
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI

from printfleet.api.app import create_api
from printfleet.api.context import ApiContext
from printfleet.app_materials import wire_materials
from printfleet.app_notifications import build_notifications
from printfleet.app_orders import build_etsy, orders_policy_of
from printfleet.app_schedule import for_member_printers, member_printers, schedule_policy_of
from printfleet.bot import DiscordBot
from printfleet.config import DiscordSettings, Settings
from printfleet.domain.printer import PrinterConfig, PrinterKind
from printfleet.domain.queue_commands import RateLimit
from printfleet.observability.metrics import PrometheusMetrics
from printfleet.printers.bambu.client import BambuConnection
from printfleet.printers.base import ConnectionObserver
from printfleet.printers.moonraker.client import MoonrakerConnection
from printfleet.printers.octoprint.client import OctoPrintConnection
from printfleet.printers.prusalink.client import PrusaLinkConnection
from printfleet.security.passwords import Argon2PasswordHasher
from printfleet.services.accounts import AccountService, AccountSettings
from printfleet.services.accounts.ports import PasswordHasher
from printfleet.services.dispatch.plates import PlateService
from printfleet.services.dispatch.service import DispatchService
from printfleet.services.dispatch.steps import DispatchTimings
from printfleet.services.events import EventBus
from printfleet.services.files import FileLibrary
from printfleet.services.health import HealthService, StoreHealth
from printfleet.services.jobs import JobService
from printfleet.services.leases import Roles, process_identity
from printfleet.services.maintenance import MaintenanceService
from printfleet.services.materials import MaterialsService
from printfleet.services.materials.slots import SlotService
from printfleet.services.materials.usage import UsageService
from printfleet.services.monitoring import MonitoringService
from printfleet.services.notifications import NotificationService, Outbox
from printfleet.services.orders import OrderService
from printfleet.services.ports import ConnectionFactory, PrinterConnection, StatusCallback
from printfleet.services.printers import PrinterService
from printfleet.services.queue import QueueService
from printfleet.services.schedule import Scheduler, ScheduleService
from printfleet.services.settings import MONITORING_INTERVAL, SettingsService
from printfleet.services.statistics import StatisticsService
from printfleet.store.accounts.audit import SqlAuditRepository
from printfleet.store.accounts.repository import SqlAccountRepository
from printfleet.store.database import Database, migrate
from printfleet.store.dispatch import SqlDispatchRepository, SqlPlateRepository
from printfleet.store.files import SqlFileRepository
from printfleet.store.jobs import SqlJobRepository
from printfleet.store.leases import SqlLeaseRepository
from printfleet.store.maintenance import SqlMaintenanceRepository
from printfleet.store.orders.repository import SqlOrderRepository
from printfleet.store.printers import SqlPrinterRepository, SqlSettingsRepository
from printfleet.store.process_lock import hold_sqlite
from printfleet.store.queue import SqlQueueRepository
from printfleet.store.schedule import SqlScheduleRepository
from printfleet.store.statistics import SqlStatisticsRepository
from printfleet.web import mount_web

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


def _warn_about_tls(configs: list[PrinterConfig]) -> None:
    for config in configs:
        if config.kind is PrinterKind.BAMBU and config.tls_insecure:
            log.warning(
                "printer.tls_insecure",
                printer_id=config.id,
                hint="the printer's certificate is not verified; set ca_file to verify it",
            )


def _follow_monitoring_interval(settings: SettingsService, monitoring: MonitoringService) -> None:
    """Make the ``monitoring_interval`` setting the poll interval of every polled printer without its own, at once."""

    async def on_settings_changed(old: dict[str, Any], new: dict[str, Any]) -> None:
        if old[MONITORING_INTERVAL] != new[MONITORING_INTERVAL]:
            await monitoring.apply_default_poll_interval()

    settings.add_listener(on_settings_changed)


def discord_bot(
    settings: DiscordSettings,
    *,
    queue: QueueService,
    bus: EventBus,
    accounts: AccountService | None = None,
    plates: PlateService | None = None,
) -> AbstractAsyncContextManager[object]:
    """The Discord bot when ``settings`` are complete (``discord.enabled``), else nothing; its members act as their
    ``accounts``. Entering it never waits for Discord; a refused token or an unreachable Discord is logged and the
    server runs on without the bot."""
    if not settings.enabled:
        return nullcontext()
    return DiscordBot(settings, queue=queue, bus=bus, accounts=accounts, plates=plates)


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


def build_app(
    settings: Settings,
    *,
    extra_printers: Sequence[PrinterConfig] = (),
    factory: ConnectionFactory | None = None,
    clock: Callable[[], datetime] | None = None,
    recovery: Recovery | None = None,
    password_hasher: PasswordHasher | None = None,
    announce_setup: Callable[[str], None] | None = None,
    dispatch_timings: DispatchTimings | None = None,
) -> FastAPI:
    """The whole application for ``settings``.

    ``extra_printers`` are seeded like the configuration file's (the demo's simulated farm); ``factory`` replaces
    the adapters; ``clock`` (aware UTC) replaces the wall clock of job times (tests of clock jumps); ``recovery``
    replaces the self-healing backoff bounds; ``password_hasher`` replaces argon2id's recommended cost (tests). When
    no account exists at start-up, ``announce_setup(url)`` is called once with the one-time set-up URL (the default
    prints it on stderr; it is never logged). ``dispatch_timings`` replaces the dispatch confirmation windows
    (tests).
    """
    tuning = recovery or Recovery()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sqlite_lock = hold_sqlite(settings.database_url)  # SqliteInUse: another process has the file
        try:
            async with _running(app):
                yield
        finally:
            sqlite_lock.release()

    @asynccontextmanager
    async def _running(app: FastAPI) -> AsyncIterator[None]:
        await migrate(settings.database_url)
        metrics = PrometheusMetrics()
        store_health = StoreHealth(
            metrics=metrics, retry_initial_s=tuning.store_retry_initial_s, retry_max_s=tuning.store_retry_max_s
        )
        async with Database(settings.database_url, observer=store_health) as database:
            store_health.probe = database.ping
            bus = EventBus()
            repository = SqlPrinterRepository(database)
            settings_service = SettingsService(
                repository=SqlSettingsRepository(database),
                bus=bus,
                auto_create=settings.job_creation.auto_create,
                monitoring_interval=settings.monitoring_interval,
            )
            await settings_service.load()
            jobs = JobService(
                repository=SqlJobRepository(database),
                settings=settings_service,
                bus=bus,
                metrics=metrics,
                **({"clock": clock} if clock is not None else {}),
            )
            monitoring = MonitoringService(
                repository=repository,
                bus=bus,
                connection_factory=factory or connection_factory(metrics),
                metrics=metrics,
                default_poll_interval=lambda: settings_service.monitoring_interval,
                store_retry_initial_s=tuning.store_retry_initial_s,
                store_retry_max_s=tuning.store_retry_max_s,
                restart_initial_s=tuning.restart_initial_s,
                restart_max_s=tuning.restart_max_s,
            )
            health = HealthService()
            health.add_source("store", store_health.reasons)
            health.add_source("printers", monitoring.health_reasons)
            _follow_monitoring_interval(settings_service, monitoring)
            monitoring.add_listener(jobs.on_printer_change)
            monitoring.add_telemetry_listener(jobs.on_telemetry)  # the first layer done
            jobs.attach(monitoring.watched)
            queue = QueueService(
                repository=SqlQueueRepository(database),
                jobs=SqlJobRepository(database),
                bus=bus,
                printers=lambda: member_printers(monitoring.watched()),
                policy=settings.queue.policy(),
                rate_limit=RateLimit(capacity=settings.queue.rate_limit.burst, interval=settings.queue.rate_limit.per),
                startup_grace=settings.queue.startup_grace,
                **({"clock": clock} if clock is not None else {}),
            )
            # After the job tracker (the print's job exists); only member-queue printers concern the queue.
            monitoring.add_listener(for_member_printers(queue.on_printer_change))
            plates_ref: list[PlateService] = []

            async def forget_plate(printer_id: str) -> None:
                for plates_service in plates_ref:
                    await plates_service.forget(printer_id)

            printers = PrinterService(
                repository=repository,
                monitoring=monitoring,
                on_removed=[jobs.close_for_removed_printer, queue.on_printer_removed, forget_plate],
                on_added=[jobs.printer_added],
            )
            accounts = AccountService(
                repository=SqlAccountRepository(database),
                audit=SqlAuditRepository(database),
                hasher=password_hasher or Argon2PasswordHasher(),
                settings=AccountSettings(
                    session_idle=settings.auth.session_idle,
                    session_absolute=settings.auth.session_absolute,
                    discord_auto_provision=settings.discord.auto_provision,
                ),
            )
            await accounts.purge_sessions()
            setup_token = await accounts.issue_setup_token()
            if setup_token is not None:
                announce = announce_setup or setup_announcer(json_lines=settings.logging.format == "json")
                announce(f"http://{settings.http.host}:{settings.http.port}/setup?token={setup_token}")
            files = FileLibrary(
                repository=SqlFileRepository(database),
                directory=Path(settings.files.directory),
                max_size=settings.files.max_size,
            )
            await files.remove_stale_uploads()
            plates = PlateService(
                repository=SqlPlateRepository(database),
                jobs=SqlJobRepository(database),
                bus=bus,
                on_change=monitoring.refresh,
                known_printer=lambda printer_id: monitoring.status(printer_id) is not None,
                **({"clock": clock} if clock is not None else {}),
            )
            await plates.load()
            plates_ref.append(plates)
            monitoring.set_plate_lookup(plates.needs_clearing)
            monitoring.add_listener(plates.on_printer_change)  # after jobs and queue: the print's job has ended
            dispatch = DispatchService(
                repository=SqlDispatchRepository(database),
                files=files,
                jobs=jobs,
                printers=monitoring,
                plates=plates,
                bus=bus,
                queue=queue,
                require_plate_clear=settings.dispatch.require_plate_clear,
                timings=dispatch_timings,
                on_sending_changed=monitoring.refresh,
                **({"clock": clock} if clock is not None else {}),
            )
            monitoring.set_sending_lookup(dispatch.sending)
            schedule_policy = schedule_policy_of(settings)
            schedule_repository = SqlScheduleRepository(database, **({"clock": clock} if clock is not None else {}))
            scheduler = Scheduler(
                repository=schedule_repository,
                dispatch=dispatch,
                printers=monitoring,
                plates=plates,
                jobs=jobs,
                files=files,
                bus=bus,
                policy=schedule_policy,
                **({"clock": clock} if clock is not None else {}),
            )
            monitoring.add_listener(scheduler.on_printer_change)  # after plates: a plate raised is seen
            schedule = ScheduleService(
                repository=schedule_repository,
                scheduler=scheduler,
                files=files,
                printers=monitoring,
                bus=bus,
                policy=schedule_policy,
                **({"clock": clock} if clock is not None else {}),
            )
            materials, slots, usage, spoolman = wire_materials(
                settings, database, bus=bus, monitoring=monitoring, scheduler=scheduler, files=files, clock=clock
            )
            notify_settings = settings.notifications
            notifying = build_notifications(
                notify_settings,
                database=database,
                bus=bus,
                accounts=accounts,
                jobs=jobs,
                queue_entries=queue.entry,
                printers_now=monitoring.watched,
                clock=clock,
            )
            outbox, notifications = notifying.outbox, notifying.service
            maintenance = MaintenanceService(
                repository=SqlMaintenanceRepository(database),
                bus=bus,
                printers=lambda: [config for config, _ in monitoring.watched()],
                clock=clock or (lambda: datetime.now(UTC)),
            )
            orders = OrderService(
                repository=SqlOrderRepository(database),
                schedule=schedule,
                bus=bus,
                policy=orders_policy_of(settings),
                **({"clock": clock} if clock is not None else {}),
            )
            etsy = build_etsy(settings, database, orders, clock, bus=bus)
            seeded = [*settings.printer_configs(), *extra_printers]
            _warn_about_tls(seeded)
            await printers.seed(seeded)
            app.state.runtime = Runtime(
                database=database,
                bus=bus,
                metrics=metrics,
                monitoring=monitoring,
                printers=printers,
                jobs=jobs,
                settings=settings_service,
                queue=queue,
                accounts=accounts,
                health=health,
                store_health=store_health,
                files=files,
                dispatch=dispatch,
                plates=plates,
                materials=materials,
                slots=slots,
                notifications=notifications,
                outbox=outbox,
                maintenance=maintenance,
                schedule=schedule,
                scheduler=scheduler,
                orders=orders,
                usage=usage,
            )
            bot = discord_bot(settings.discord, queue=queue, bus=bus, accounts=accounts, plates=plates)
            health.add_source("discord", lambda: [bot.problem] if isinstance(bot, DiscordBot) and bot.problem else [])
            roles = Roles(
                SqlLeaseRepository(database) if database.dialect_name == "postgresql" else None,
                owner=process_identity(),
                metrics=metrics,
            )
            delivery = roles.role("notifications.delivery", outbox.delivering)
            alerts = roles.role("notifications.printer_alerts", lambda: notifying.alerts)
            app.state.context = ApiContext(
                printers=printers,
                monitoring=monitoring,
                jobs=jobs,
                settings=settings_service,
                queue=queue,
                accounts=accounts,
                files=files,
                dispatch=dispatch,
                plates=plates,
                materials=materials,
                slots=slots,
                notifications=notifications,
                maintenance=maintenance,
                schedule=schedule,
                orders=orders,
                usage=usage,
                statistics=StatisticsService(
                    SqlStatisticsRepository(database), **({"clock": clock} if clock is not None else {})
                ),
                spoolman=spoolman.reporter if spoolman else None,
                shop=etsy.sync if etsy else None,
                shop_connector=etsy.connector if etsy else None,
                bus=bus,
                health=health,
                render_metrics=metrics.render,
                secure_cookies=settings.http.secure_cookies,
                metrics_token=settings.metrics.token.get_secret_value() if settings.metrics.token else None,
                roles=roles.held,
            )
            # The bot subscribes to the bus before the queue starts, so it hears the offers made at start-up.
            # The outbox subscribes first and stops last: it hears every event published while the rest runs.
            outbox_context: AbstractAsyncContextManager[object] = outbox if notify_settings.enabled else nullcontext()
            delivery_context: AbstractAsyncContextManager[object] = (
                delivery if notify_settings.enabled else nullcontext()
            )
            # Each of these runs in one process of a farm at a time (a role; docs/farm.md).
            shop_context: AbstractAsyncContextManager[object] = (
                roles.role("shop.etsy", lambda: etsy.sync) if etsy else nullcontext()
            )
            spoolman_context: AbstractAsyncContextManager[object] = (
                roles.role("spoolman.reports", lambda: spoolman.reporter) if spoolman else nullcontext()
            )
            mirror_context: AbstractAsyncContextManager[object] = (
                roles.role("spoolman.inventory", lambda: spoolman.inventory) if spoolman else nullcontext()
            )
            try:
                async with (
                    outbox_context,
                    delivery_context,
                    alerts,
                    notifying.reminders,
                    bot,
                    queue,
                    monitoring,
                    dispatch,
                    roles.role("schedule.dispatch", lambda: scheduler),
                    maintenance,
                    spoolman_context,
                    mirror_context,
                    usage,
                    orders,
                    shop_context,
                ):
                    log.info("printfleet.started", printers=len(monitoring.watched()))
                    yield
            finally:
                await notifying.sender.aclose()
                if etsy is not None:
                    await etsy.http.aclose()
                if spoolman is not None:
                    await spoolman.reporter.close()
                await store_health.close()
            log.info("printfleet.stopped")

    app = create_api(
        lifespan,
        allowed_hosts=settings.http.host_names(),
        max_body_bytes=settings.http.max_body_bytes,
        max_upload_bytes=settings.files.max_size,
    )
    mount_web(app)
    return app
