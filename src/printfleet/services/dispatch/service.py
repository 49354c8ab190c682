"""Dispatches: send a library file to a printer, start it, and know whether it really started.

One task per dispatch drives it through ``pending → uploading → uploaded → starting → started`` (or ``failed``;
:class:`~printfleet.services.dispatch.steps.DispatchSteps`), storing each state before the step it announces
(DESIGN.md invariant 8) and publishing ``dispatch_updated`` after.
Preconditions are checked when the request arrives (a refusal is :class:`DispatchRefused`, nothing sent) and again
just before the start. The printer gives no reliable acknowledgement of a start (Bambu), so a start is confirmed
only when the printer reports our print under way (:func:`~printfleet.domain.dispatch.rules.is_our_print`) within
``confirm_window_s`` of the request (``+ confirm_extension_s`` while it prepares); otherwise it is sent again, at
most :data:`~printfleet.domain.dispatch.model.MAX_ATTEMPTS` times, then the dispatch fails ``not_confirmed``.

Each dispatch makes a ``pending`` job for its printer and file; the job tracker adopts it when the print starts
(one job, carrying the file, the dispatch and the person who asked). A dispatch that fails cancels its job.

After a restart :meth:`DispatchService.resume` reconciles every dispatch in flight from what its printer reports:
our print under way → ``started``; a start sent less than the window ago → confirmation goes on; otherwise the
step is retried (never while the printer is busy), so a print is never started twice.
Research: dispatch-scheduling-orders.md 1a step 3 (watchdog windows 90 s + 180 s, 3 attempts), 1b, 1c.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import structlog

from printfleet.domain.dispatch import rules
from printfleet.domain.dispatch.model import (
    Dispatch,
    DispatchQuery,
    DispatchRefused,
    FailureReason,
    NewDispatch,
)
from printfleet.domain.dispatch.sending import (
    PrintOptions,
)
from printfleet.domain.files.library import PrintFile
from printfleet.domain.jobs import clean_job_name
from printfleet.domain.printer import (
    PrinterConfig,
    PrinterStatus,
)
from printfleet.domain.queue import QueueEntry
from printfleet.services.dispatch.plates import PlateService
from printfleet.services.dispatch.ports import DispatchInFlight, DispatchRepository
from printfleet.services.dispatch.steps import DispatchSteps, DispatchTimings, Printers
from printfleet.services.errors import NotFound, PrinterNotFound
from printfleet.services.events import EventBus
from printfleet.services.files import FileLibrary
from printfleet.services.jobs import JobService

log = structlog.get_logger("printfleet.dispatch")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DispatchNotFound(NotFound):
    """No (visible) dispatch has this id."""

    def __init__(self, dispatch_id: int) -> None:
        super().__init__(f"no dispatch with id {dispatch_id}")
        self.dispatch_id = dispatch_id


class QueueHolders(Protocol):
    """What the shared queue says about a printer (the queue service)."""

    def holder_of(self, printer_id: str) -> QueueEntry | None:
        """The entry the printer is offered to, reserved for or printing for, or None."""
        ...

    async def claim(self, *, user_id: str, entry_id: int | None = None, by: str | None = None) -> QueueEntry:
        """Claim an offered printer for ``user_id``'s entry."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Requester:
    """Who asks for a dispatch: ``user_id`` (None: printfleet itself, e.g. the scheduler), ``queue_user_id`` the
    queue's name for them (``user:<id>``), ``any_printer`` True when they may print on any ready printer
    (``printers.print``) rather than only on the printer the queue reserved for them (``printers.print_own``)."""

    user_id: int | None
    queue_user_id: str | None = None
    any_printer: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Whether a printer can take a file now: ``reason`` (a :class:`FailureReason` value) and ``message`` say why
    not when ``available`` is False."""

    printer: PrinterConfig
    available: bool
    reason: str | None = None
    message: str | None = None


class DispatchService:
    """Sends prints. Use as an async context manager (or :meth:`resume` / :meth:`stop`)."""

    def __init__(
        self,
        *,
        repository: DispatchRepository,
        files: FileLibrary,
        jobs: JobService,
        printers: Printers,
        plates: PlateService,
        bus: EventBus,
        queue: QueueHolders | None = None,
        require_plate_clear: bool = True,
        timings: DispatchTimings | None = None,
        clock: Callable[[], datetime] = _utcnow,
        on_sending_changed: Callable[[str], None] = lambda _printer_id: None,
    ) -> None:
        """``on_sending_changed(printer_id)`` is called when the step of the print being sent to a printer changed
        (the monitoring service shows it on the printer's status)."""
        self._repository = repository
        self._files = files
        self._jobs = jobs
        self._printers = printers
        self._plates = plates
        self._bus = bus
        self._queue = queue
        self._require_plate_clear = require_plate_clear
        self._timings = timings or DispatchTimings()
        self._clock = clock
        self._steps = DispatchSteps(
            repository=repository,
            files=files,
            jobs=jobs,
            printers=printers,
            plates=plates,
            bus=bus,
            require_plate_clear=require_plate_clear,
            timings=self._timings,
            clock=clock,
            on_saved=self._saved,
        )
        self._sending: dict[str, Dispatch] = {}  # printer id -> its dispatch in flight
        self._on_sending_changed = on_sending_changed
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._printers_busy: dict[int, str] = {}  # dispatch id -> printer id, while its task runs

    # --- lifecycle ----------------------------------------------------------------------------------------------

    async def __aenter__(self) -> DispatchService:
        await self.resume()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def resume(self) -> int:
        """Take up every dispatch left in flight (after a restart) to a printer connected here; returns how many.
        In a shared farm the others are taken up by their printers' owners (:meth:`resume_for`)."""
        return await self._take_up(await self._repository.in_flight(), resumed=True)

    async def resume_for(self, printer_ids: Collection[str]) -> int:
        """This process came to own ``printer_ids`` (a shared farm): take up their dispatches in flight, which
        their previous owner left or another process recorded; returns how many. Raises StoreUnavailable."""
        wanted = set(printer_ids)
        if not wanted:
            return 0
        pending = [dispatch for dispatch in await self._repository.in_flight() if dispatch.printer_id in wanted]
        return await self._take_up(pending, resumed=True)

    async def take_up(self, dispatch_ids: Collection[int]) -> int:
        """Dispatches another process of the farm recorded or changed: drive those still in flight to a printer
        connected here and not driven yet; returns how many. Raises StoreUnavailable."""
        wanted = set(dispatch_ids) - set(self._tasks)
        if not wanted:
            return 0
        pending = [dispatch for dispatch in await self._repository.in_flight() if dispatch.id in wanted]
        return await self._take_up(pending, resumed=False)

    async def _take_up(self, dispatches: Collection[Dispatch], *, resumed: bool) -> int:
        taken = 0
        for dispatch in dispatches:
            if dispatch.id in self._tasks or self._printers.connection(dispatch.printer_id) is None:
                continue
            log.info(
                "dispatch.resumed" if resumed else "dispatch.taken_up",
                dispatch_id=dispatch.id,
                printer_id=dispatch.printer_id,
                state=dispatch.state,
            )
            self._spawn(dispatch, resumed=resumed)
            taken += 1
        return taken

    async def stop(self) -> None:
        """Cancel the running dispatch tasks; their stored state is reconciled at the next start."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def let_go(self, printer_ids: Collection[str]) -> None:
        """This process no longer owns ``printer_ids`` (a shared farm, before their connections close): stop driving
        their dispatches, whose stored state the next owner takes up (:meth:`resume_for`) as after a restart."""
        wanted = set(printer_ids)
        tasks = [
            task
            for dispatch_id, printer_id in list(self._printers_busy.items())
            if printer_id in wanted and (task := self._tasks.get(dispatch_id)) is not None
        ]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _spawn(self, dispatch: Dispatch, *, resumed: bool = False) -> None:
        dispatch_id = dispatch.id
        task = asyncio.get_running_loop().create_task(
            self._steps.drive(dispatch_id, resumed=resumed), name=f"dispatch:{dispatch_id}"
        )
        self._tasks[dispatch_id] = task
        self._printers_busy[dispatch_id] = dispatch.printer_id

        def done(_task: asyncio.Task[None]) -> None:
            self._tasks.pop(dispatch_id, None)
            self._printers_busy.pop(dispatch_id, None)

        task.add_done_callback(done)

    async def wait(self, dispatch_id: int) -> None:
        """Wait until the dispatch's task ends (tests, the CLI)."""
        task = self._tasks.get(dispatch_id)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)

    def _saved(self, dispatch: Dispatch) -> None:
        if self._printers.connection(dispatch.printer_id) is None:
            return  # sent by the printer's owner, which shows it
        if dispatch.state.is_final:
            if self._sending.get(dispatch.printer_id, dispatch).id != dispatch.id:
                return
            self._sending.pop(dispatch.printer_id, None)
        else:
            self._sending[dispatch.printer_id] = dispatch
        self._on_sending_changed(dispatch.printer_id)

    def sending(self, printer_id: str) -> str | None:
        """The step of the print being sent to ``printer_id`` (``pending``, ``uploading``...), or None."""
        dispatch = self._sending.get(printer_id)
        return dispatch.state.value if dispatch is not None else None

    # --- reading ------------------------------------------------------------------------------------------------

    async def get(self, dispatch_id: int, *, requested_by: int | None = None) -> Dispatch:
        """One dispatch (only ``requested_by``'s when given). Raises DispatchNotFound."""
        dispatch = await self._repository.get(dispatch_id)
        if dispatch is None or (requested_by is not None and dispatch.requested_by != requested_by):
            raise DispatchNotFound(dispatch_id)
        return dispatch

    async def list_dispatches(self, query: DispatchQuery) -> tuple[list[Dispatch], int]:
        """A page of dispatches matching ``query``, newest first, and how many match in all."""
        return await self._repository.list_dispatches(query)

    def _config(self, printer_id: str) -> PrinterConfig:
        for config, _status in self._printers.watched():
            if config.id == printer_id:
                return config
        raise PrinterNotFound(printer_id)

    # --- preconditions ------------------------------------------------------------------------------------------

    def _refusal(
        self,
        config: PrinterConfig,
        status: PrinterStatus | None,
        stored: PrintFile,
        plate: int,
        options: PrintOptions,
        requester: Requester,
    ) -> rules.Refusal | None:
        """The first precondition that refuses, or None (the order a person would want to hear them in)."""
        found = rules.compatibility(config.kind, config.model, stored.kind, stored.metadata, plate, force=options.force)
        if found is not None:
            return found
        if (found := rules.readiness(status)) is not None:
            return found
        if self._require_plate_clear and self._plates.needs_clearing(config.id):
            return rules.Refusal(
                FailureReason.PLATE_NOT_CLEAR, "The plate has not been cleared since the last print ended."
            )
        holder = self._queue.holder_of(config.id) if self._queue is not None else None
        if holder is not None and holder.user_id != requester.queue_user_id:
            return rules.Refusal(FailureReason.RESERVED, f"The queue has this printer for {holder.user_name}.")
        if holder is None and not requester.any_printer:
            return rules.Refusal(
                FailureReason.RESERVED, "You may print only on the printer the queue reserved for you."
            )
        return None

    async def targets(self, file_id: int, *, plate: int = 1, requester: Requester) -> list[Target]:
        """Every printer with whether it can take the file now (available first, then by name). Raises
        FileNotFound."""
        stored = await self._files.get(file_id)
        found: list[Target] = []
        for config, status in self._printers.watched():
            refusal = self._refusal(config, status, stored, plate, PrintOptions(), requester)
            in_flight = refusal is None and self._in_flight(config.id)
            if refusal is None and in_flight:
                refusal = rules.Refusal(FailureReason.PRINTER_BUSY, "A print is being sent to this printer.")
            found.append(
                Target(
                    printer=config,
                    available=refusal is None,
                    reason=refusal.reason.value if refusal else None,
                    message=refusal.message if refusal else None,
                )
            )
        return sorted(found, key=lambda t: (not t.available, t.printer.name.lower(), t.printer.id))

    def _in_flight(self, printer_id: str) -> bool:
        return printer_id in self._printers_busy.values()

    # --- request ------------------------------------------------------------------------------------------------

    async def request(
        self,
        printer_id: str,
        file_id: int,
        *,
        plate: int = 1,
        options: PrintOptions | None = None,
        requester: Requester,
        job_name: str | None = None,
    ) -> Dispatch:
        """Check the preconditions, record a ``pending`` dispatch and its ``pending`` job, and start driving it.

        Raises PrinterNotFound, FileNotFound (404), DispatchRefused (409: ``printer_offline``, ``printer_busy``,
        ``plate_not_clear``, ``reserved``, ``incompatible``), PermissionDenied (403: a member asking for a printer
        the queue did not reserve for them is refused as ``reserved`` instead)."""
        options = options or PrintOptions()
        config = self._config(printer_id)
        stored = await self._files.get(file_id)
        refusal = self._refusal(config, self._printers.status(printer_id), stored, plate, options, requester)
        if refusal is not None:
            raise DispatchRefused(refusal.reason, refusal.message)
        here = self._printers.connection(printer_id) is not None
        if not here and self._printers.config(printer_id) is None:
            raise DispatchRefused(FailureReason.PRINTER_OFFLINE, "The printer is not connected.")
        holder = self._queue.holder_of(printer_id) if self._queue is not None else None
        if holder is not None and self._queue is not None and requester.queue_user_id and holder.claimed_at is None:
            await self._queue.claim(user_id=requester.queue_user_id, entry_id=holder.id)
        name = (job_name or "").strip() or clean_job_name(stored.name)
        now = self._clock()
        try:
            dispatch = await self._repository.add(
                NewDispatch(
                    printer_id=printer_id,
                    file_id=stored.id,
                    plate=plate,
                    job_name=name[:255],
                    remote_name=rules.remote_file_name(stored.name),
                    requested_by=requester.user_id,
                    created_at=now,
                    options=options,
                )
            )
        except DispatchInFlight:
            raise DispatchRefused(
                FailureReason.PRINTER_BUSY, "A print is being sent to this printer already."
            ) from None
        job = await self._jobs.create_for_dispatch(
            printer_id=printer_id,
            printer_type=config.kind.value,
            job_name=dispatch.job_name,
            filename=dispatch.remote_name,
            file_id=str(stored.id),
            dispatch_id=dispatch.id,
            requested_by=requester.user_id,
        )
        dispatch = await self._steps.save(dispatch, job_id=job.id)
        log.info(
            "dispatch.requested",
            dispatch_id=dispatch.id,
            printer_id=printer_id,
            file_id=stored.id,
            plate=plate,
            by=requester.user_id,
        )
        if here:
            self._spawn(dispatch)
        else:  # another process of the farm owns the printer: it takes the dispatch up on its announcement
            log.info("dispatch.handed_to_owner", dispatch_id=dispatch.id, printer_id=printer_id)
        return dispatch

    # --- driving ------------------------------------------------------------------------------------------------
