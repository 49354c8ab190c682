"""Composition root: the only place that knows the concrete store, adapters and metrics, and wires them.

``build_app(settings)`` returns the FastAPI application; its lifespan migrates the database, seeds the
configuration file's printers, starts one connection per printer and stops everything on shutdown. Polled printers
without their own ``poll_interval`` poll at the ``monitoring_interval`` setting, and are reconnected when it
changes. The store reports every transaction's outcome to the store health, which ``/healthz`` reads together with
the monitoring service's own reasons (add a source to ``Runtime.health`` for a new one).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

import structlog
from fastapi import FastAPI

from printfleet.api.app import create_api
from printfleet.api.context import ApiContext
from printfleet.app.farm import Shown, farm_announcements
from printfleet.app.materials import wire_materials
from printfleet.app.notifications import build_notifications
from printfleet.app.orders import build_etsy, orders_policy_of
from printfleet.app.parts import (
    Recovery,
    Runtime,
    connection_factory,
    discord_bot,
    follow_monitoring_interval,
    logged,
    setup_announcer,
    together,
    warn_about_tls,
)
from printfleet.app.schedule import for_member_printers, member_printers, schedule_policy_of
from printfleet.app.shared_farm import ConnectedPrinters, build_shared_farm, shares_printers
from printfleet.config import Settings
from printfleet.domain.files.model import Thumbnail
from printfleet.domain.jobs import Job
from printfleet.domain.printer import PrinterConfig
from printfleet.domain.queue_commands import RateLimit
from printfleet.observability.metrics import PrometheusMetrics
from printfleet.security.passwords import Argon2PasswordHasher
from printfleet.services.accounts import AccountService, AccountSettings
from printfleet.services.accounts.ports import PasswordHasher
from printfleet.services.dispatch.plates import PlateService
from printfleet.services.dispatch.service import DispatchService
from printfleet.services.dispatch.steps import DispatchTimings
from printfleet.services.events import EventBus
from printfleet.services.farm.announcements import FarmAnnouncements
from printfleet.services.files import FileLibrary
from printfleet.services.health import HealthService, StoreHealth
from printfleet.services.jobs import JobService
from printfleet.services.leases import Roles, process_identity
from printfleet.services.maintenance import MaintenanceService
from printfleet.services.monitoring import MonitoringService
from printfleet.services.orders import OrderService
from printfleet.services.ports import ConnectionFactory
from printfleet.services.print_thumbnails import PrintThumbnails
from printfleet.services.printers import PrinterService
from printfleet.services.queue import QueueService
from printfleet.services.schedule import Scheduler, ScheduleService
from printfleet.services.schedule.up_next import UpNextTracker
from printfleet.services.settings import SettingsService
from printfleet.services.statistics import StatisticsService
from printfleet.store.accounts.audit import SqlAuditRepository
from printfleet.store.accounts.repository import SqlAccountRepository
from printfleet.store.database import Database, migrate
from printfleet.store.dispatch import SqlDispatchRepository, SqlPlateRepository
from printfleet.store.files import SqlFileRepository
from printfleet.store.job_previews import SqlJobPreviews
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
            shared_farm = shares_printers(settings, database)
            monitoring = MonitoringService(
                shared_farm=shared_farm,
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
            follow_monitoring_interval(settings_service, monitoring)
            monitoring.add_listener(jobs.on_printer_change)
            monitoring.add_telemetry_listener(jobs.on_telemetry)  # the first layer done
            jobs.attach(monitoring.connected)
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
            monitoring.shown.plate = plates.needs_clearing
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
            monitoring.shown.sending = dispatch.sending
            schedule_policy = schedule_policy_of(settings)
            schedule_repository = SqlScheduleRepository(database, **({"clock": clock} if clock is not None else {}))
            scheduler = Scheduler(
                repository=schedule_repository,
                dispatch=dispatch,
                printers=ConnectedPrinters(monitoring),  # in a shared farm, each process schedules for its own
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
            up_next = UpNextTracker(timeline=schedule.timeline, bus=bus, refresh=monitoring.refresh)
            monitoring.shown.next_print = up_next.lookup

            async def file_of_dispatch(dispatch_id: int) -> tuple[int, int]:
                sent = await dispatch.get(dispatch_id)
                return sent.file_id, sent.plate

            job_previews = SqlJobPreviews(database)
            thumbnails = PrintThumbnails(
                bus=bus,
                file_of_dispatch=file_of_dispatch,
                file=files.get,
                refresh=monitoring.refresh,
                has_preview=job_previews.has,
            )
            monitoring.shown.thumbnail = thumbnails.lookup

            async def keep_preview(job: Job, preview: Thumbnail) -> None:
                if await job_previews.save(job.id, preview):
                    await thumbnails.preview_kept(job)

            materials, slots, usage, spoolman = wire_materials(
                settings,
                database,
                bus=bus,
                monitoring=monitoring,
                scheduler=scheduler,
                files=files,
                clock=clock,
                keep_preview=keep_preview,
            )
            notify_settings = settings.notifications
            notifying = build_notifications(
                notify_settings,
                database=database,
                bus=bus,
                accounts=accounts,
                jobs=jobs,
                queue_entries=queue.entry,
                printers_now=monitoring.connected,
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
            warn_about_tls(seeded)
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
            identity = process_identity()
            roles = Roles(
                SqlLeaseRepository(database) if database.dialect_name == "postgresql" else None,
                owner=identity,
                metrics=metrics,
            )
            announcements = farm_announcements(
                database,
                Shown(
                    bus=bus,
                    settings=settings_service,
                    printers=printers,
                    jobs=jobs,
                    queue=queue,
                    dispatch=dispatch,
                    plates=plates,
                    schedule=schedule,
                    scheduler=scheduler,
                    orders=orders,
                    shop_wake=etsy.sync.wake if etsy else None,
                ),
                sender=identity,
                metrics=metrics,
            )
            farm = (
                build_shared_farm(
                    settings,
                    database,
                    bus=bus,
                    monitoring=monitoring,
                    printers=printers,
                    dispatch=dispatch,
                    announcements=announcements,
                    metrics=metrics,
                )
                if shared_farm and isinstance(announcements, FarmAnnouncements)
                else None
            )
            app.state.runtime.sharing = farm.sharing if farm is not None else None
            bots: list[AbstractAsyncContextManager[object]] = []

            delivering_here = notify_settings.enabled
            notifying.sender.discord.bot_configured = settings.discord.enabled

            def start_bot() -> AbstractAsyncContextManager[object]:
                """A fresh bot each time this process takes the role (a bot that stopped cannot log in again), with
                the notifications' delivery, so that discord channels are sent by the process that runs the bot."""
                bots[:] = [
                    discord_bot(
                        settings.discord,
                        queue=queue,
                        bus=bus,
                        accounts=accounts,
                        plates=plates,
                        on_poster=notifying.sender.discord.attach,
                    )
                ]
                return together(bots[0], outbox.delivering() if delivering_here else nullcontext())

            # One process of a farm talks to Discord: two gateways on one token would both answer every command.
            bot_role = roles.role("discord.bot", start_bot) if settings.discord.enabled else None
            bot: AbstractAsyncContextManager[object] = bot_role if bot_role is not None else nullcontext()

            def bot_problem() -> list[str]:
                running = bots[0] if bots and bot_role is not None and bot_role.held else None
                problem = getattr(running, "problem", None)  # a DiscordBot's (discord.py is loaded only for it)
                return [problem] if isinstance(problem, str) and problem else []

            health.add_source("discord", bot_problem)
            # With the bot configured, delivery goes with the bot's role (above); else it is a role of its own.
            delivery: AbstractAsyncContextManager[object] = (
                nullcontext() if bot_role is not None else roles.role("notifications.delivery", outbox.delivering)
            )
            # In a shared farm each process raises the alarms of the printers it owns (it alone sees their reports).
            alerts = (
                notifying.alerts
                if farm is not None
                else roles.role("notifications.printer_alerts", lambda: notifying.alerts)
            )
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
                certificates=Path(settings.files.directory).parent / "certificates",
                job_preview=job_previews.get,
                **({"watching": farm.sharing.watching} if farm is not None else {}),
            )
            # The bot subscribes to the bus before the queue's deadlines start, so it hears the offers made at start-up.
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
            await queue.load()  # every process takes queue commands; one runs its deadlines (a role)
            try:
                async with (
                    # first in, last out: it hears every event and sends the last ones
                    logged("announcements", announcements),
                    logged("notifications.outbox", outbox_context),
                    logged("notifications.delivery", delivery_context),
                    logged("notifications.printer_alerts", alerts),
                    logged("notifications.claim_reminders", notifying.reminders),
                    logged("discord.bot", bot),
                    logged("queue.deadlines", roles.role("queue.deadlines", queue.deadlines)),
                    # the printers: known, then (a shared farm) owned and connected, with their prints in flight
                    together(
                        logged("monitoring", monitoring),
                        logged("dispatch", dispatch),
                        logged("farm.printers", farm.running() if farm is not None else nullcontext()),
                    ),
                    # In a shared farm each process schedules the prints of the printers it owns.
                    logged(
                        "schedule.dispatch",
                        scheduler if farm is not None else roles.role("schedule.dispatch", lambda: scheduler),
                    ),
                    logged("maintenance", maintenance),
                    logged("schedule.up_next", up_next),
                    logged("print_thumbnails", thumbnails),
                    logged("spoolman.reports", spoolman_context),
                    logged("spoolman.inventory", mirror_context),
                    logged("materials.usage", usage),
                    logged("orders", orders),
                    logged("shop.etsy", shop_context),
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
