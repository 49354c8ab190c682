"""The plate-clear gate as a service: which printers' plates need clearing, kept in memory and in the store.

A monitoring listener (registered after the job tracker and the queue, so the print's job has ended and is linked)
raises the flag when a printer shows how its last print ended and that print ended after the plate was last
cleared; a print starting clears it (someone cleared the plate to start it: the queue member at the printer, or a
person at its screen). :meth:`PlateService.clear` is the person's confirmation, with the print's outcome stored on
its job. Every change is stored first, then published (``plate_cleared``) and shown on the printer's status.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from printfleet.domain.dispatch.plates import PlateOutcome, PlateState
from printfleet.domain.events import PlateCleared
from printfleet.domain.jobs import Job, JobFilter
from printfleet.domain.printer import PrinterConfig, PrinterStatus
from printfleet.services.dispatch.ports import PlateRepository
from printfleet.services.errors import JobNotFound, PrinterNotFound
from printfleet.services.events import EventBus
from printfleet.services.ports import JobRepository

log = structlog.get_logger("printfleet.plates")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _user_id(queue_user_id: str | None) -> int | None:
    """The account id in a queue user id ``user:<id>`` (None for other forms)."""
    if queue_user_id and queue_user_id.startswith("user:") and queue_user_id[5:].isdigit():
        return int(queue_user_id[5:])
    return None


class PlateService:
    """Plate states of every printer. Call :meth:`load` once at start-up before the printers connect."""

    def __init__(
        self,
        *,
        repository: PlateRepository,
        jobs: JobRepository,
        bus: EventBus,
        on_change: Callable[[str], None] = lambda _printer_id: None,
        known_printer: Callable[[str], bool] = lambda _printer_id: True,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """``on_change(printer_id)`` is called after a plate changed (the monitoring service publishes the
        printer's status again); ``known_printer(printer_id)`` says whether a printer exists."""
        self._repository = repository
        self._jobs = jobs
        self._bus = bus
        self._on_change = on_change
        self._known_printer = known_printer
        self._clock = clock
        self._states: dict[str, PlateState] = {}
        # One decision at a time per printer: a print's end seen while a person clears the plate must not raise the
        # flag again from the state read before the clearing.
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def load(self) -> None:
        """Read every plate state from the store."""
        self._states = {state.printer_id: state for state in await self._repository.all()}

    async def take_in_clearings(self) -> int:
        """Take in the plates another process of the farm saw cleared: every printer whose flag is up here and
        down in the store (a person confirmed it there, or a print started there) gets the stored state. Flags are
        only lowered this way, never raised (each process raises them from the prints it sees end). How many plates
        changed. Raises StoreUnavailable."""
        if not any(state.needs_clearing for state in self._states.values()):
            return 0
        changed = 0
        for stored in await self._repository.all():
            known = self._states.get(stored.printer_id)
            lock = self._locks[stored.printer_id]
            if known is None or not known.needs_clearing or stored.needs_clearing or lock.locked():
                continue
            async with lock:
                self._states[stored.printer_id] = stored
            changed += 1
            log.info("plate.cleared_elsewhere", printer_id=stored.printer_id)
            self._on_change(stored.printer_id)
        return changed

    def needs_clearing(self, printer_id: str) -> bool:
        """Whether ``printer_id``'s plate waits to be cleared (from memory)."""
        state = self._states.get(printer_id)
        return state is not None and state.needs_clearing

    def state(self, printer_id: str) -> PlateState:
        """``printer_id``'s plate state (a clear plate when nothing is known)."""
        return self._states.get(printer_id) or PlateState(printer_id=printer_id)

    async def last_job(self, printer_id: str) -> Job | None:
        """The job whose print left the plate as it is (the last one that raised the flag), or None."""
        state = self._states.get(printer_id)
        if state is None or state.job_id is None:
            return None
        return await self._jobs.get_job(state.job_id)

    async def _last_ended_job(self, printer_id: str) -> Job | None:
        jobs, _ = await self._jobs.list_jobs(JobFilter(printer_id=printer_id, limit=5))
        return next((job for job in jobs if job.end_time is not None), None)

    async def on_printer_change(
        self, config: PrinterConfig, previous: PrinterStatus | None, current: PrinterStatus
    ) -> None:
        """Monitoring listener: raise the flag when the printer shows an ended print that ended after the last
        clearing; clear it when a print is under way. Idempotent (called again after a store failure)."""
        async with self._locks[config.id]:
            state = self._states.get(config.id) or PlateState(printer_id=config.id)
            if current.state.is_terminal and not state.needs_clearing:
                job = await self._last_ended_job(config.id)
                if job is None or job.end_time is None:
                    return
                if state.cleared_at is not None and job.end_time <= state.cleared_at:
                    return
                # Another process of the farm may have seen this end sooner and a person cleared the plate there
                # already: the store's clearing wins over raising the flag again.
                stored = await self._repository.get(config.id)
                if stored is not None and stored.cleared_at is not None and job.end_time <= stored.cleared_at:
                    self._states[config.id] = stored
                    return
                raised = PlateState(
                    printer_id=config.id,
                    needs_clearing=True,
                    since=job.end_time,
                    job_id=job.id,
                    cleared_at=state.cleared_at,
                    cleared_by=state.cleared_by,
                    outcome=state.outcome,
                )
                await self._save(raised)
                log.info("plate.needs_clearing", printer_id=config.id, job_id=job.id)
            elif current.state.is_active and state.needs_clearing:
                active = await self._jobs.active_job(config.id)
                by = None if active is None else (active.requested_by or _user_id(active.queue_user_id))
                cleared = PlateState(
                    printer_id=config.id,
                    job_id=state.job_id,
                    since=state.since,
                    cleared_at=self._clock(),
                    cleared_by=by,
                    outcome=None,
                )
                await self._save(cleared)
                log.info("plate.cleared_by_print", printer_id=config.id, by=by)
                self._bus.publish(PlateCleared(plate=cleared))

    async def clear(self, printer_id: str, outcome: PlateOutcome, *, by: int | None) -> PlateState:
        """A person confirms ``printer_id``'s plate is clear; ``outcome`` (good/bad) is stored on the print's job.
        Clearing a clear plate records the confirmation again (idempotent for the gate). Raises PrinterNotFound."""
        if not self._known_printer(printer_id):
            raise PrinterNotFound(printer_id)
        async with self._locks[printer_id]:
            state = self.state(printer_id)
            cleared = PlateState(
                printer_id=printer_id,
                job_id=state.job_id,
                since=state.since,
                cleared_at=self._clock(),
                cleared_by=by,
                outcome=outcome,
            )
            await self._save(cleared)
        if state.needs_clearing and state.job_id is not None:
            with contextlib.suppress(JobNotFound):
                await self._jobs.update_job(state.job_id, plate_outcome=outcome.value)
        log.info("plate.cleared", printer_id=printer_id, outcome=outcome.value, by=by)
        self._bus.publish(PlateCleared(plate=cleared))
        return cleared

    async def forget(self, printer_id: str) -> None:
        """A printer was removed: drop its plate state."""
        if self._states.pop(printer_id, None) is not None:
            await self._repository.delete(printer_id)

    async def _save(self, state: PlateState) -> None:
        await self._repository.save(state)
        self._states[state.printer_id] = state
        self._on_change(state.printer_id)
