"""Wiring of filament usage and print costs for the composition root: where a print's estimate comes from (the
dispatched library file: its plate's filaments and the AMS mapping sent with it) and the prices a printer's jobs are
costed at (the ``costs`` settings and the printer's ``average_watts`` and ``hourly_rate``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from printfleet.config import Settings
from printfleet.domain.jobs import Job
from printfleet.domain.materials.costs import CostRates
from printfleet.domain.materials.usage import FilamentEstimate, UsageSource, UsageTracking
from printfleet.domain.printer import PrinterConfig
from printfleet.services.errors import NotFound
from printfleet.services.events import EventBus
from printfleet.services.files import FileLibrary
from printfleet.services.materials import MaterialsService
from printfleet.services.materials.slots import SlotService
from printfleet.services.materials.usage import Estimates, UsageService
from printfleet.store.database import Database
from printfleet.store.dispatch import SqlDispatchRepository
from printfleet.store.materials.usage import SqlUsageRepository


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
        plate = next((p for p in library_file.metadata.plates if p.index == dispatch.plate), None)
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
            mapping=dispatch.options.ams_mapping,
        )

    return estimate


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
    bus: EventBus,
    clock: Callable[[], datetime] | None,
) -> UsageService:
    """The usage service on the store, fed by dispatched files."""
    return UsageService(
        repository=SqlUsageRepository(database),
        slots=slots,
        materials=materials,
        estimates=dispatched_file_estimates(SqlDispatchRepository(database), files),
        rates=cost_rates(settings, printer),
        currency=settings.costs.currency,
        bus=bus,
        **({"clock": clock} if clock is not None else {}),
    )
