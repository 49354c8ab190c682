"""The steps of one dispatch, stored before each runs: upload, start, confirm, and reconciliation after a restart.

:class:`DispatchSteps` is the driving half of the dispatch service (:mod:`printfleet.services.dispatch.service`
takes requests and checks them). Research: dispatch-scheduling-orders.md 1a step 3 (watchdog windows 90 s + 180 s,
3 attempts), 1b (PrusaLink 409 after upload), 1c (OctoPrint ``effectivePrint``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from printfleet.domain import tracking
from printfleet.domain.dispatch import rules
from printfleet.domain.dispatch.model import (
    CONFIRM_EXTENSION_S,
    CONFIRM_WINDOW_S,
    MAX_ATTEMPTS,
    Dispatch,
    DispatchState,
    FailureReason,
)
from printfleet.domain.dispatch.sending import (
    PrinterBusy,
    PrintRequest,
    PrintSender,
    StartRejected,
    Uploaded,
    UploadFailed,
)
from printfleet.domain.events import DispatchUpdated
from printfleet.domain.jobs import JobFilter
from printfleet.domain.printer import (
    OfflineReason,
    PrinterConfig,
    PrinterError,
    PrinterNotConnected,
    PrinterStatus,
)
from printfleet.services.dispatch.plates import PlateService
from printfleet.services.dispatch.ports import DispatchRepository
from printfleet.services.errors import NotFound, StoreUnavailable
from printfleet.services.events import EventBus
from printfleet.services.files import FileLibrary
from printfleet.services.health import RetryDelays
from printfleet.services.jobs import JobService

log = structlog.get_logger("printfleet.dispatch")


class Printers(Protocol):
    """The live printers (the monitoring service)."""

    def watched(self) -> list[tuple[PrinterConfig, PrinterStatus]]:
        """Every printer with its latest status."""
        ...

    def status(self, printer_id: str) -> PrinterStatus | None:
        """A printer's latest status, or None when it is not watched."""
        ...

    def connection(self, printer_id: str) -> Any:
        """A printer's live connection (a PrintSender when its kind can take prints), or None (offline here; in a
        shared farm, owned by another process)."""
        ...

    def config(self, printer_id: str) -> PrinterConfig | None:
        """The printer's configuration when it is connected here or, in a shared farm, known as owned by another
        process; None otherwise."""
        ...


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


class DispatchSteps:
    """Drives stored dispatches through their steps; every change is stored first, then published."""

    def __init__(
        self,
        *,
        repository: DispatchRepository,
        files: FileLibrary,
        jobs: JobService,
        printers: Printers,
        plates: PlateService,
        bus: EventBus,
        require_plate_clear: bool,
        timings: DispatchTimings,
        clock: Callable[[], datetime],
        on_saved: Callable[[Dispatch], None] = lambda _dispatch: None,
    ) -> None:
        """``on_saved(dispatch)`` is called after every stored change, before it is published."""
        self._repository = repository
        self._files = files
        self._jobs = jobs
        self._printers = printers
        self._plates = plates
        self._bus = bus
        self._require_plate_clear = require_plate_clear
        self._timings = timings
        self._clock = clock
        self._on_saved = on_saved

    async def save(self, dispatch: Dispatch, **changes: Any) -> Dispatch:
        """Store ``changes`` (retrying while the store is unavailable), then publish the new state."""
        delays = RetryDelays(initial=0.5, maximum=15.0)
        while True:
            try:
                updated = await self._repository.update(dispatch.id, **changes)
                break
            except StoreUnavailable:
                await asyncio.sleep(delays.next_delay())
        self._on_saved(updated)
        self._bus.publish(DispatchUpdated(dispatch=updated))
        return updated

    async def drive(self, dispatch_id: int, *, resumed: bool) -> None:
        """Walk the dispatch to ``started`` or ``failed`` (after a restart, ``resumed``: reconcile it first)."""
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
        await self.save(current, state=DispatchState.FAILED, error=reason, detail=detail[:500])
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
        if status is not None and dispatch.start_sent_at is not None:
            verdict = rules.unseen_print(
                status,
                job_name=dispatch.job_name,
                remote_name=dispatch.remote_name,
                start_sent_at=dispatch.start_sent_at,
                earlier_print_of_same_file=await self._earlier_print_of_same_file(dispatch),
            )
            if verdict is rules.UnseenPrint.RAN:
                return await self._ran_unseen(dispatch, status)
            if verdict is rules.UnseenPrint.AMBIGUOUS:
                raise _Failed(
                    FailureReason.NOT_CONFIRMED,
                    "While printfleet was stopped the printer ended a print of this file, perhaps this one: "
                    "it is not started again. Check the printer before sending it again.",
                )
        if dispatch.state is DispatchState.STARTING:
            return dispatch  # confirmation goes on from the stored start time
        if dispatch.state is DispatchState.UPLOADED and dispatch.remote_path:
            return dispatch
        return await self.save(dispatch, state=DispatchState.PENDING)  # upload again: the last one may be partial

    async def _earlier_print_of_same_file(self, dispatch: Dispatch) -> bool:
        """Whether the printer's last recorded print before our start had our file or job name."""
        jobs, _ = await self._jobs.list(JobFilter(printer_id=dispatch.printer_id, limit=10))
        sent = dispatch.start_sent_at
        earlier = next(
            (
                job
                for job in jobs
                if job.id != dispatch.job_id and job.end_time is not None and (sent is None or job.end_time <= sent)
            ),
            None,
        )
        if earlier is None:
            return False
        file_name = (earlier.filename or "").rsplit("/", 1)[-1].lower()
        same_name = earlier.job_name in (dispatch.job_name, dispatch.remote_name)
        return same_name or file_name == dispatch.remote_name.lower()

    async def _ran_unseen(self, dispatch: Dispatch, status: PrinterStatus) -> Dispatch:
        """Our print ran and ended while printfleet was stopped: the dispatch is ``started``, its job ends with the
        printer's outcome, and the plate needs clearing."""
        log.warning("dispatch.ran_unseen", dispatch_id=dispatch.id, printer_id=dispatch.printer_id)
        started = await self._started(dispatch)
        if dispatch.job_id is not None:
            await self._jobs.end_unseen(
                dispatch.job_id,
                status=tracking.outcome(status.state),
                reason="the print ran while printfleet was stopped",
            )
        config = next((c for c, _ in self._printers.watched() if c.id == dispatch.printer_id), None)
        if config is not None:
            await self._plates.on_printer_change(config, None, status)
        return started

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
            dispatch = await self.save(
                dispatch, state=DispatchState.UPLOADING, attempts=attempt, start_sent_at=self._clock()
            )
        else:
            dispatch = await self.save(dispatch, state=DispatchState.UPLOADING)
        try:
            uploaded: Uploaded = await sender.upload(request, start=starts)
        except PrinterError as error:
            raise _failure(error) from error
        log.info(
            "dispatch.uploaded", dispatch_id=dispatch.id, remote_path=uploaded.remote_path, started=uploaded.started
        )
        dispatch = await self.save(dispatch, state=DispatchState.UPLOADED, remote_path=uploaded.remote_path)
        if starts:
            if not uploaded.started:
                raise _Failed(FailureReason.PRINTER_BUSY, "The printer stored the file but did not start it.")
            return await self.save(dispatch, state=DispatchState.STARTING)
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
        dispatch = await self.save(
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
                return await self.save(dispatch, state=DispatchState.UPLOADED)  # start again from the stored file
            await asyncio.sleep(self._timings.poll_s)

    async def _started(self, dispatch: Dispatch) -> Dispatch:
        log.info(
            "dispatch.started", dispatch_id=dispatch.id, printer_id=dispatch.printer_id, attempts=dispatch.attempts
        )
        return await self.save(dispatch, state=DispatchState.STARTED, error=None)
