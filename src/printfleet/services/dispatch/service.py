"""Dispatches: send a library file to a printer, start it, and know whether it really started.

One task per dispatch drives it through ``pending → uploading → uploaded → starting → started`` (or ``failed``),
storing each state before the step it announces (DESIGN.md invariant 8) and publishing ``dispatch_updated`` after.
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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

from printfleet.domain.dispatch import rules
from printfleet.domain.dispatch.model import (
    CONFIRM_EXTENSION_S,
    CONFIRM_WINDOW_S,
    MAX_ATTEMPTS,
    Dispatch,
    DispatchRefused,
    DispatchState,
    FailureReason,
    NewDispatch,
)
from printfleet.domain.dispatch.sending import (
    PrinterBusy,
    PrintOptions,
    PrintRequest,
    PrintSender,
    StartRejected,
    Uploaded,
    UploadFailed,
)
from printfleet.domain.events import DispatchUpdated
from printfleet.domain.files.library import PrintFile
from printfleet.domain.jobs import clean_job_name
from printfleet.domain.printer import (
    OfflineReason,
    PrinterConfig,
    PrinterError,
    PrinterNotConnected,
    PrinterStatus,
)
from printfleet.domain.queue import QueueEntry
from printfleet.services.dispatch.plates import PlateService
from printfleet.services.dispatch.ports import DispatchInFlight, DispatchRepository
from printfleet.services.errors import NotFound, PrinterNotFound, StoreUnavailable
from printfleet.services.events import EventBus
from printfleet.services.files import FileLibrary
from printfleet.services.health import RetryDelays
from printfleet.services.jobs import JobService

log = structlog.get_logger("printfleet.dispatch")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DispatchNotFound(NotFound):
    """No (visible) dispatch has this id."""

    def __init__(self, dispatch_id: int) -> None:
        super().__init__(f"no dispatch with id {dispatch_id}")
        self.dispatch_id = dispatch_id


class Printers(Protocol):
    """The live printers (the monitoring service)."""

    def watched(self) -> list[tuple[PrinterConfig, PrinterStatus]]:
        """Every printer with its latest status."""
        ...

    def status(self, printer_id: str) -> PrinterStatus | None:
        """A printer's latest status, or None when it is not watched."""
        ...

    def connection(self, printer_id: str) -> Any:
        """A printer's live connection (a PrintSender when its kind can take prints), or None."""
        ...


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


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchTimings:
    """Seconds: ``confirm_window_s`` for the printer to show our print after a start request, ``+
    confirm_extension_s`` while it prepares; ``poll_s`` between looks at its status; ``reconcile_wait_s`` how long
    a dispatch found in flight at start-up waits for its printer's first report."""

    confirm_window_s: float = CONFIRM_WINDOW_S
    confirm_extension_s: float = CONFIRM_EXTENSION_S
    poll_s: float = 0.5
    reconcile_wait_s: float = 60.0
    max_attempts: int = MAX_ATTEMPTS


class _Failed(Exception):
    def __init__(self, reason: FailureReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _failure(error: PrinterError) -> _Failed:
    """Map an adapter error to the dispatch failure it means."""
    if isinstance(error, PrinterBusy):
        where = " (the file is stored on the printer)" if error.stored else ""
        return _Failed(FailureReason.PRINTER_BUSY, f"The printer refused: {error.message}{where}")
    if isinstance(error, UploadFailed):
        return _Failed(FailureReason.UPLOAD_FAILED, f"Upload failed: {error.message}")
    if isinstance(error, PrinterNotConnected):
        return _Failed(FailureReason.PRINTER_OFFLINE, "The printer went offline.")
    if isinstance(error, StartRejected):
        return _Failed(FailureReason.REJECTED, f"The printer rejected the print: {error.message}")
    return _Failed(FailureReason.REJECTED, f"The printer refused: {error.message}")


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
    ) -> None:
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
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._printers_busy: dict[int, str] = {}  # dispatch id -> printer id, while its task runs

    # --- lifecycle ----------------------------------------------------------------------------------------------

    async def __aenter__(self) -> DispatchService:
        await self.resume()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def resume(self) -> int:
        """Take up every dispatch left in flight (after a restart); returns how many."""
        pending = await self._repository.in_flight()
        for dispatch in pending:
            log.info("dispatch.resumed", dispatch_id=dispatch.id, printer_id=dispatch.printer_id, state=dispatch.state)
            self._spawn(dispatch, resumed=True)
        return len(pending)

    async def stop(self) -> None:
        """Cancel the running dispatch tasks; their stored state is reconciled at the next start."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def _spawn(self, dispatch: Dispatch, *, resumed: bool = False) -> None:
        dispatch_id = dispatch.id
        task = asyncio.get_running_loop().create_task(
            self._drive(dispatch_id, resumed=resumed), name=f"dispatch:{dispatch_id}"
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

    # --- reading ------------------------------------------------------------------------------------------------

    async def get(self, dispatch_id: int, *, requested_by: int | None = None) -> Dispatch:
        """One dispatch (only ``requested_by``'s when given). Raises DispatchNotFound."""
        dispatch = await self._repository.get(dispatch_id)
        if dispatch is None or (requested_by is not None and dispatch.requested_by != requested_by):
            raise DispatchNotFound(dispatch_id)
        return dispatch

    async def list_dispatches(
        self,
        *,
        printer_id: str | None = None,
        state: DispatchState | None = None,
        requested_by: int | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Dispatch], int]:
        """Dispatches newest first, and how many match."""
        return await self._repository.list_dispatches(
            printer_id=printer_id, state=state, requested_by=requested_by, limit=limit, offset=offset
        )

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
        if self._printers.connection(printer_id) is None:
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
        dispatch = await self._set(dispatch, job_id=job.id)
        log.info(
            "dispatch.requested",
            dispatch_id=dispatch.id,
            printer_id=printer_id,
            file_id=stored.id,
            plate=plate,
            by=requester.user_id,
        )
        self._spawn(dispatch)
        return dispatch

    # --- driving ------------------------------------------------------------------------------------------------

    async def _set(self, dispatch: Dispatch, **changes: Any) -> Dispatch:
        """Store ``changes`` (retrying while the store is unavailable), then publish the new state."""
        delays = RetryDelays(initial=0.5, maximum=15.0)
        while True:
            try:
                updated = await self._repository.update(dispatch.id, **changes)
                break
            except StoreUnavailable:
                await asyncio.sleep(delays.next_delay())
        self._bus.publish(DispatchUpdated(dispatch=updated))
        return updated

    async def _drive(self, dispatch_id: int, *, resumed: bool) -> None:
        dispatch = await self._repository.get(dispatch_id)
        if dispatch is None or dispatch.state.is_final:
            return
        try:
            if resumed:
                dispatch = await self._reconcile(dispatch)
            while not dispatch.state.is_final:
                dispatch = await self._step(dispatch)
        except _Failed as failed:
            await self._fail(dispatch, failed.reason, failed.detail)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug must not leave the dispatch "in flight" for ever
            log.exception("dispatch.crashed", dispatch_id=dispatch_id)
            await self._fail(dispatch, FailureReason.REJECTED, "printfleet failed while sending the print.")

    async def _fail(self, dispatch: Dispatch, reason: FailureReason, detail: str) -> None:
        current = await self._repository.get(dispatch.id) or dispatch
        await self._set(current, state=DispatchState.FAILED, error=reason, detail=detail[:500])
        log.warning("dispatch.failed", dispatch_id=dispatch.id, printer_id=dispatch.printer_id, reason=reason.value)
        if current.job_id is not None:
            await self._jobs.cancel_pending(current.job_id, reason=f"dispatch failed: {reason.value}")

    async def _reconcile(self, dispatch: Dispatch) -> Dispatch:
        """After a restart: wait for the printer's first report, then decide from it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timings.reconcile_wait_s
        while True:
            status = self._printers.status(dispatch.printer_id)
            known = status is not None and status.offline_reason is not OfflineReason.CONNECTING
            if known or loop.time() >= deadline:
                break
            await asyncio.sleep(self._timings.poll_s)
        if status is not None and rules.is_our_print(
            status, job_name=dispatch.job_name, remote_name=dispatch.remote_name
        ):
            return await self._started(dispatch)
        if dispatch.state is DispatchState.STARTING:
            return dispatch  # confirmation goes on from the stored start time
        if dispatch.state is DispatchState.UPLOADED and dispatch.remote_path:
            return dispatch
        return await self._set(dispatch, state=DispatchState.PENDING)  # upload again: the last one may be partial

    def _sender(self, dispatch: Dispatch) -> PrintSender:
        connection = self._printers.connection(dispatch.printer_id)
        if connection is None:
            raise _Failed(FailureReason.PRINTER_OFFLINE, "The printer is not connected.")
        if not hasattr(connection, "upload_starts_print"):
            raise _Failed(FailureReason.INCOMPATIBLE, "printfleet cannot send prints to this kind of printer.")
        sender: PrintSender = connection
        return sender

    async def _print_request(self, dispatch: Dispatch, attempt: int) -> PrintRequest:
        stored = await self._files.get(dispatch.file_id)
        return PrintRequest(
            source=self._files.path_of(stored),
            remote_name=dispatch.remote_name,
            kind=stored.kind,
            plate=dispatch.plate,
            job_name=dispatch.job_name,
            attempt=attempt,
            size_bytes=stored.size_bytes,
            options=dispatch.options,
        )

    def _check_ready(self, dispatch: Dispatch) -> None:
        refusal = rules.readiness(self._printers.status(dispatch.printer_id))
        if refusal is None and self._require_plate_clear and self._plates.needs_clearing(dispatch.printer_id):
            refusal = rules.Refusal(FailureReason.PLATE_NOT_CLEAR, "The plate has not been cleared.")
        if refusal is not None:
            raise _Failed(refusal.reason, refusal.message)

    async def _step(self, dispatch: Dispatch) -> Dispatch:
        if dispatch.state in (DispatchState.PENDING, DispatchState.UPLOADING):
            return await self._upload(dispatch)
        if dispatch.state is DispatchState.UPLOADED:
            return await self._start(dispatch)
        if dispatch.state is DispatchState.STARTING:
            return await self._confirm(dispatch)
        raise AssertionError(f"no step from {dispatch.state}")  # pragma: no cover

    async def _upload(self, dispatch: Dispatch) -> Dispatch:
        self._check_ready(dispatch)
        sender = self._sender(dispatch)
        try:
            stored = await self._files.get(dispatch.file_id)
        except NotFound:
            raise _Failed(FailureReason.REJECTED, "The file was deleted from the library.") from None
        if not self._files.path_of(stored).is_file():
            raise _Failed(FailureReason.REJECTED, "The file's content is missing from the library.")
        starts = sender.upload_starts_print
        attempt = dispatch.attempts + 1 if starts else max(dispatch.attempts, 1)
        request = await self._print_request(dispatch, attempt)
        if starts:  # the upload may start the print: stored as a start attempt first
            dispatch = await self._set(
                dispatch, state=DispatchState.UPLOADING, attempts=attempt, start_sent_at=self._clock()
            )
        else:
            dispatch = await self._set(dispatch, state=DispatchState.UPLOADING)
        try:
            uploaded: Uploaded = await sender.upload(request, start=starts)
        except PrinterError as error:
            raise _failure(error) from error
        log.info(
            "dispatch.uploaded", dispatch_id=dispatch.id, remote_path=uploaded.remote_path, started=uploaded.started
        )
        dispatch = await self._set(dispatch, state=DispatchState.UPLOADED, remote_path=uploaded.remote_path)
        if starts:
            if not uploaded.started:
                raise _Failed(FailureReason.PRINTER_BUSY, "The printer stored the file but did not start it.")
            return await self._set(dispatch, state=DispatchState.STARTING)
        return dispatch

    async def _start(self, dispatch: Dispatch) -> Dispatch:
        """Send the start (again): stored as ``starting`` with the attempt and its time first."""
        if dispatch.attempts >= self._timings.max_attempts:
            raise _Failed(
                FailureReason.NOT_CONFIRMED,
                f"The printer did not start the print after {dispatch.attempts} attempts.",
            )
        self._check_ready(dispatch)
        sender = self._sender(dispatch)
        attempt = dispatch.attempts + 1
        request = await self._print_request(dispatch, attempt)
        dispatch = await self._set(
            dispatch, state=DispatchState.STARTING, attempts=attempt, start_sent_at=self._clock()
        )
        try:
            await sender.start(request, dispatch.remote_path or dispatch.remote_name)
        except PrinterError as error:
            raise _failure(error) from error
        log.info("dispatch.start_sent", dispatch_id=dispatch.id, attempt=attempt)
        return dispatch

    async def _confirm(self, dispatch: Dispatch) -> Dispatch:
        """Watch the printer until it shows our print (→ ``started``) or the window ends (→ start again)."""
        sent = dispatch.start_sent_at or self._clock()
        window = timedelta(seconds=self._timings.confirm_window_s)
        extension = timedelta(seconds=self._timings.confirm_extension_s)
        while True:
            status = self._printers.status(dispatch.printer_id)
            if status is not None and rules.is_our_print(
                status, job_name=dispatch.job_name, remote_name=dispatch.remote_name
            ):
                return await self._started(dispatch)
            elapsed = self._clock() - sent
            preparing = status is not None and status.state.is_active
            if elapsed >= window + (extension if preparing else timedelta(0)):
                if preparing:
                    raise _Failed(FailureReason.PRINTER_BUSY, "Another print started on the printer.")
                log.warning("dispatch.not_confirmed", dispatch_id=dispatch.id, attempt=dispatch.attempts)
                if dispatch.attempts >= self._timings.max_attempts:
                    raise _Failed(
                        FailureReason.NOT_CONFIRMED,
                        f"The printer did not start the print after {dispatch.attempts} attempts.",
                    )
                return await self._set(dispatch, state=DispatchState.UPLOADED)  # start again from the stored file
            await asyncio.sleep(self._timings.poll_s)

    async def _started(self, dispatch: Dispatch) -> Dispatch:
        log.info(
            "dispatch.started", dispatch_id=dispatch.id, printer_id=dispatch.printer_id, attempts=dispatch.attempts
        )
        return await self._set(dispatch, state=DispatchState.STARTED, error=None)
