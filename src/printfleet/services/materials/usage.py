"""Filament used by every print and what it cost: :class:`UsageService`.

- **At the start** of a print (its job created, or a pending job started) the service records its
  :class:`~printfleet.domain.materials.usage.UsageTracking`: the plate's estimate and AMS mapping from the
  ``estimates`` port (the dispatched library file; see the composition root) and what is in every slot of the printer
  (spool, material, colour, AMS ``remain``), stored before anything else happens, so a restart mid-print still closes
  the usage right.
- **While it runs**, each report (a monitoring telemetry and state listener; memory only, cheap) adds the slot feeding
  the nozzle and the last non-zero progress and layer; a newly seen feeding slot is stored.
- **When it ends**, the usage lines are computed (:func:`~printfleet.domain.materials.usage.compute_usage`), priced
  (:func:`~printfleet.domain.materials.costs.job_cost`) and stored with the spools' deduction in one transaction that
  happens once per job (:meth:`UsageRepository.settle`); ``job_cost_recorded`` is published after it. Jobs that ended
  while the service was not running (a crash between the end and the settlement) are settled at start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import structlog

from printfleet.domain.events import JobAutoCreated, JobCostRecorded, JobUpdated
from printfleet.domain.jobs import Job, JobStatus
from printfleet.domain.materials.costs import CostGrouping, CostRates, CostRow, JobCost, job_cost, price_per_gram
from printfleet.domain.materials.tracking import SlotState, UsageTracking
from printfleet.domain.materials.usage import PrintOutcome, UsageLine, compute_usage
from printfleet.domain.printer import PrinterConfig, PrinterStatus
from printfleet.services.errors import NotFound, StoreUnavailable
from printfleet.services.events import EventBus, Subscription
from printfleet.services.materials.ports import UsageRepository
from printfleet.services.materials.service import MaterialsService
from printfleet.services.materials.slots import LoadedSlot, SlotService

log = structlog.get_logger(__name__)


LATE_TRACKING = timedelta(minutes=10)
"""A job that ended this recently without a recorded start (the process stopped right after the print began) is
tracked from what is known when it ends; an older one (a job from before usage was tracked, edited now) is not."""

Estimates = Callable[[Job], Awaitable[UsageTracking | None]]
"""The printed plate's estimate, plate, layers and AMS mapping of a job's print (a tracking without slots), or None
when nothing is known."""


def _state(loaded: LoadedSlot) -> SlotState:
    record, spool = loaded.record, loaded.spool
    filament = spool.filament if spool is not None else None
    return SlotState(
        slot=record.slot,
        present=record.present,
        spool_id=record.spool_id,
        material=record.material_type,
        color=record.color,
        remain_pct=record.remaining_pct,
        label_weight_g=record.label_weight_g,
        density_g_cm3=filament.density_g_cm3 if filament is not None else None,
        diameter_mm=filament.diameter_mm if filament is not None else None,
    )


def _customer(job: Job) -> str | None:
    name = job.customer_info.get("name")
    return name.strip() or None if isinstance(name, str) else None


class UsageService:
    """Tracks each print's filament use and fixes its cost when it ends (see the module). ``rates(printer_id)``
    gives the prices a printer's jobs are costed at; ``currency`` (ISO 4217) is the one they are costed in now. With
    ``report_to_spoolman`` a print's use of spools linked to Spoolman is put in the Spoolman outbox, unless
    ``reports_itself(printer_id)`` (a Moonraker with its own ``[spoolman]`` reports it)."""

    def __init__(
        self,
        *,
        repository: UsageRepository,
        slots: SlotService,
        materials: MaterialsService,
        estimates: Estimates,
        late_estimates: Estimates | None = None,
        rates: Callable[[str], CostRates],
        currency: str,
        bus: EventBus,
        report_to_spoolman: bool = False,
        reports_itself: Callable[[str], bool] = lambda _printer_id: False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._repository = repository
        self._slots = slots
        self._materials = materials
        self._estimates = estimates
        self._late_estimates = late_estimates
        self._fetching: set[asyncio.Task[None]] = set()
        self._rates = rates
        self.currency = currency
        self._report_to_spoolman = report_to_spoolman
        self._reports_itself = reports_itself
        self._bus = bus
        self._clock = clock
        self._live: dict[str, tuple[int, UsageTracking]] = {}  # printer id → (running job id, its tracking)
        self._lock = asyncio.Lock()
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    # -- following prints ------------------------------------------------------------------------------------

    async def track(self, job: Job) -> UsageTracking:
        """Record what ``job``'s print will be charged from (once; a job tracked before keeps its first record) and
        follow it; the tracking. Raises StoreUnavailable."""
        known = self._live.get(job.printer_id)
        if known is not None and known[0] == job.id:
            return known[1]
        stored = await self._repository.tracking(job.id)
        if stored is None:
            stored = await self._new_tracking(job)
            if not await self._repository.start_tracking(job.id, job.printer_id, stored, at=self._clock()):
                stored = await self._repository.tracking(job.id) or stored
            else:
                log.info(
                    "materials.usage_tracked",
                    printer_id=job.printer_id,
                    job_id=job.id,
                    filaments=len(stored.estimate),
                    mapped=bool(stored.mapping),
                )
        self._live[job.printer_id] = (job.id, stored)
        if not stored.estimate and self._late_estimates is not None:
            task = asyncio.create_task(self._estimate_later(job), name=f"usage-estimate-{job.id}")
            self._fetching.add(task)
            task.add_done_callback(self._fetching.discard)
        return stored

    async def _estimate_later(self, job: Job) -> None:
        """Read the estimate a slow source gives (a project file read back from the printer) and add it to the
        print's tracking, unless the print ended or another estimate came meanwhile."""
        assert self._late_estimates is not None
        try:
            found = await self._late_estimates(job)
        except Exception:  # a printer that cannot be read must not stop the tracking
            log.exception("materials.usage_estimate_failed", printer_id=job.printer_id, job_id=job.id)
            return
        known = self._live.get(job.printer_id)
        if found is None or not found.estimate or known is None or known[0] != job.id or known[1].estimate:
            return
        tracking = replace(
            known[1],
            estimate=found.estimate,
            source=found.source,
            plate=found.plate,
            total_layers=found.total_layers or known[1].total_layers,
        )
        self._live[job.printer_id] = (job.id, tracking)
        with contextlib.suppress(StoreUnavailable):  # kept in memory: the print's end uses it
            await self._repository.save_tracking(job.id, tracking, at=self._clock())

    async def _new_tracking(self, job: Job) -> UsageTracking:
        """What ``job``'s print will be charged from, as things are now: the estimate and what is in the slots."""
        planned = await self._estimate(job)
        loaded = await self._printer_slots(job.printer_id)
        active = next((slot.record.slot for slot in loaded if slot.record.active), None)
        return replace(
            planned,
            slots=tuple(_state(slot) for slot in loaded),
            active_at_start=active,
            used_slots=(active,) if active is not None else (),
        )

    async def _estimate(self, job: Job) -> UsageTracking:
        try:
            return await self._estimates(job) or UsageTracking()
        except StoreUnavailable:
            raise
        except Exception:  # a file that cannot be read must not stop the tracking of the slots
            log.exception("materials.usage_estimate_failed", printer_id=job.printer_id, job_id=job.id)
            return UsageTracking()

    async def _printer_slots(self, printer_id: str) -> list[LoadedSlot]:
        try:
            return await self._slots.printer_slots(printer_id)
        except NotFound:  # a printer removed meanwhile
            return []

    async def on_report(self, config: PrinterConfig, previous: PrinterStatus | None, current: PrinterStatus) -> None:
        """A monitoring listener (state changes and telemetry): note the slot feeding the running print and its
        last non-zero progress and layer; a newly seen feeding slot is stored (rare: a filament change)."""
        known = self._live.get(config.id)
        if known is None or not current.state.is_active:
            return
        job_id, tracking = known
        slots = current.material_slots
        active = slots.active.label if slots is not None and slots.active is not None else None
        grown = tracking.seen(
            active=active,
            progress=current.progress,
            layer=current.layer,
            used_mm=current.filament_used_mm,
            estimate_mm=current.filament_estimate_mm,
            estimate_g=current.filament_estimate_g,
            mapping=current.ams_mapping,
        )
        if grown == tracking:
            return
        self._live[config.id] = (job_id, grown)
        if (
            grown.used_slots != tracking.used_slots
            or grown.estimate != tracking.estimate
            or grown.mapping != tracking.mapping
        ):
            await self._repository.save_tracking(job_id, grown, at=self._clock())

    # -- closing -----------------------------------------------------------------------------------------------

    async def settle(self, job_id: int) -> bool:
        """Charge the ended job's usage to its spools and fix its cost, once; False when there is nothing to do
        (not ended, settled before, or never tracked and ended more than :data:`LATE_TRACKING` ago). Raises
        StoreUnavailable."""
        async with self._lock:
            job = await self._repository.ended_job(job_id)
            if job is None or not job.status.is_terminal or job.end_time is None:
                return False
            known = self._live.get(job.printer_id)
            tracking = known[1] if known is not None and known[0] == job_id else None
            if tracking is None:
                tracking = await self._repository.tracking(job_id)
            if tracking is None and self._clock() - job.end_time <= LATE_TRACKING:
                # Its start was not recorded (the process stopped right after it): what is known now will do.
                late = await self._new_tracking(job)
                await self._repository.start_tracking(job_id, job.printer_id, late, at=self._clock())
                tracking = await self._repository.tracking(job_id)
                log.info("materials.usage_tracked_late", printer_id=job.printer_id, job_id=job_id)
            if tracking is None:
                return False
            if known is not None and known[0] == job_id:
                del self._live[job.printer_id]
            now_slots = {slot.record.slot: _state(slot) for slot in await self._printer_slots(job.printer_id)}
            outcome = PrintOutcome(completed=job.status is JobStatus.COMPLETED, progress=job.progress)
            lines = compute_usage(tracking, outcome, slots_now=now_slots)
            prices: dict[int, float | None] = {}
            for spool_id in {line.spool_id for line in lines if line.spool_id is not None}:
                try:
                    prices[spool_id] = price_per_gram(await self._materials.get_spool(spool_id))
                except NotFound:  # deleted since the start: charge no spool
                    lines = [replace(line, spool_id=None) if line.spool_id == spool_id else line for line in lines]
            seconds = job.duration_seconds if job.duration_seconds is not None else job.elapsed_seconds or 0
            cost = job_cost(lines, prices_per_gram=prices, rates=self._rates(job.printer_id), printing_seconds=seconds)
            settled = await self._repository.settle(
                job_id,
                lines,
                cost,
                printer_id=job.printer_id,
                outcome=job.status.value,
                ended_at=job.end_time,
                is_business=job.is_business,
                customer=_customer(job),
                deleted=job.deleted,
                report_to_spoolman=self._report_to_spoolman and not self._reports_itself(job.printer_id),
                at=self._clock(),
            )
        if not settled:
            return False
        spools = tuple(sorted({line.spool_id for line in lines if line.spool_id is not None}))
        log.info(
            "materials.usage_settled",
            printer_id=job.printer_id,
            job_id=job_id,
            grams=cost.material_grams,
            spools=list(spools),
            total=cost.total,
            currency=cost.currency,
        )
        self._bus.publish(
            JobCostRecorded(
                job_id=job_id,
                printer_id=job.printer_id,
                material_grams=cost.material_grams,
                total=cost.total,
                currency=cost.currency,
                spools=spools,
            )
        )
        if spools:
            await self._slots.recheck(job.printer_id)
        return True

    async def settle_backlog(self) -> int:
        """Settle every ended job not settled yet (after a crash or an outage); how many were settled."""
        settled = 0
        while True:
            pending = await self._repository.unsettled_ended(limit=100)
            done = [await self.settle(job_id) for job_id in pending]
            settled += sum(done)
            if len(pending) < 100 or not any(done):
                return settled

    # -- reading -----------------------------------------------------------------------------------------------

    async def usage(self, job_id: int) -> tuple[list[UsageLine], JobCost | None]:
        """The job's usage lines and cost, consistent with each other; ([], None) until its cost was fixed."""
        return await self._repository.usage(job_id)

    async def cost(self, job_id: int) -> JobCost | None:
        """The job's cost snapshot, or None."""
        return (await self._repository.usage(job_id))[1]

    async def costs_of(self, job_ids: Sequence[int]) -> dict[int, JobCost]:
        """The cost snapshots of several jobs, by id (those without one left out)."""
        return await self._repository.costs_of(job_ids)

    async def report(
        self, *, since: datetime | None, until: datetime | None, grouping: CostGrouping, currency: str | None = None
    ) -> list[CostRow]:
        """The costs of the jobs that ended in ``[since, until)``, grouped (see :class:`CostGrouping`)."""
        return await self._repository.report(since=since, until=until, grouping=grouping, currency=currency)

    async def order_costs(self, order_ids: Sequence[int]) -> dict[int, CostRow]:
        """What the ended prints of each order cost (all attempts), in the current currency, by order id (orders
        with no ended print left out)."""
        return await self._repository.order_costs(order_ids, currency=self.currency)

    # -- running -----------------------------------------------------------------------------------------------

    async def _on_job(self, job: Job) -> None:
        if job.status.is_active:
            await self.track(job)
        elif job.status.is_terminal:
            await self.settle(job.id)

    async def start(self) -> None:
        """Follow the jobs' events, after settling what ended while the service was not running."""
        subscription = self._subscription = self._bus.subscribe(maxsize=10_000)

        async def listen() -> None:
            with contextlib.suppress(StoreUnavailable):
                for job_id, printer_id, tracking in await self._repository.open_trackings():
                    self._live.setdefault(printer_id, (job_id, tracking))  # a print running across a restart
                await self.settle_backlog()
            async for event in subscription:
                if not isinstance(event, JobAutoCreated | JobUpdated):
                    continue
                try:
                    await self._on_job(event.job)
                except StoreUnavailable:  # settled from the backlog at the next start or job end
                    log.warning("materials.usage_deferred", job_id=event.job.id)
                except Exception:  # a bug must not stop the tracking of the next prints
                    log.exception("materials.usage_failed", job_id=event.job.id)
                if event.job.status.is_terminal:
                    with contextlib.suppress(StoreUnavailable):
                        await self.settle_backlog()

        self._task = asyncio.create_task(listen(), name="materials-usage")

    async def stop(self) -> None:
        """Stop following the jobs."""
        for fetching in list(self._fetching):
            fetching.cancel()
        if self._fetching:
            await asyncio.gather(*self._fetching, return_exceptions=True)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    async def __aenter__(self) -> UsageService:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()
