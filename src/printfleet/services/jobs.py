"""Jobs: every print becomes exactly one job, from start to end; manual jobs; user edits.

:class:`JobService` listens to the monitoring service's state changes, asks the tracking rules
(:func:`printfleet.domain.tracking.decide`) what they mean for the printer's active job, carries each decision out in
one transaction, and publishes ``job_auto_created`` / ``job_updated`` only after the commit (invariant 7). The
store's one-active-job-per-printer index, not a lock or a time window, is what makes a duplicate impossible, also
across restarts and across processes sharing one PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from printfleet.domain.events import FirstLayerDone, JobAutoCreated, JobUpdated
from printfleet.domain.jobs import AUTO_CREATION_KEYS, Job, JobFilter, JobStatus, NewJob, clean_job_name
from printfleet.domain.printer import PrinterConfig, PrinterState, PrinterStatus
from printfleet.domain.tracking import (
    ActiveJob,
    EndJob,
    StartJob,
    UpdateJob,
    decide,
    first_layer_done,
    same_print,
)
from printfleet.services.errors import ActiveJobExists, InvalidInput, JobNotFound
from printfleet.services.events import EventBus
from printfleet.services.ports import JobMetrics, JobRepository
from printfleet.services.settings import AUTO_CREATE, SettingsService

log = structlog.get_logger("printfleet.jobs")

USER_FIELDS = frozenset({"job_name", "is_business", "customer_info", "notes", "printer_id", "filename", "file_id"})

TEXT_LIMITS = {"job_name": 300, "filename": 500, "notes": 10_000, "file_id": 200, "printer_id": 64}
"""The longest value of each user-editable text field, characters."""

CUSTOMER_INFO_MAX_CHARS = 10_000
"""The longest ``customer_info`` accepted, in characters of its JSON text."""


def check_user_fields(fields: dict[str, Any]) -> None:
    """Refuse user-given job fields that are too long (:data:`TEXT_LIMITS`, :data:`CUSTOMER_INFO_MAX_CHARS`) or a
    ``customer_info`` that is not a JSON object; raises InvalidInput naming the field (never echoing the value)."""
    for name, limit in TEXT_LIMITS.items():
        value = fields.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise InvalidInput(f"{name}: at most {limit} characters")
    if "customer_info" in fields and fields["customer_info"] is not None:
        info = fields["customer_info"]
        if not isinstance(info, dict):
            raise InvalidInput("customer_info: must be an object")
        try:
            size = len(json.dumps(info, ensure_ascii=False, separators=(",", ":")))
        except (RecursionError, TypeError, ValueError):
            raise InvalidInput("customer_info: must be a plain JSON object") from None
        if size > CUSTOMER_INFO_MAX_CHARS:
            raise InvalidInput(f"customer_info: at most {CUSTOMER_INFO_MAX_CHARS} characters of JSON")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _reported_names(status: PrinterStatus) -> tuple[str, ...]:
    """Other names the printer gives the print besides its full file name: the bare file name (PrusaLink reports
    ``/usb/NAME``) and the display name (Bambu ``subtask_name``, PrusaLink's long file name)."""
    bare = (status.file_name or "").rsplit("/", 1)[-1]
    return tuple(dict.fromkeys(name for name in (bare, status.job_name or "") if name))


def _active_view(job: Job) -> ActiveJob:
    return ActiveJob(
        job_id=job.id,
        filename=job.filename,
        native_job_id=job.native_job_id,
        status=job.status,
        progress=job.progress,
        elapsed_seconds=job.elapsed_seconds,
    )


class JobService:
    """Use cases on jobs. Raises JobNotFound, InvalidInput, Conflict (services.errors) to the API."""

    def __init__(
        self,
        *,
        repository: JobRepository,
        settings: SettingsService,
        bus: EventBus,
        metrics: JobMetrics | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._repository = repository
        self._settings = settings
        self._bus = bus
        self._metrics = metrics
        self._clock = clock
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._seen: set[str] = set()  # printers that reported since start-up
        self._running: dict[str, Job] = {}  # the running job of each printer, as last seen here
        self._known: set[int] = set()  # active jobs this process has created or seen before
        self._live: Callable[[], Iterable[tuple[PrinterConfig, PrinterStatus]]] = tuple

    # --- wiring -----------------------------------------------------------------------------------------------

    def attach(self, live: Callable[[], Iterable[tuple[PrinterConfig, PrinterStatus]]]) -> None:
        """Give the service the live printers (for re-checking them when auto-creation is switched on)."""
        self._live = live
        self._settings.add_listener(self._on_settings_changed)

    async def _on_settings_changed(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        if new[AUTO_CREATE] and not old[AUTO_CREATE]:
            await self.reconcile()

    async def reconcile(self) -> None:
        """Apply the tracking rules to every printer's current status (auto-creation switched on, printer edited)."""
        for config, status in list(self._live()):
            await self.on_printer_change(config, None, status)

    def printer_added(self, printer_id: str) -> None:
        """A printer was added while running: a print it shows first is discovered, but not "on startup"."""
        self._seen.add(printer_id)

    def auto_create_for(self, config: PrinterConfig) -> bool:
        """The printer's override when set, else the global setting."""
        return self._settings.auto_create if config.auto_create_jobs is None else config.auto_create_jobs

    # --- tracking -----------------------------------------------------------------------------------------------

    async def on_printer_change(
        self, config: PrinterConfig, previous: PrinterStatus | None, current: PrinterStatus
    ) -> None:
        """React to one state change of a printer (the monitoring service's listener)."""
        if current.state is PrinterState.OFFLINE:
            return
        first_sight = previous is None or previous.state is PrinterState.OFFLINE
        on_startup = config.id not in self._seen
        self._seen.add(config.id)
        started = time.perf_counter()
        async with self._locks[config.id]:
            active = await self._repository.active_job(config.id)
            if active is not None and self._predates(active, current):
                log.debug("job.stale_report_ignored", printer_id=config.id, job_id=active.id, state=current.state.value)
                return
            if active is not None and self._lagging(active, current, first_sight=first_sight):
                log.debug("job.other_print_end_ignored", printer_id=config.id, job_id=active.id)
                return
            self._remember(config.id, active)
            decisions = decide(_active_view(active) if active else None, current, first_sight=first_sight)
            for decision in decisions:
                if isinstance(decision, EndJob) and active is not None:
                    await self._end(active, current, decision)
                    active = None
                elif isinstance(decision, UpdateJob) and active is not None:
                    if first_sight:  # the print seen again after a restart or reconnect adopts its job
                        self._duplicate(config, current)
                    await self._continue(active, current, decision.status)
                elif isinstance(decision, StartJob):
                    await self._start(
                        config, current, discovered=decision.discovered, on_startup=on_startup, started=started
                    )
        await self.on_telemetry(config, previous, current)

    async def on_telemetry(self, config: PrinterConfig, previous: PrinterStatus | None, current: PrinterStatus) -> None:
        """Announce milestones of the running print between state changes (the monitoring service's telemetry
        listener, also called after each state change): ``first_layer_done`` when the layer counter crosses 2. It
        runs for every report, so it reads nothing from the store: the running job is the one this process last
        saw (another process sharing the store announces it when it saw it; the outbox sends it once)."""
        if first_layer_done(previous, current):
            running = self._running.get(config.id)
            if running is not None:
                self._bus.publish(FirstLayerDone(job=running))

    def _predates(self, job: Job, status: PrinterStatus) -> bool:
        """Whether ``status`` was received before ``job`` existed, and the job is not one this process made or saw:
        another process sharing the store created it from a newer report than this one (a second process's first
        report, answered before the print began, is handled after the first process created the print's job). Such a
        report says nothing about the job's print; this process acts on the reports that follow it."""
        if job.id in self._known or status.last_seen is None:
            return False
        return status.last_seen <= job.created_at

    def _lagging(self, job: Job, status: PrinterStatus, *, first_sight: bool) -> bool:
        """Whether ``status``, the end of another print than ``job``'s, comes from this process's connection lagging
        behind another process's: the job is not one this process made or saw (another process sharing the store
        saw its print start), and this process has been connected all along, so it saw no print start since its last
        report: the end it reports is that of the print before. Ending the job on it would close a print under way
        (its own end is handled as it comes). After a start-up or reconnect (``first_sight``) such an end is believed:
        the job's print may have ended and another run while nobody watched."""
        if first_sight or job.id in self._known or not status.state.is_terminal:
            return False
        return not same_print(_active_view(job), status)

    def _remember(self, printer_id: str, job: Job | None) -> None:
        """Keep ``job`` as the printer's running job (None: it has none) for :meth:`on_telemetry`."""
        before = self._running.pop(printer_id, None)
        if before is not None and (job is None or before.id != job.id):
            self._known.discard(before.id)
        if job is not None:
            self._running[printer_id] = job
            self._known.add(job.id)

    def _duplicate(self, config: PrinterConfig, status: PrinterStatus) -> None:
        if self._metrics is not None:
            self._metrics.duplicate_prevented(config.kind.value)
        log.debug("job.duplicate_prevented", printer_id=config.id, file=status.file_name)

    def _times(self, status: PrinterStatus, now: datetime) -> tuple[datetime, datetime | None]:
        """(start_time, printer_start_time): the printer's start when it gives one, else discovery time."""
        if status.print_start_time is not None:
            return status.print_start_time, status.print_start_time
        if status.elapsed_seconds is not None:
            printer_start = now - timedelta(seconds=status.elapsed_seconds)
            return printer_start, printer_start
        return now, None

    async def _start(
        self, config: PrinterConfig, status: PrinterStatus, *, discovered: bool, on_startup: bool, started: float
    ) -> None:
        now = self._clock()
        start_time, printer_start = self._times(status, now)
        job_name = clean_job_name(status.file_name, status.job_name)
        try:
            manual = await self._repository.start_pending_job(
                printer_id=config.id,
                filename=status.file_name or "",
                job_name=job_name,
                start_time=start_time,
                native_job_id=status.native_job_id,
                printer_start_time=printer_start,
                elapsed_seconds=status.elapsed_seconds,
                progress=status.progress,
                also_names=_reported_names(status),
            )
        except ActiveJobExists:
            self._duplicate(config, status)
            return
        if manual is not None:
            log.info("job.manual_started", printer_id=config.id, job_id=manual.id, job_name=manual.job_name)
            self._remember(config.id, manual)
            self._bus.publish(JobUpdated(job=manual))
            return
        if not self.auto_create_for(config):
            log.info("job.auto_create_disabled", printer_id=config.id, file=status.file_name)
            return
        discovered_on_startup = discovered and on_startup
        if discovered:
            log.info("job.print_discovered", printer_id=config.id, file=status.file_name, on_startup=on_startup)
        try:
            job = await self._repository.create_job(
                NewJob(
                    printer_id=config.id,
                    printer_type=config.kind.value,
                    job_name=job_name,
                    filename=status.file_name,
                    status=JobStatus.PAUSED if status.state is PrinterState.PAUSED else JobStatus.RUNNING,
                    created_at=now,
                    start_time=start_time,
                    progress=status.progress,
                    native_job_id=status.native_job_id,
                    auto_created=True,
                    discovered_on_startup=discovered_on_startup,
                    printer_start_time=printer_start,
                    elapsed_seconds=status.elapsed_seconds,
                )
            )
        except ActiveJobExists:  # another process (or a racing report) created it first
            self._duplicate(config, status)
            return
        if self._metrics is not None:
            self._metrics.job_created(
                config.kind.value,
                seconds=time.perf_counter() - started,
                with_start_time=printer_start is not None,
                on_startup=discovered_on_startup,
            )
        log.info("job.auto_created", printer_id=config.id, job_id=job.id, job_name=job.job_name, discovered=discovered)
        self._remember(config.id, job)
        self._bus.publish(JobAutoCreated(job=job))

    async def _continue(self, job: Job, status: PrinterStatus, wanted: JobStatus) -> None:
        changes: dict[str, Any] = {}
        if status.progress is not None:
            changes["progress"] = status.progress
        if status.elapsed_seconds is not None:
            changes["elapsed_seconds"] = status.elapsed_seconds
        if wanted is not job.status:
            changes["status"] = wanted
        if not changes:
            return
        if "status" not in changes:  # a checkpoint of the running print: written, nothing to announce
            await self._repository.record_progress(
                job.id, progress=status.progress, elapsed_seconds=status.elapsed_seconds
            )
            return
        updated = await self._repository.update_job(job.id, **changes)
        if "status" in changes and not updated.deleted:
            log.info("job.status_changed", printer_id=job.printer_id, job_id=job.id, status=wanted.value)
            self._bus.publish(JobUpdated(job=updated))

    async def _end(self, job: Job, status: PrinterStatus, decision: EndJob) -> None:
        now = self._clock()
        changes: dict[str, Any] = {
            "status": decision.status,
            "end_time": now,
            "end_reason": decision.reason,
        }
        if job.start_time is not None:
            changes["duration_seconds"] = max(0, round((now - job.start_time).total_seconds()))
        if decision.status is JobStatus.COMPLETED:
            changes["progress"] = 100.0
        elif status.progress is not None and decision.status is not JobStatus.UNKNOWN:
            changes["progress"] = status.progress
        ended = await self._repository.update_job(job.id, **changes)
        self._remember(job.printer_id, None)
        log.info(
            "job.ended",
            printer_id=job.printer_id,
            job_id=job.id,
            status=decision.status.value,
            reason=decision.reason,
            duration_s=changes.get("duration_seconds"),
        )
        if not ended.deleted:
            self._bus.publish(JobUpdated(job=ended))

    async def close_for_removed_printer(self, printer_id: str) -> None:
        """A deleted printer's active job ends as ``unknown`` (no job stays running forever)."""
        async with self._locks[printer_id]:
            active = await self._repository.active_job(printer_id)
            if active is not None:
                stand_in = PrinterStatus(state=PrinterState.IDLE)
                await self._end(active, stand_in, EndJob(JobStatus.UNKNOWN, "printer deleted"))

    # --- user operations ----------------------------------------------------------------------------------------

    async def list(self, job_filter: JobFilter) -> tuple[list[Job], int]:
        """Jobs newest first and the total matching the filter."""
        return await self._repository.list_jobs(job_filter)

    async def get(self, job_id: int) -> Job:
        """One job; raises JobNotFound."""
        job = await self._repository.get_job(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    async def create_manual(
        self,
        *,
        printer_id: str,
        printer_type: str,
        job_name: str | None,
        filename: str | None,
        is_business: bool = False,
        customer_info: dict[str, Any] | None = None,
        notes: str | None = None,
        file_id: str | None = None,
    ) -> Job:
        """A manual job, ``pending`` until a print of ``filename`` (or named ``job_name``) starts on the printer."""
        if not (job_name or filename):
            raise InvalidInput("job_name or filename: give at least one")
        check_user_fields(
            {
                "job_name": job_name,
                "filename": filename,
                "customer_info": customer_info,
                "notes": notes,
                "file_id": file_id,
            }
        )
        job = await self._repository.create_job(
            NewJob(
                printer_id=printer_id,
                printer_type=printer_type,
                job_name=job_name or clean_job_name(filename),
                filename=filename,
                status=JobStatus.PENDING,
                created_at=self._clock(),
                is_business=is_business,
                customer_info={k: v for k, v in (customer_info or {}).items() if k not in AUTO_CREATION_KEYS},
                notes=notes,
                file_id=file_id,
            )
        )
        self._bus.publish(JobUpdated(job=job))
        return job

    async def create_for_dispatch(
        self,
        *,
        printer_id: str,
        printer_type: str,
        job_name: str,
        filename: str,
        file_id: str,
        dispatch_id: int,
        requested_by: int | None,
    ) -> Job:
        """The ``pending`` job of a dispatch: adopted by the print when the printer reports it (by ``filename``, the
        name printfleet stored the file under, or ``job_name``, the name it asked the printer to show)."""
        job = await self._repository.create_job(
            NewJob(
                printer_id=printer_id,
                printer_type=printer_type,
                job_name=job_name,
                filename=filename,
                status=JobStatus.PENDING,
                created_at=self._clock(),
                file_id=file_id,
                dispatch_id=dispatch_id,
                requested_by=requested_by,
            )
        )
        self._bus.publish(JobUpdated(job=job))
        return job

    async def cancel_pending(self, job_id: int, *, reason: str) -> None:
        """Cancel a job that is still ``pending`` (its dispatch failed); a job whose print started is left alone."""
        job = await self._repository.get_job(job_id)
        if job is None or job.status is not JobStatus.PENDING:
            return
        ended = await self._repository.update_job(
            job_id, status=JobStatus.CANCELLED, end_time=self._clock(), end_reason=reason
        )
        self._bus.publish(JobUpdated(job=ended))

    async def end_unseen(self, job_id: int, *, status: JobStatus, reason: str) -> Job | None:
        """End a ``pending`` job whose print ran while printfleet was not watching (its dispatch found the printer
        showing the print ended): ``status`` is the printer's outcome (completed, failed, cancelled), the end time is
        now and the start unknown. A job that is no longer pending is left alone (None)."""
        job = await self._repository.get_job(job_id)
        if job is None or job.status is not JobStatus.PENDING:
            return None
        ended = await self._repository.update_job(job_id, status=status, end_time=self._clock(), end_reason=reason)
        self._bus.publish(JobUpdated(job=ended))
        log.info("job.ended_unseen", job_id=job_id, printer_id=job.printer_id, status=status.value)
        return ended

    async def edit(self, job_id: int, changes: dict[str, Any]) -> Job:
        """Apply user edits (``job_name``, ``is_business``, ``customer_info``, ``notes``; ``printer_id`` and
        ``filename`` only on manual jobs). Raises JobNotFound, InvalidInput."""
        job = await self.get(job_id)
        unknown = set(changes) - USER_FIELDS
        if unknown:
            raise InvalidInput(f"{', '.join(sorted(unknown))}: not editable")
        if job.auto_created:
            for frozen in ("printer_id", "filename"):
                if frozen in changes and changes[frozen] != getattr(job, frozen):
                    raise InvalidInput(f"{frozen}: read-only for an auto-created job")
        update = {k: v for k, v in changes.items() if k not in ("printer_id", "filename") or not job.auto_created}
        check_user_fields(update)
        if "customer_info" in update:
            if not isinstance(update["customer_info"], dict):
                raise InvalidInput("customer_info: must be an object")
            update["customer_info"] = {k: v for k, v in update["customer_info"].items() if k not in AUTO_CREATION_KEYS}
        if "job_name" in update and not str(update["job_name"] or "").strip():
            raise InvalidInput("job_name: must not be empty")
        if not update:
            return job
        edited = await self._repository.update_job(job_id, **update)
        self._bus.publish(JobUpdated(job=edited))
        return edited

    async def convert_to_manual(self, job_id: int) -> Job:
        """Drop the auto-created flag (the job then behaves as a manual one)."""
        await self.get(job_id)
        converted = await self._repository.update_job(job_id, auto_created=False)
        self._bus.publish(JobUpdated(job=converted))
        return converted

    async def delete(self, job_id: int) -> None:
        """Delete a job. An active auto-created job keeps holding its print, so the print is not re-created."""
        await self.get(job_id)
        deleted = await self._repository.delete_job(job_id)
        log.info("job.deleted", job_id=job_id, printer_id=deleted.printer_id, status=deleted.status.value)
