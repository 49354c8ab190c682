"""The scheduler: one task that starts scheduled prints by itself, through the dispatch service.

It looks whenever a ``scheduled`` printer becomes ready (a monitoring listener), when a dispatch or a job it
follows changes or a plate is cleared (events), and on a timer (``schedule.interval``, sooner when a print's start
time or chain offset comes due). Each look (:meth:`Scheduler.tick`), under one lock:

1. follows what it sent: a print ``dispatching`` becomes ``started`` when its dispatch started, goes back to
   ``queued`` with the reason when the dispatch failed (``failed`` after ``schedule.max_attempts``); a ``started``
   print becomes ``completed`` or ``failed`` when its job ends;
2. skips queued prints whose predecessor did not succeed and that needed it to;
3. unless the farm dispatched less than ``schedule.stagger`` ago, gives each ready ``scheduled`` printer (idle or
   showing its last print's end, plate clear, connected, nothing being sent) the best due print it can take
   (:func:`printfleet.domain.schedule.ordering.choose`), claiming it in the store first.

Everything is in the store, so after a restart the first look takes up where the last process stopped. A claim is a
conditional update, and the dispatch record refuses a second print in flight per printer, so a crash between
choosing and sending never starts two prints: a print found ``dispatching`` without its dispatch adopts the
dispatch sent for it when there is one, else goes back to ``queued`` (DESIGN.md invariants 5 and 8).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from printfleet.aio import within
from printfleet.domain.dispatch import rules as dispatch_rules
from printfleet.domain.dispatch.model import DispatchQuery, DispatchRefused, DispatchState
from printfleet.domain.dispatch.sending import PrintOptions
from printfleet.domain.events import DispatchUpdated, JobUpdated, PlateCleared, ScheduledPrintUpdated
from printfleet.domain.files.library import PrintFile
from printfleet.domain.materials.loaded import LoadedCheck, MaterialNeed
from printfleet.domain.printer import (
    PrinterConfig,
    PrinterError,
    PrinterKind,
    PrinterNotConnected,
    PrinterStatus,
    QueueMode,
)
from printfleet.domain.schedule import rules
from printfleet.domain.schedule.model import ScheduledPrint, ScheduleStatus
from printfleet.domain.schedule.ordering import choose, stagger_wait
from printfleet.services.dispatch.plates import PlateService
from printfleet.services.dispatch.service import DispatchService, Requester
from printfleet.services.dispatch.steps import Printers
from printfleet.services.errors import NotFound, ServiceError, StoreUnavailable
from printfleet.services.events import EventBus
from printfleet.services.files import FileLibrary
from printfleet.services.jobs import JobService
from printfleet.services.schedule.policy import ADOPT_GRACE, RETRY_HOLD, SchedulePolicy
from printfleet.services.schedule.ports import ScheduleRepository

StockCheck = Callable[[str, Sequence[MaterialNeed]], Awaitable[LoadedCheck]]
"""``await check(printer_id, needs)``: whether the printer's slots hold ``needs`` (raises NotFound for a printer
removed meanwhile)."""

log = structlog.get_logger("printfleet.schedule")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def publish(bus: EventBus, print_: ScheduledPrint, now: datetime, predecessor: ScheduledPrint | None = None) -> None:
    """Publish ``scheduled_print_updated`` for a stored print (a chained queued print shows ``waiting`` until its
    predecessor lets it start)."""
    shown = rules.shown_status(print_, predecessor, now)
    if print_.status is ScheduleStatus.QUEUED and print_.depends_on is not None and predecessor is None:
        shown = ScheduleStatus.WAITING
    bus.publish(ScheduledPrintUpdated(scheduled=print_, shown_status=shown))


class Scheduler:
    """The scheduler task. Use as an async context manager; :meth:`wake` asks for a look soon."""

    def __init__(
        self,
        *,
        repository: ScheduleRepository,
        dispatch: DispatchService,
        printers: Printers,
        plates: PlateService,
        jobs: JobService,
        files: FileLibrary,
        bus: EventBus,
        policy: SchedulePolicy,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._repository = repository
        self._dispatch = dispatch
        self._printers = printers
        self._plates = plates
        self._jobs = jobs
        self._files = files
        self._bus = bus
        self._policy = policy
        self._clock = clock
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._last_dispatch_at: datetime | None = None
        # printer id -> the last state the monitoring listeners have all taken in. A print that just ended shows on
        # the live status before the plate gate has raised its flag; the printer is ready only once it has.
        self._settled: dict[str, tuple[object, ...]] = {}
        # printer id -> (its state when a dispatch to it failed, until when it is held while that state lasts)
        self._held: dict[str, tuple[tuple[object, ...] | None, datetime]] = {}
        self._stock: StockCheck | None = None

    def set_stock_check(self, check: StockCheck) -> None:
        """Check, before sending a print that asks for a material to an AMS printer, that a slot holds it with
        enough grams for the plate (the material slots' :meth:`~printfleet.services.materials.slots.SlotService.
        check_loaded`); grams nobody knows (an untagged spool) do not hold a print back."""
        self._stock = check

    async def __aenter__(self) -> Scheduler:
        loop = asyncio.get_running_loop()
        subscription = self._bus.subscribe()
        self._tasks = [
            loop.create_task(self._run(), name="scheduler"),
            loop.create_task(self._listen(subscription), name="scheduler:events"),
        ]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def wake(self) -> None:
        """Look again soon (a print was created or changed)."""
        self._wake.set()

    async def on_printer_change(
        self, config: PrinterConfig, previous: PrinterStatus | None, current: PrinterStatus
    ) -> None:
        """Monitoring listener (registered after the job tracker and the plate gate): records that this state has
        been taken in by them, and wakes the scheduler when a ``scheduled`` printer is ready (or its print just
        ended)."""
        self._settled[config.id] = current.lifecycle_key()
        if config.queue_mode is QueueMode.SCHEDULED and dispatch_rules.readiness(current) is None:
            self.wake()

    async def _listen(self, subscription: Any) -> None:
        try:
            async for event in subscription:
                # Only the changes a look acts on: a dispatch or a job ending, a plate cleared (a job's progress
                # is published often and changes nothing here).
                if (
                    isinstance(event, PlateCleared)
                    or (isinstance(event, DispatchUpdated) and event.dispatch.state.is_final)
                    or (isinstance(event, JobUpdated) and event.job.status.is_terminal)
                ):
                    self.wake()
        finally:
            subscription.close()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            delay = self._policy.interval_s
            try:
                delay = min(delay, await self.tick())
            except StoreUnavailable:
                log.warning("schedule.store_unavailable")
                delay = min(delay, 5.0)
            except Exception:  # a bug must not stop the scheduler for good
                log.exception("schedule.tick_failed")
            with contextlib.suppress(TimeoutError):
                await within(self._wake.wait(), max(delay, 0.05))

    # --- one look -----------------------------------------------------------------------------------------------

    async def tick(self) -> float:
        """Follow, skip and dispatch as described above; returns the seconds until the next reason to look."""
        async with self._lock:
            now = self._clock()
            if self._policy.require_plate_clear:
                await self._plates.take_in_clearings()  # confirmed in another process of the farm
            unfinished = await self._repository.unfinished()
            changed = False
            for print_ in unfinished:
                if print_.status is ScheduleStatus.DISPATCHING:
                    changed |= await self._follow_dispatch(print_, now)
                elif print_.status is ScheduleStatus.STARTED:
                    changed |= await self._follow_job(print_, now)
            if changed:
                unfinished = await self._repository.unfinished()
            if self._last_dispatch_at is None:
                self._last_dispatch_at = max(
                    (p.updated_at for p in unfinished if p.status is ScheduleStatus.DISPATCHING), default=None
                )
            predecessors = await self._predecessors(unfinished)
            next_look = self._policy.interval_s
            due: list[ScheduledPrint] = []
            for print_ in unfinished:
                if print_.status is not ScheduleStatus.QUEUED:
                    continue
                predecessor = predecessors.get(print_.depends_on) if print_.depends_on is not None else None
                if rules.chain_state(print_, predecessor).gate is rules.Gate.SKIP:
                    await self._skip(print_, predecessor, now)
                    continue
                moment = rules.ready_at(print_, predecessor)
                if moment is None:
                    continue
                if moment <= now:
                    due.append(print_)
                else:
                    next_look = min(next_look, (moment - now).total_seconds())
            if not due:
                return next_look
            wait = stagger_wait(self._last_dispatch_at, now, self._policy.stagger)
            if wait > timedelta(0):
                return min(next_look, wait.total_seconds())
            busy = {
                p.assigned_printer_id
                for p in unfinished
                if p.status in (ScheduleStatus.DISPATCHING, ScheduleStatus.STARTED)
            }
            files: dict[int, PrintFile | None] = {}
            for config, status in sorted(self._printers.watched(), key=lambda pair: pair[0].id):
                if config.queue_mode is not QueueMode.SCHEDULED or config.id in busy:
                    continue
                if not self._ready(config, status):
                    continue
                if (held := self._held_for(config.id, now)) is not None:
                    next_look = min(next_look, held)
                    continue
                eligible = [
                    p
                    for p in due
                    if await self._may_take(p, config, files)
                    and rules.material_loaded(p, status.ams_trays if status else ())
                    and await self._enough_loaded(p, config, status, files)
                ]
                choice = choose(
                    eligible,
                    now,
                    margin=self._policy.margin,
                    staffed_hours=self._policy.staffed_hours,
                    strict=self._policy.staffed_hours_strict,
                )
                if choice is None:
                    continue
                due.remove(choice)
                if await self._send(
                    choice, config, now, files.get(choice.file_id)
                ) and self._policy.stagger > timedelta(0):
                    return min(next_look, self._policy.stagger.total_seconds())
            return next_look

    def _held_for(self, printer_id: str, now: datetime) -> float | None:
        """Seconds a printer stays held after a failed dispatch (None: not held): until it reports a new state or
        :data:`RETRY_HOLD` has passed."""
        held = self._held.get(printer_id)
        if held is None:
            return None
        key, until = held
        if key != self._settled.get(printer_id) or now >= until:
            del self._held[printer_id]
            return None
        return (until - now).total_seconds()

    def _hold(self, printer_id: str | None, now: datetime) -> None:
        if printer_id is not None:
            self._held[printer_id] = (self._settled.get(printer_id), now + RETRY_HOLD)

    def _ready(self, config: PrinterConfig, status: PrinterStatus | None) -> bool:
        if status is None or dispatch_rules.readiness(status) is not None:
            return False
        if self._settled.get(config.id) != status.lifecycle_key():
            return False  # the job tracker and the plate gate have not taken in this state yet
        if self._policy.require_plate_clear and self._plates.needs_clearing(config.id):
            return False
        return self._dispatch.sending(config.id) is None

    async def _may_take(
        self, print_: ScheduledPrint, config: PrinterConfig, files: dict[int, PrintFile | None]
    ) -> bool:
        if not rules.target_matches(print_, config):
            return False
        if print_.file_id not in files:
            try:
                files[print_.file_id] = await self._files.get(print_.file_id)
            except NotFound:
                files[print_.file_id] = None
        stored = files[print_.file_id]
        if stored is None:
            return False
        refusal = dispatch_rules.compatibility(config.kind, config.model, stored.kind, stored.metadata, print_.plate)
        return refusal is None

    async def _enough_loaded(
        self,
        print_: ScheduledPrint,
        config: PrinterConfig,
        status: PrinterStatus | None,
        files: dict[int, PrintFile | None],
    ) -> bool:
        """Whether an AMS printer has the grams the plate needs of the material the print asks for (see
        :meth:`set_stock_check`); True when nothing is asked, the printer has no AMS, or no check is set."""
        if self._stock is None or not print_.material_type or status is None or not status.ams_trays:
            return True
        stored = files.get(print_.file_id)
        plate = next((p for p in stored.metadata.plates if p.index == print_.plate), None) if stored else None
        grams = 0.0
        if plate is not None:
            wanted = print_.material_type.strip().upper()
            grams = sum(f.used_g or 0.0 for f in plate.filaments if (f.type or "").strip().upper() == wanted)
        need = MaterialNeed(material=print_.material_type, color=print_.material_color, grams=grams)
        try:
            check = await self._stock(config.id, [need])
        except NotFound:
            return False
        if not check.ok:
            log.debug("schedule.material_short", print_id=print_.id, printer_id=config.id, grams=grams)
        return check.ok

    async def _predecessors(self, prints: Iterable[ScheduledPrint]) -> dict[int, ScheduledPrint]:
        known = {p.id: p for p in prints}
        missing = {p.depends_on for p in known.values() if p.depends_on is not None and p.depends_on not in known}
        known.update(await self._repository.get_many(missing))
        return known

    # --- steps --------------------------------------------------------------------------------------------------

    async def _save(self, print_id: int, *, expect: set[ScheduleStatus], **changes: Any) -> ScheduledPrint | None:
        updated = await self._repository.update(print_id, expect=expect, **changes)
        if updated is not None:
            self._publish(updated)
        return updated

    def _publish(self, print_: ScheduledPrint) -> None:
        publish(self._bus, print_, self._clock())

    async def _send(
        self, print_: ScheduledPrint, config: PrinterConfig, now: datetime, stored: PrintFile | None
    ) -> bool:
        """Claim ``print_`` for ``config`` and ask for its dispatch; a Bambu printer gets the AMS mapping that
        feeds the plate's filament from the print's ``material_slot`` (:func:`rules.ams_mapping`)."""
        plate = None
        if stored is not None:
            plate = next((info for info in stored.metadata.plates if info.index == print_.plate), None)
        mapping = rules.ams_mapping(print_, plate) if config.kind is PrinterKind.BAMBU else ()
        claimed = await self._repository.claim(print_.id, printer_id=config.id, now=now)
        if claimed is None:
            return False
        self._last_dispatch_at = now
        self._publish(claimed)
        log.info("schedule.dispatching", print_id=print_.id, printer_id=config.id, attempt=claimed.attempts)
        try:
            dispatch = await self._dispatch.request(
                config.id,
                print_.file_id,
                plate=print_.plate,
                requester=Requester(user_id=print_.created_by),
                job_name=print_.job_name,
                options=PrintOptions(ams_mapping=mapping) if mapping else None,
            )
        except DispatchRefused as refused:
            await self._dispatch_failed(claimed, f"{refused.reason.value}: {refused.message}", now)
            return False
        except ServiceError as error:
            await self._dispatch_failed(claimed, error.message, now)
            return False
        await self._save(
            print_.id, expect={ScheduleStatus.DISPATCHING}, dispatch_id=dispatch.id, job_id=dispatch.job_id
        )
        return True

    async def _apply_speed(self, print_: ScheduledPrint) -> None:
        """Set the started print's ``print_speed`` on its printer (after the start: Bambu takes a speed level for
        the running print only). A printer that cannot (PrusaLink) or refuses is logged; the print runs on at the
        speed it was sliced for."""
        if print_.print_speed is None or print_.assigned_printer_id is None:
            return
        connection = self._printers.connection(print_.assigned_printer_id)
        try:
            if connection is None:
                raise PrinterNotConnected(print_.assigned_printer_id, "not connected")
            await connection.set_print_speed(print_.print_speed)
        except PrinterError as error:
            log.warning(
                "schedule.speed_not_set", print_id=print_.id, speed=print_.print_speed.value, reason=error.message
            )
            return
        log.info("schedule.speed_set", print_id=print_.id, speed=print_.print_speed.value)

    async def _dispatch_failed(self, print_: ScheduledPrint, reason: str, now: datetime) -> None:
        self._hold(print_.assigned_printer_id, now)
        status = rules.after_dispatch_failure(print_.attempts, self._policy.max_attempts)
        log.warning("schedule.dispatch_failed", print_id=print_.id, reason=reason, status=status.value)
        changes: dict[str, Any] = {"status": status, "failed_reason": reason[:500]}
        if status is ScheduleStatus.FAILED:
            changes["completed_at"] = now
        else:
            changes.update(assigned_printer_id=None, dispatch_id=None, job_id=None)
        await self._save(print_.id, expect={ScheduleStatus.DISPATCHING}, **changes)

    async def _follow_dispatch(self, print_: ScheduledPrint, now: datetime) -> bool:
        if print_.dispatch_id is None:
            return await self._adopt(print_, now)
        try:
            dispatch = await self._dispatch.get(print_.dispatch_id)
        except NotFound:
            await self._dispatch_failed(print_, "the dispatch record is gone", now)
            return True
        if dispatch.state is DispatchState.STARTED:
            await self._save(
                print_.id,
                expect={ScheduleStatus.DISPATCHING},
                status=ScheduleStatus.STARTED,
                started_at=dispatch.updated_at,
                job_id=dispatch.job_id,
                failed_reason=None,
            )
            log.info("schedule.started", print_id=print_.id, printer_id=print_.assigned_printer_id)
            await self._apply_speed(print_)
            return True
        if dispatch.state is DispatchState.FAILED:
            reason = dispatch.detail or (dispatch.error.value if dispatch.error else "the dispatch failed")
            await self._dispatch_failed(print_, reason, now)
            return True
        return False

    async def _adopt(self, print_: ScheduledPrint, now: datetime) -> bool:
        """A print claimed but without its dispatch (a crash between the two): adopt the dispatch sent for it, or
        put it back in the queue once no process can still be sending it."""
        if print_.assigned_printer_id is not None:
            sent, _ = await self._dispatch.list_dispatches(
                DispatchQuery(printer_id=print_.assigned_printer_id, limit=10)
            )
            for dispatch in sent:
                if dispatch.file_id == print_.file_id and dispatch.created_at >= print_.updated_at - timedelta(
                    seconds=1
                ):
                    log.info("schedule.adopted_dispatch", print_id=print_.id, dispatch_id=dispatch.id)
                    await self._save(
                        print_.id, expect={ScheduleStatus.DISPATCHING}, dispatch_id=dispatch.id, job_id=dispatch.job_id
                    )
                    return True
        if now - print_.updated_at < ADOPT_GRACE:
            return False
        await self._save(
            print_.id,
            expect={ScheduleStatus.DISPATCHING},
            status=ScheduleStatus.QUEUED,
            assigned_printer_id=None,
            attempts=max(print_.attempts - 1, 0),
        )
        log.info("schedule.requeued_unsent", print_id=print_.id)
        return True

    async def _follow_job(self, print_: ScheduledPrint, now: datetime) -> bool:
        if print_.job_id is None:
            return False
        try:
            job = await self._jobs.get(print_.job_id)
        except NotFound:
            return False
        if not job.status.is_terminal:
            return False
        final = rules.JOB_OUTCOMES[job.status]
        await self._save(
            print_.id,
            expect={ScheduleStatus.STARTED},
            status=final,
            completed_at=job.end_time or now,
            failed_reason=rules.job_failure_reason(job.status, job.end_reason),
        )
        log.info("schedule.ended", print_id=print_.id, status=final.value)
        return True

    async def _skip(self, print_: ScheduledPrint, predecessor: ScheduledPrint | None, now: datetime) -> None:
        what = f"print {predecessor.id} {predecessor.status.value}" if predecessor else "its predecessor failed"
        await self._save(
            print_.id,
            expect={ScheduleStatus.QUEUED},
            status=ScheduleStatus.SKIPPED,
            completed_at=now,
            failed_reason=f"{what}; this print needed it to succeed",
        )
        log.info("schedule.skipped", print_id=print_.id)
