"""Wiring of filament usage and print costs for the composition root: where a print's estimate comes from (the
dispatched library file: its plate's filaments and the AMS mapping sent with it; for a Bambu print started elsewhere,
its project file read back from the printer) and the prices a printer's jobs are
costed at (the ``costs`` settings and the printer's ``average_watts`` and ``hourly_rate``)."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import structlog

from printfleet.config import Settings
from printfleet.domain.files import NotPrintable
from printfleet.domain.files.model import FileMetadata, Thumbnail
from printfleet.domain.files.threemf import read_3mf, thumbnail_3mf
from printfleet.domain.jobs import Job
from printfleet.domain.materials.costs import CostRates
from printfleet.domain.materials.tracking import FilamentEstimate, UsageSource, UsageTracking
from printfleet.domain.printer import PrinterConfig, PrinterKind, PrinterStatus
from printfleet.inventory.spoolman import SpoolmanClient, SpoolmanError
from printfleet.printers.bambu.ftps import FtpsUploadError
from printfleet.printers.bambu.project_files import fetch_project, printed_plate, project_candidates
from printfleet.services.errors import NotFound
from printfleet.services.events import EventBus
from printfleet.services.files import FileLibrary
from printfleet.services.materials import MaterialsService
from printfleet.services.materials.slots import SlotService
from printfleet.services.materials.spoolman import (
    ReporterPolicy,
    SpoolmanGone,
    SpoolmanRefused,
    SpoolmanReporter,
    SpoolmanUnavailable,
)
from printfleet.services.materials.spoolman_inventory import SpoolmanInventory
from printfleet.services.materials.usage import Estimates, UsageService
from printfleet.services.monitoring import MonitoringService
from printfleet.services.schedule.scheduler import Scheduler
from printfleet.store.database import Database
from printfleet.store.dispatch import SqlDispatchRepository
from printfleet.store.materials.repository import SqlMaterialRepository
from printfleet.store.materials.slots import SqlSlotRepository
from printfleet.store.materials.spoolman import SqlSpoolmanRepository
from printfleet.store.materials.usage import SqlUsageRepository

log = structlog.get_logger(__name__)


def dispatched_file_estimates(dispatches: SqlDispatchRepository, files: FileLibrary) -> Estimates:
    """The estimate of a print sent by printfleet: the library file's plate as sliced (per filament grams and
    metres, layers) and the ``ams_mapping`` of the start command; None for a print started elsewhere or a file
    removed from the library since."""

    async def estimate(job: Job) -> UsageTracking | None:
        if job.dispatch_id is None:
            return None
        dispatch = await dispatches.get(job.dispatch_id)
        if dispatch is None:
            return None
        try:
            library_file = await files.get(dispatch.file_id)
        except NotFound:
            return None
        return plate_estimate(library_file.metadata, dispatch.plate, dispatch.options.ams_mapping)

    return estimate


def plate_estimate(metadata: FileMetadata, plate_index: int, mapping: tuple[int, ...] = ()) -> UsageTracking | None:
    """The tracking's estimate part for plate ``plate_index`` of a file's metadata, or None when it has no such
    plate."""
    plate = next((p for p in metadata.plates if p.index == plate_index), None)
    if plate is None:
        return None
    return UsageTracking(
        estimate=tuple(
            FilamentEstimate(index=f.slot, grams=f.used_g, metres=f.used_m, material=f.type, color=f.color)
            for f in plate.filaments
        ),
        source=UsageSource.FILE,
        plate=plate.index,
        total_layers=plate.layer_count,
        mapping=mapping,
    )


PreviewKeeper = Callable[[Job, Thumbnail], Awaitable[None]]
"""Keeps the plate preview of a print started at the printer (``job_previews``) and shows it."""


def printer_file_estimates(
    printer: Callable[[str], PrinterConfig | None],
    *,
    attempts: int = 12,
    interval_s: float = 5.0,
    keep_preview: PreviewKeeper | None = None,
) -> Estimates:
    """The estimate of a Bambu Lab print printfleet did not send: its project file read back from the printer over
    FTPS (``printfleet.printers.bambu.project_files``), the printed plate's filaments; tried ``attempts`` times
    ``interval_s`` seconds apart, as the file appears only some seconds into a print. None for other printers, or
    when the file is not found or cannot be read (the usage then falls back on what the AMS reports). The printed
    plate's preview (``Metadata/plate_N.png``) goes to ``keep_preview``, so the card shows it."""

    async def estimate(job: Job) -> UsageTracking | None:
        config = printer(job.printer_id)
        if config is None or config.kind is not PrinterKind.BAMBU or job.dispatch_id is not None:
            return None
        candidates = project_candidates(job.job_name, job.filename)
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(interval_s)
            try:
                found = await fetch_project(config, candidates, port=config.effective_ftp_port)
            except FtpsUploadError as exc:
                log.info("materials.project_file_unreadable", printer_id=job.printer_id, reason=exc.reason)
                if exc.reason in ("tls_failed", "auth_failed"):  # not something a later try would change
                    return None
                continue
            except ValueError:
                return None
            if found is None:
                continue
            path, content = found
            try:
                metadata = read_3mf(io.BytesIO(content))
            except (NotPrintable, zipfile.BadZipFile, ValueError):
                log.info("materials.project_file_not_sliced", printer_id=job.printer_id, path=path)
                return None
            log.info("materials.project_file_read", printer_id=job.printer_id, job_id=job.id, path=path)
            plate = printed_plate(job.filename)
            preview = thumbnail_3mf(io.BytesIO(content), plate)
            if keep_preview is not None and preview is not None:
                try:
                    await keep_preview(job, preview)
                except Exception:  # the card's picture must not cost the print its usage
                    log.exception("thumbnails.keep_failed", printer_id=job.printer_id, job_id=job.id)
            return plate_estimate(metadata, plate)
        return None

    return estimate


class SpoolmanLink:
    """The reporter's :class:`~printfleet.services.materials.spoolman.Spoolman` port on the ``inventory.spoolman``
    client: its errors as the service's (a timeout, an unreachable server or a 5xx: the outcome is unknown)."""

    def __init__(self, client: SpoolmanClient) -> None:
        self.client = client

    @staticmethod
    def _translated(exc: SpoolmanError) -> Exception:
        if exc.reason == "not_found":
            return SpoolmanGone(str(exc))
        if exc.reason == "refused":
            return SpoolmanRefused(str(exc))
        return SpoolmanUnavailable(f"{exc.reason}: {exc}")

    async def used_weight(self, spoolman_id: int) -> float:
        """The spool's ``used_weight`` (g)."""
        try:
            return await self.client.used_weight(spoolman_id)
        except SpoolmanError as exc:
            raise self._translated(exc) from None

    async def use(self, spoolman_id: int, grams: float) -> None:
        """Add ``grams`` to the spool's use."""
        try:
            await self.client.use(spoolman_id, grams)
        except SpoolmanError as exc:
            raise self._translated(exc) from None

    async def healthy(self) -> bool:
        """Whether Spoolman answers its health check."""
        return await self.client.healthy()

    async def close(self) -> None:
        """Close the client."""
        await self.client.aclose()


class SpoolmanCatalogLink:
    """The mirror's :class:`~printfleet.services.materials.spoolman_inventory.SpoolmanCatalog` port on the client."""

    def __init__(self, client: SpoolmanClient) -> None:
        self.client = client

    async def list_spools(self, *, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """A page of Spoolman's spools and how many there are."""
        try:
            return await self.client.list_spools(offset=offset, limit=limit)
        except SpoolmanError as exc:
            raise SpoolmanUnavailable(f"{exc.reason}: {exc}") from None

    async def open_changes(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Spoolman's change feed."""
        try:
            return await self.client.open_changes()
        except SpoolmanError as exc:
            raise SpoolmanUnavailable(f"{exc.reason}: {exc}") from None


@dataclass(frozen=True, slots=True)
class SpoolmanParts:
    """Spoolman's running parts: the usage reporter and the inventory mirror (one client)."""

    reporter: SpoolmanReporter
    inventory: SpoolmanInventory


def build_spoolman(
    settings: Settings,
    database: Database,
    bus: EventBus,
    clock: Callable[[], datetime] | None,
    *,
    materials: MaterialsService,
    slots: SlotService,
) -> SpoolmanParts | None:
    """Spoolman's reporter and inventory mirror when ``spoolman.url`` is set, else None."""
    spoolman = settings.spoolman
    if spoolman.url is None:
        return None
    client = SpoolmanClient(
        spoolman.url,
        headers={name: value.get_secret_value() for name, value in spoolman.headers.items()},
        timeout=spoolman.timeout,
    )
    reporter = SpoolmanReporter(
        outbox=SqlSpoolmanRepository(database),
        spoolman=SpoolmanLink(client),
        bus=bus,
        policy=ReporterPolicy(
            retry_initial=timedelta(seconds=spoolman.retry_initial),
            retry_max=timedelta(seconds=spoolman.retry_max),
            interval=timedelta(seconds=min(30.0, spoolman.retry_initial)),
        ),
        clock=clock or (lambda: datetime.now(UTC)),
        on_gone=slots.release,
    )
    inventory = SpoolmanInventory(
        catalog=SpoolmanCatalogLink(client),
        materials=materials,
        on_change=slots.spool_changed,
        reconnect_initial_s=min(spoolman.retry_initial, 5.0),
        reconnect_max_s=spoolman.retry_max,
    )
    return SpoolmanParts(reporter=reporter, inventory=inventory)


def cost_rates(settings: Settings, printer: Callable[[str], PrinterConfig | None]) -> Callable[[str], CostRates]:
    """The prices a printer's jobs are costed at: the ``costs`` settings with the printer's own power and rate."""
    costs = settings.costs

    def rates(printer_id: str) -> CostRates:
        config = printer(printer_id)
        return CostRates(
            currency=costs.currency,
            default_price_per_kg=costs.default_price_per_kg,
            kwh_price=costs.kwh_price,
            average_watts=config.average_watts if config is not None else None,
            hourly_rate=config.hourly_rate if config is not None else None,
        )

    return rates


def build_usage(
    settings: Settings,
    database: Database,
    *,
    slots: SlotService,
    materials: MaterialsService,
    files: FileLibrary,
    printer: Callable[[str], PrinterConfig | None],
    status: Callable[[str], PrinterStatus | None],
    bus: EventBus,
    clock: Callable[[], datetime] | None,
    keep_preview: PreviewKeeper | None = None,
) -> UsageService:
    """The usage service on the store, fed by dispatched files, and for Bambu prints started elsewhere by the project
    file read back from the printer (whose plate preview goes to ``keep_preview``)."""
    return UsageService(
        repository=SqlUsageRepository(database),
        slots=slots,
        materials=materials,
        estimates=dispatched_file_estimates(SqlDispatchRepository(database), files),
        late_estimates=printer_file_estimates(printer, keep_preview=keep_preview),
        rates=cost_rates(settings, printer),
        currency=settings.costs.currency,
        report_to_spoolman=settings.spoolman.url is not None,
        reports_itself=lambda printer_id: bool((live := status(printer_id)) and live.reports_spool_usage),
        bus=bus,
        clock=clock or (lambda: datetime.now(UTC)),
    )


def wire_materials(
    settings: Settings,
    database: Database,
    *,
    bus: EventBus,
    monitoring: MonitoringService,
    scheduler: Scheduler,
    files: FileLibrary,
    clock: Callable[[], datetime] | None,
    keep_preview: PreviewKeeper | None = None,
) -> tuple[MaterialsService, SlotService, UsageService, SpoolmanParts | None]:
    """The inventory, the printers' material slots (a monitoring slot listener; the scheduler's loaded-grams
    check), each print's usage and cost (a monitoring listener of reports), and Spoolman when configured;
    ``keep_preview`` keeps the plate previews of the Bambu project files read back from printers."""
    materials = MaterialsService(
        repository=SqlMaterialRepository(database), **({"clock": clock} if clock is not None else {})
    )
    slots = SlotService(
        repository=SqlSlotRepository(database),
        materials=materials,
        bus=bus,
        auto_create_rfid_spools=settings.materials.auto_create_rfid_spools,
        low_stock_grams=settings.materials.low_stock_grams,
        status_of=monitoring.status,
        on_change=monitoring.refresh,
        **({"clock": clock} if clock is not None else {}),
    )
    monitoring.add_slot_listener(slots.on_printer_slots)
    monitoring.shown.spools = slots.slot_spools
    scheduler.set_stock_check(partial(slots.check_loaded, unknown_grams_ok=True))
    usage = build_usage(
        settings,
        database,
        slots=slots,
        materials=materials,
        files=files,
        printer=monitoring.config,
        status=monitoring.status,
        bus=bus,
        clock=clock,
        keep_preview=keep_preview,
    )
    spoolman = build_spoolman(settings, database, bus, clock, materials=materials, slots=slots)
    monitoring.add_listener(usage.on_report)
    monitoring.add_telemetry_listener(usage.on_report)
    return materials, slots, usage, spoolman
