"""The fair shared print queue: one FIFO across the printers, offers, claims, start windows, history.

:class:`QueueService` carries out the pure rules of :mod:`printfleet.domain.queue` against the store and the live
printers. It keeps the active entries in memory (the store is written first, in one transaction per decision, and
the memory follows only once that committed) and publishes the queue's events after each commit (DESIGN.md
invariant 7): ``queue_updated``, ``claim_offered``, ``claim_expired``, ``reservation_released``, and for the bot
``queue_print_started``, ``queue_entry_finished``, ``unqueued_print``.

Decisions are taken one at a time (an ``asyncio.Lock``), so two ``/claim`` at once never both succeed; the store's
partial unique indexes refuse a printer held twice or a user holding two printers whatever process writes
(``QueueConflict``: the service re-reads the queue from the store then).

Deadlines are data (invariant 5): one scheduler task sleeps until the earliest claim or start deadline and expires
what is due. After a restart it runs at once (overdue windows are handled first) and re-arms from the store. A
reservation whose start window ran out while the server was down (or runs out before its printer has reported)
waits up to ``startup_grace`` for its printer's first report: a print the printer says began inside the window is
still linked. Only those wait: a deadline of a printer that has reported since start-up is acted on at its time,
even one that falls inside the grace. The grace is measured on the monotonic clock from :meth:`start` (not on the
injected ``clock``); tests with a manual clock pass ``startup_grace=timedelta(0)`` or let the printer report.

The queue follows the printers through the monitoring service's listener (:meth:`on_printer_change`, registered
after the job tracker's, so a print's job exists when the queue links it): a ready printer (idle, finished, failed,
cancelled) nobody holds is offered to the next eligible entry; a print starting on a claimed printer is linked to
its entry and job; a print starting on a printer nobody claimed is reported as unqueued (and an open offer of that
printer withdrawn, keeping its place); the linked print's end closes the entry with the job's outcome and duration.
An offer withdrawn for any reason (an unqueued print, its printer going offline, held or deleted) is followed, in the
same decision, by an offer pass: the entry, still first in line, gets the next free printer at once.

User commands naming an entry that has ended find it in the store: a claim or an estimate change is refused as
``ended``, a cancel answers with the entry as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Self

import structlog

from printfleet.domain import queue as rules
from printfleet.domain import queue_commands as commands
from printfleet.domain.durations import QueueInputError, parse_estimate
from printfleet.domain.events import (
    ClaimExpired,
    ClaimOffered,
    JobUpdated,
    QueueEntryFinished,
    QueuePrintStarted,
    QueueUpdated,
    ReservationReleased,
    UnqueuedPrint,
)
from printfleet.domain.jobs import Job, JobStatus
from printfleet.domain.printer import PrinterConfig, PrinterState, PrinterStatus
from printfleet.domain.queue import EntryStatus, QueueEntry, QueuePolicy, QueueRefusal, Refusal
from printfleet.domain.queue_eta import Eta, EtaTail, estimate_waits, printer_free_at, simulate
from printfleet.domain.queue_history import HistoryKind, HistoryRecord
from printfleet.domain.queue_predict import Prediction, predict
from printfleet.services.errors import PrinterNotFound, QueueConflict, QueueEntryNotFound, RateLimited
from printfleet.services.events import EventBus
from printfleet.services.ports import JobRepository, QueueRepository
from printfleet.services.queue_grace import StartupGrace
from printfleet.services.queue_views import JoinResult, MyJobs, PrinterSlot, QueueView, queue_printer

log = structlog.get_logger("printfleet.queue")

LivePrinters = Callable[[], Iterable[tuple[PrinterConfig, PrinterStatus]]]
"""The watched printers with their latest status (``MonitoringService.watched``)."""

TAIL_MAX_AGE = timedelta(seconds=30)
"""How long the ETA simulation's end state serves joins while nothing changes (a wait shown may be this stale)."""

_OUTCOME_OF_STATE = {
    PrinterState.FINISHED: JobStatus.COMPLETED,
    PrinterState.FAILED: JobStatus.FAILED,
    PrinterState.CANCELLED: JobStatus.CANCELLED,
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _acted(detail: str | None, by: str | None) -> str | None:
    """A history record's detail with who did it for the entry's user (an operator acting on their behalf)."""
    if by is None:
        return detail
    return f"{detail} (by {by})" if detail else f"by {by}"


class QueueService:
    """Use cases of the shared queue (module docstring). Times are aware UTC; estimates and windows timedeltas.

    Errors raised to the interfaces: ``QueueInputError`` (bad input: a sentence for the user), ``QueueRefusal`` (a
    rule refuses: ``reason`` says which), ``QueueEntryNotFound``, ``PrinterNotFound``, ``RateLimited``,
    ``QueueConflict``.
    """

    def __init__(
        self,
        *,
        repository: QueueRepository,
        jobs: JobRepository,
        bus: EventBus,
        printers: LivePrinters,
        policy: QueuePolicy | None = None,
        clock: Callable[[], datetime] = _utcnow,
        rate_limit: commands.RateLimit | None = None,
        startup_grace: timedelta = timedelta(seconds=30),
    ) -> None:
        self._repository = repository
        self._jobs = jobs
        self._bus = bus
        self._printers = printers
        self.policy = policy or QueuePolicy()
        self._clock = clock
        self._rate_limit = rate_limit or commands.RateLimit()
        self._rates: dict[str, commands.RateLimit] = {}
        self._grace = StartupGrace(startup_grace)
        self._entries: dict[int, QueueEntry] = {}
        self._held: set[str] = set()
        self._paused = False
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._tail: EtaTail | None = None  # the ETA simulation's end state, for joins (None: to recompute)

    # --- life cycle ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the queue from the store, then run its deadlines (:meth:`start_deadlines`)."""
        await self.load()
        await self.start_deadlines()

    async def load(self) -> None:
        """Load the queue from the store (the start-up grace begins now); commands and printer changes are taken
        from here on, windows are not expired until :meth:`start_deadlines`."""
        await self.reload()
        self._grace.restart()

    async def start_deadlines(self) -> None:
        """Handle overdue deadlines, offer free printers and start the deadline scheduler (one process of a farm at
        a time runs it: the ``queue.deadlines`` role)."""
        await self.refresh()  # another process may have run them until now
        async with self._lock:
            await self._expire_due_locked()
            await self._offer_locked()
        self._task = asyncio.create_task(self._run(), name="queue-scheduler")

    @contextlib.asynccontextmanager
    async def deadlines(self) -> AsyncIterator[None]:
        """The deadline scheduler while entered (the ``queue.deadlines`` role: see :meth:`start_deadlines`)."""
        await self.start_deadlines()
        try:
            yield
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Stop the scheduler (deadlines stay in the store and are re-armed at the next start)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def reload(self) -> None:
        """Re-read the active entries, holds and the pause flag from the store."""
        entries = await self._repository.active_entries()
        self._entries = {e.id: e for e in entries}
        self._held = await self._repository.holds()
        self._paused = await self._repository.paused()
        self._tail = None
        self._wake.set()

    async def refresh(self) -> None:
        """Re-read the queue from the store between two of this service's own steps (another process of the farm
        changed it); the scheduler re-arms from what it read."""
        async with self._lock:
            await self.reload()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            wake_at = self._next_wake()
            timeout = None if wake_at is None else max(0.0, (wake_at - self._clock()).total_seconds())
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel that arrives as the event is set.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            if not self._due(self._clock()):
                continue  # woken to re-arm (the queue changed): nothing is due yet
            try:
                await self.run_due()
            except Exception:  # one bad round must not stop the scheduler; the next round retries
                log.exception("queue.scheduler_failed")
                await asyncio.sleep(1.0)

    def _due(self, now: datetime) -> bool:
        """Whether a window is over at ``now`` (and not waiting out the start-up grace)."""
        return self._grace.due(self._entries.values(), now)

    def _next_wake(self) -> datetime | None:
        """When the scheduler must next look (:meth:`StartupGrace.next_wake`), None when no deadline runs."""
        return self._grace.next_wake(self._entries.values(), self._clock())

    async def run_due(self) -> int:
        """Expire every window that is over now and offer the printers freed; returns how many expired. The
        scheduler calls it; tests with their own clock call it after moving the clock."""
        async with self._lock:
            expired = await self._expire_due_locked()
            await self._offer_locked()
            return expired

    # --- reading ------------------------------------------------------------------------------------------------

    def _queue_printers(self) -> list[rules.QueuePrinter]:
        return [queue_printer(config, status, held=config.id in self._held) for config, status in self._printers()]

    def view(self) -> QueueView:
        """The queue now: entries in order, ETAs, printers with their holders (from memory; no store access)."""
        now = self._clock()
        entries = rules.in_queue_order(self._entries.values())
        live = list(self._printers())
        printers = [queue_printer(c, s, held=c.id in self._held) for c, s in live]
        free_at = printer_free_at(entries, printers, now=now)
        holders = {e.printer_id: e for e in entries if e.status.holds_printer}
        slots = [
            PrinterSlot(
                id=config.id,
                name=config.name,
                state=status.state,
                ready=printer.ready,
                held=printer.held,
                holder=holders.get(config.id),
                remaining_seconds=printer.remaining_seconds,
                free_at=free_at.get(config.id),
            )
            for (config, status), printer in zip(live, printers, strict=True)
        ]
        return QueueView(
            now=now,
            entries=entries,
            etas=estimate_waits(entries, printers, now=now),
            printers=slots,
            paused=self._paused,
            policy=self.policy,
        )

    def holder_of(self, printer_id: str) -> QueueEntry | None:
        """The entry ``printer_id`` is offered to, reserved for or printing for, or None (from memory)."""
        return next((e for e in self._entries.values() if e.printer_id == printer_id and e.status.holds_printer), None)

    @property
    def paused(self) -> bool:
        """Whether the queue is paused (no new offers; open offers and reservations run on)."""
        return self._paused

    async def entry(self, entry_id: int) -> QueueEntry:
        """One entry, active or ended; raises QueueEntryNotFound."""
        entry = self._entries.get(entry_id) or await self._repository.get_entry(entry_id)
        if entry is None:
            raise QueueEntryNotFound(entry_id)
        return entry

    async def my_jobs(self, user_id: str, *, recent: int = 5) -> MyJobs:
        """``user_id``'s active entries with their ETAs and their ``recent`` latest ended entries."""
        view = self.view()
        active = view.user_entries(user_id)
        return MyJobs(
            active=active,
            etas={e.id: view.etas[e.id] for e in active if e.id in view.etas},
            recent=await self._repository.ended_entries(user_id=user_id, limit=recent),
        )

    async def history(self, *, limit: int = 20, user_id: str | None = None) -> list[QueueEntry]:
        """Ended entries (of ``user_id`` when given), latest first: job, user, printer, outcome, actual duration."""
        return await self._repository.ended_entries(user_id=user_id, limit=limit)

    async def events(self, *, entry_id: int | None = None, limit: int = 100) -> list[HistoryRecord]:
        """The queue's history records (of ``entry_id`` when given), newest first."""
        return await self._repository.history(entry_id=entry_id, limit=limit)

    async def predict(self, job_name: str, *, user_id: str | None = None, printer_id: str | None = None) -> Prediction:
        """Suggested duration for ``job_name`` from the completed prints: median and 90th percentile of similar
        job names, on ``printer_id`` when given, with ``user_id``'s estimate bias. Raises QueueInputError for an
        empty name, PrinterNotFound for an unknown printer."""
        if not job_name.strip():
            raise QueueInputError("Give the job a name.", field="job_name")
        if printer_id is not None and printer_id not in self._known_printers():
            raise PrinterNotFound(printer_id)
        samples = await self._repository.duration_samples()
        return predict(samples, job_name, printer_id=printer_id, user_id=user_id)

    def _known_printers(self) -> set[str]:
        return {config.id for config, _ in self._printers()}

    def check_rate(self, user_id: str) -> None:
        """Count one command of ``user_id``; raises RateLimited when the user's bucket is empty."""
        now = self._clock()
        allowed, state, retry = self._rates.get(user_id, self._rate_limit).allow(now)
        self._rates[user_id] = state
        if not allowed:
            raise RateLimited(retry.total_seconds())

    # --- user commands ------------------------------------------------------------------------------------------

    async def join(
        self,
        *,
        user_id: str,
        user_name: str,
        job_name: str,
        estimate: timedelta | str,
        printer_ids: Iterable[str] = (),
        by: str | None = None,
    ) -> JoinResult:
        """Put a job at the back of the queue. ``estimate`` as a timedelta or as text (``90``, ``90m``, ``1h30m``,
        ``2:15``). A join repeated with the same name, estimate and printers answers with the existing entry
        (``created`` False). ``by`` names who joined for the user (an operator), recorded in the history. Raises
        QueueInputError, QueueRefusal ``limit_reached``."""
        if isinstance(estimate, str):
            estimate = parse_estimate(estimate, maximum=self.policy.max_estimate)
        wanted = frozenset(printer_ids)
        async with self._lock:
            now = self._clock()
            mine = [e for e in self._entries.values() if e.user_id == user_id]
            tail = max(self._entries.values(), key=lambda e: (e.queue_key, e.id), default=None)
            try:  # the rule reads only the user's entries and the last in line
                new = rules.join(
                    [*mine, *([tail] if tail is not None and tail.user_id != user_id else [])],
                    user_id=user_id,
                    user_name=user_name.strip() or user_id,
                    job_name=job_name,
                    estimate=estimate,
                    printer_ids=wanted,
                    known_printer_ids=self._known_printers(),
                    now=now,
                    policy=self.policy,
                )
            except QueueRefusal as refusal:
                if refusal.reason is not Refusal.ALREADY_QUEUED or refusal.entry_id not in self._entries:
                    raise
                entry = self._entries[refusal.entry_id]
                return JoinResult(entry=entry, created=False, eta=self._eta(entry))
            eta_tail = self._current_tail(now)  # before the entry is added: it joins behind everyone simulated
            entry = await self._repository.add_entry(
                new,
                HistoryRecord(kind=HistoryKind.JOINED, at=now, user_id=user_id, detail=_acted(new.job_name, by)),
            )
            self._entries[entry.id] = entry
            log.info("queue.joined", entry_id=entry.id, user_id=user_id, estimate_s=estimate.total_seconds())
            self._bus.publish(QueueUpdated("joined", entry))
            await self._offer_locked()
            entry = self._entries[entry.id]
            if entry.status is not EntryStatus.WAITING:
                return JoinResult(entry=entry, created=True, eta=None)
            if self._tail is not eta_tail:  # an offer changed the queue meanwhile: simulate it all again
                return JoinResult(entry=entry, created=True, eta=self._eta(entry))
            eta, self._tail = eta_tail.place(entry)
            return JoinResult(entry=entry, created=True, eta=eta)

    def _current_tail(self, now: datetime) -> EtaTail:
        """The ETA simulation's end state: kept from the last join while nothing else changed (and for at most
        :data:`TAIL_MAX_AGE`: printers' remaining times move on), else simulated over the whole queue."""
        tail = self._tail
        if tail is None or not timedelta(0) <= now - tail.now <= TAIL_MAX_AGE:
            _, tail = simulate(list(self._entries.values()), self._queue_printers(), now=now)
            self._tail = tail
        return tail

    def _eta(self, entry: QueueEntry) -> Eta | None:
        if entry.status is not EntryStatus.WAITING:
            return None
        return estimate_waits(list(self._entries.values()), self._queue_printers(), now=self._clock()).get(entry.id)

    def _latest(self, entry: QueueEntry) -> QueueEntry:
        """``entry`` as stored after :meth:`_commit` (with its new version)."""
        return self._entries.get(entry.id) or replace(entry, version=entry.version + 1)

    async def _own_entry(self, user_id: str, entry_id: int | None, *, prefer_holding: bool) -> QueueEntry:
        """The entry a user command acts on: ``entry_id`` (active, or ended: the rules then refuse or answer as
        for an ended entry), else the user's entry holding a printer (``prefer_holding``) or first in line.
        Raises QueueEntryNotFound for an unknown ``entry_id`` or a user with no active entry."""
        if entry_id is not None:
            entry = self._entries.get(entry_id) or await self._repository.get_entry(entry_id)
            if entry is None:
                raise QueueEntryNotFound(entry_id)
            return entry
        mine = rules.in_queue_order(e for e in self._entries.values() if e.user_id == user_id)
        if prefer_holding:
            holding = [e for e in mine if e.status.holds_printer]
            mine = holding or mine
        if not mine:
            raise QueueEntryNotFound(None, "You have nothing in the queue.")
        return mine[0]

    async def claim(self, *, user_id: str, entry_id: int | None = None, by: str | None = None) -> QueueEntry:
        """Claim the printer offered to ``user_id`` (their offered entry, or ``entry_id``): the printer is reserved
        and the start window runs. Claiming again is harmless (the entry is returned as it is). Raises
        QueueEntryNotFound, QueueRefusal ``not_offered``, ``offer_expired``, ``not_yours``, ``ended``."""
        async with self._lock:
            now = self._clock()
            entry = await self._own_entry(user_id, entry_id, prefer_holding=True)
            claimed = rules.claim(entry, user_id=user_id, now=now, policy=self.policy)
            if claimed is entry:
                return entry
            record = self._record(HistoryKind.CLAIMED, claimed, now, _acted(None, by))
            await self._commit([claimed], [record])
            log.info("queue.claimed", entry_id=entry.id, user_id=user_id, printer_id=claimed.printer_id)
            claimed = self._latest(claimed)
            self._bus.publish(QueueUpdated("claimed", claimed, claimed.printer_id))
            return claimed

    async def cancel(self, *, user_id: str, entry_id: int | None = None, by: str | None = None) -> QueueEntry:
        """``user_id`` leaves the queue or gives up their offer or reservation (the printer goes to the next).
        Cancelling an entry that has ended already is harmless: it is returned as it is (its status says how it
        ended). Raises QueueEntryNotFound, QueueRefusal ``not_yours``, ``printing``."""
        async with self._lock:
            now = self._clock()
            entry = await self._own_entry(user_id, entry_id, prefer_holding=True)
            cancelled = commands.cancel(entry, user_id=user_id, now=now)
            if cancelled is entry:
                return entry
            await self._commit([cancelled], [self._record(HistoryKind.CANCELLED, entry, now, _acted(None, by))])
            log.info("queue.cancelled", entry_id=entry.id, user_id=user_id, was=entry.status.value)
            cancelled = self._latest(cancelled)
            self._released(entry, cancelled, "cancelled")
            await self._offer_locked()
            return cancelled

    async def update_estimate(
        self, *, user_id: str, estimate: timedelta | str, entry_id: int | None = None, by: str | None = None
    ) -> QueueEntry:
        """Change ``user_id``'s estimate (text or timedelta); ETAs follow. Raises QueueInputError,
        QueueEntryNotFound, QueueRefusal ``not_yours``, ``ended``."""
        if isinstance(estimate, str):
            estimate = parse_estimate(estimate, maximum=self.policy.max_estimate)
        async with self._lock:
            now = self._clock()
            entry = await self._own_entry(user_id, entry_id, prefer_holding=False)
            updated = commands.update_estimate(entry, user_id=user_id, estimate=estimate, policy=self.policy)
            if updated.estimate == entry.estimate:
                return entry
            detail = _acted(f"{round(entry.estimate.total_seconds())}s -> {round(estimate.total_seconds())}s", by)
            await self._commit([updated], [self._record(HistoryKind.ESTIMATE_CHANGED, updated, now, detail)])
            updated = self._latest(updated)
            self._bus.publish(QueueUpdated("estimate_changed", updated))
            return updated

    # --- admin commands -----------------------------------------------------------------------------------------

    async def remove(self, entry_id: int, *, by: str | None = None, reason: str | None = None) -> QueueEntry:
        """Admin: end an active entry as ``removed`` (a reservation is released). Removing it again is harmless.
        Raises QueueEntryNotFound, QueueRefusal ``ended``."""
        async with self._lock:
            now = self._clock()
            entry = self._entries.get(entry_id) or await self._repository.get_entry(entry_id)
            if entry is None:
                raise QueueEntryNotFound(entry_id, f"No queue entry #{entry_id}.")
            text = reason or (f"removed by {by}" if by else "removed by an admin")
            removed = commands.remove(entry, now=now, reason=text)
            if removed is entry:
                return entry
            await self._commit([removed], [self._record(HistoryKind.REMOVED, entry, now, text)])
            log.info("queue.removed", entry_id=entry_id, by=by)
            removed = self._latest(removed)
            self._released(entry, removed, "removed")
            await self._offer_locked()
            return removed

    async def move(self, entry_id: int, position: int, *, by: str | None = None) -> QueueEntry:
        """Admin: put the waiting entry at 1-based ``position`` among the waiting entries. Raises QueueInputError
        (unknown entry, position out of range), QueueRefusal ``not_waiting``."""
        async with self._lock:
            now = self._clock()
            changed = commands.move(list(self._entries.values()), entry_id=entry_id, position=position)
            if not changed:
                return self._entries[entry_id]
            moved = next((e for e in changed if e.id == entry_id), self._entries[entry_id])
            record = self._record(
                HistoryKind.MOVED, moved, now, f"to position {position}" + (f" by {by}" if by else "")
            )
            await self._commit(changed, [record])
            moved = self._latest(moved)
            self._bus.publish(QueueUpdated("moved", moved))
            await self._offer_locked()
            return moved

    async def hold(self, printer_id: str, *, held: bool, by: str | None = None) -> None:
        """Admin: take ``printer_id`` out of rotation (its open offer is withdrawn; a reservation or print on it
        runs on) or put it back. Raises PrinterNotFound."""
        if printer_id not in self._known_printers() and printer_id not in self._held:
            raise PrinterNotFound(printer_id)
        async with self._lock:
            now = self._clock()
            if held == (printer_id in self._held):
                return
            await self._repository.set_hold(printer_id, held=held, by=by, at=now)
            self._tail = None
            if held:
                self._held.add(printer_id)
                withdrawn = rules.withdraw_offers(self._entries.values(), printer_id)
                records = [self._record(HistoryKind.WITHDRAWN, e, now, "printer held", printer_id) for e in withdrawn]
                await self._commit(withdrawn, records)
            else:
                self._held.discard(printer_id)
            log.info("queue.printer_hold", printer_id=printer_id, held=held, by=by)
            self._bus.publish(QueueUpdated("held" if held else "released", None, printer_id))
            await self._offer_locked()

    async def set_paused(self, paused: bool, *, by: str | None = None) -> None:
        """Admin: pause the queue (no new offers; open offers and reservations run on) or resume it."""
        async with self._lock:
            if paused == self._paused:
                return
            await self._repository.set_paused(paused)
            self._paused = paused
            self._tail = None
            log.info("queue.paused" if paused else "queue.resumed", by=by)
            self._bus.publish(QueueUpdated("paused" if paused else "resumed"))
            await self._offer_locked()

    # --- printers -----------------------------------------------------------------------------------------------

    async def on_printer_change(
        self, config: PrinterConfig, previous: PrinterStatus | None, current: PrinterStatus
    ) -> None:
        """The monitoring service's listener: link a print starting on a claimed printer, report an unqueued one,
        close the entry whose print ended, and offer a printer that became ready. Never raises into the printer's
        connection: a conflict with another process is logged (the queue was re-read from the store)."""
        try:
            if current.state is PrinterState.OFFLINE:
                await self._on_printer_offline(config.id)
            else:
                await self._on_printer_change(config, previous, current)
        except QueueConflict:
            log.warning("queue.printer_change_conflict", printer_id=config.id, state=current.state.value)

    async def _on_printer_change(
        self, config: PrinterConfig, previous: PrinterStatus | None, current: PrinterStatus
    ) -> None:
        first_report = self._grace.report(config.id)
        async with self._lock:
            if previous is None or previous.state is not current.state:
                self._tail = None  # a printer started, ended or came back: the waits change
            holder = rules.holder_of(self._entries.values(), config.id)
            if current.state.is_active:
                started = previous is None or not previous.state.is_active or first_report
                if (holder is None and started) or (holder is not None and holder.status is not EntryStatus.PRINTING):
                    await self._print_started_locked(config, current, holder, report=started)
                elif holder is not None and holder.job_id is None:
                    await self._attach_job_locked(holder)
            elif holder is not None and holder.status is EntryStatus.PRINTING:
                await self._finish_locked(holder, current)
            became_ready = previous is None or previous.state != current.state or first_report
            if became_ready and current.state in _OUTCOME_OF_STATE.keys() | {PrinterState.IDLE}:
                await self._offer_locked()
            if first_report:
                self._wake.set()  # a reservation waiting for this printer's first report can be decided now

    async def _on_printer_offline(self, printer_id: str) -> None:
        """An offline printer cannot take the print it was offered for: the open offer is withdrawn (the entry
        keeps its place and is offered the next free printer at once). A reservation or print on it runs on:
        the printer may be back before the start window ends, and a print goes on without a connection."""
        async with self._lock:
            holder = rules.holder_of(self._entries.values(), printer_id)
            if holder is None or holder.status is not EntryStatus.OFFERED:
                return
            now = self._clock()
            withdrawn = rules.withdraw_offer(holder)
            await self._commit([withdrawn], [self._record(HistoryKind.WITHDRAWN, holder, now, "printer offline")])
            log.info("queue.offer_withdrawn", entry_id=holder.id, printer_id=printer_id, reason="printer offline")
            self._bus.publish(QueueUpdated("withdrawn", self._latest(withdrawn), printer_id))
            await self._offer_locked()

    async def on_printer_removed(self, printer_id: str) -> None:
        """A deleted printer: its offer or reservation is withdrawn (the entry keeps its place), a print linked on
        it ends as ``unknown``."""
        async with self._lock:
            now = self._clock()
            holder = rules.holder_of(self._entries.values(), printer_id)
            if holder is None:
                return
            if holder.status is EntryStatus.PRINTING:
                done = rules.finish(holder, outcome=JobStatus.UNKNOWN, now=now)
                await self._commit([done], [self._record(HistoryKind.DONE, done, now, "printer deleted")])
                self._bus.publish(QueueEntryFinished(done))
            else:
                back = replace(
                    rules.withdraw_offer(holder),
                    status=EntryStatus.WAITING,
                    printer_id=None,
                    deadline=None,
                    offered_at=None,
                    claimed_at=None,
                )
                record = self._record(HistoryKind.WITHDRAWN, holder, now, "printer deleted")
                await self._commit([back], [record])
                self._bus.publish(QueueUpdated("withdrawn", back, printer_id))
            await self._offer_locked()

    async def _print_started_locked(
        self, config: PrinterConfig, status: PrinterStatus, holder: QueueEntry | None, *, report: bool
    ) -> None:
        now = self._clock()
        job = await self._jobs.active_job(config.id)
        moment = now
        if (
            holder is not None
            and holder.status is EntryStatus.CLAIMED
            and status.print_start_time is not None
            and holder.claimed_at is not None
            and holder.claimed_at <= status.print_start_time < now
        ):
            moment = status.print_start_time  # the printer says when it began (a report seen late, a restart)
        result = rules.print_started(
            list(self._entries.values()), printer_id=config.id, job_id=job.id if job else None, now=moment
        )
        if result.kind is rules.StartKind.LINKED and result.entry is not None:
            linked = result.entry
            record = self._record(HistoryKind.LINKED, linked, now, status.file_name)
            linked_job = await self._commit([linked], [record], link=linked)
            log.info("queue.print_linked", entry_id=linked.id, printer_id=config.id, job_id=linked.job_id)
            if linked_job is not None:
                self._bus.publish(JobUpdated(job=linked_job))
            self._bus.publish(QueuePrintStarted(linked, linked_job or job, status.remaining_seconds))
            self._bus.publish(QueueUpdated("linked", linked, config.id))
        elif result.kind is rules.StartKind.UNQUEUED:
            withdrawn = result.entry
            if not report and withdrawn is None:
                return
            if job is not None and job.queue_entry_id is not None:
                return  # the job belongs to an entry already (seen again after a restart)
            records = [
                HistoryRecord(
                    kind=HistoryKind.UNQUEUED,
                    at=now,
                    printer_id=config.id,
                    job_id=job.id if job else None,
                    detail=status.file_name,
                )
            ]
            if withdrawn is not None:
                records.append(self._record(HistoryKind.WITHDRAWN, withdrawn, now, "unqueued print", config.id))
            await self._commit([withdrawn] if withdrawn else [], records)
            log.info(
                "queue.unqueued_print",
                printer_id=config.id,
                file=status.file_name,
                withdrawn=withdrawn.id if withdrawn else None,
            )
            self._bus.publish(UnqueuedPrint(config.id, status.file_name, job, withdrawn))
            if withdrawn is not None:
                self._bus.publish(QueueUpdated("withdrawn", withdrawn, config.id))
                await self._offer_locked()  # the entry, first in line again, gets the next free printer now

    async def _attach_job_locked(self, entry: QueueEntry) -> None:
        """A print linked before its job existed (auto-creation off, then on): attach the job once there is one."""
        assert entry.printer_id is not None
        job = await self._jobs.active_job(entry.printer_id)
        if job is None or job.queue_entry_id not in (None, entry.id):
            return
        attached = replace(entry, job_id=job.id)
        linked_job = await self._commit([attached], [], link=attached)
        if linked_job is not None:
            self._bus.publish(JobUpdated(job=linked_job))

    async def _finish_locked(self, entry: QueueEntry, status: PrinterStatus) -> None:
        now = self._clock()
        job: Job | None = None
        if entry.job_id is not None:
            job = await self._jobs.get_job(entry.job_id)
            if job is not None and not job.status.is_terminal:
                return  # the job tracker has not ended it (an error state mid-print): the print goes on
        if job is not None:
            outcome = job.status
            duration = None if job.duration_seconds is None else timedelta(seconds=job.duration_seconds)
        else:
            outcome = _OUTCOME_OF_STATE.get(status.state, JobStatus.UNKNOWN)
            duration = None
        done = rules.finish(entry, outcome=outcome, now=now, duration=duration)
        await self._commit([done], [self._record(HistoryKind.DONE, done, now, outcome.value)])
        log.info("queue.print_done", entry_id=entry.id, printer_id=entry.printer_id, outcome=outcome.value)
        self._bus.publish(QueueEntryFinished(done))
        self._bus.publish(QueueUpdated("done", done, entry.printer_id))

    # --- deadlines and offers -----------------------------------------------------------------------------------

    async def _expire_due_locked(self) -> int:
        now = self._clock()
        if not self._due(now):
            return 0
        due = [
            x
            for x in rules.expire_due(list(self._entries.values()), now=now, policy=self.policy)
            if not self._grace.waits(x.before)
        ]
        if not due:
            return 0
        records: list[HistoryRecord] = []
        for expiry in due:
            kind = HistoryKind.CLAIM_MISSED if expiry.window is rules.Window.CLAIM else HistoryKind.START_MISSED
            records.append(self._record(kind, expiry.before, now, None if expiry.requeued else expiry.after.end_reason))
            if not expiry.requeued:
                records.append(self._record(HistoryKind.EXPIRED, expiry.after, now, expiry.after.end_reason))
        await self._commit([x.after for x in due], records)
        for expiry in due:
            log.info(
                "queue.window_missed",
                entry_id=expiry.after.id,
                window=expiry.window.value,
                printer_id=expiry.printer_id,
                requeued=expiry.requeued,
            )
            if expiry.window is rules.Window.CLAIM:
                self._bus.publish(ClaimExpired(expiry.after, expiry.printer_id))
            else:
                self._bus.publish(ReservationReleased(expiry.after, expiry.printer_id, "start_missed"))
        return len(due)

    async def _offer_locked(self) -> None:
        now = self._clock()
        printers = self._queue_printers()
        taken = {e.printer_id for e in self._entries.values() if e.status.holds_printer}
        if self._paused or not any(p.ready and not p.held and p.id not in taken for p in printers):
            return  # nothing to offer: skip sorting the whole queue
        offers = rules.next_offers(
            list(self._entries.values()), printers, now=now, policy=self.policy, paused=self._paused
        )
        if not offers:
            return
        await self._commit(offers, [self._record(HistoryKind.OFFERED, e, now) for e in offers])
        for offer in offers:
            log.info("queue.offered", entry_id=offer.id, user_id=offer.user_id, printer_id=offer.printer_id)
            self._bus.publish(ClaimOffered(offer))

    # --- store --------------------------------------------------------------------------------------------------

    @staticmethod
    def _record(
        kind: HistoryKind, entry: QueueEntry, at: datetime, detail: str | None = None, printer_id: str | None = None
    ) -> HistoryRecord:
        return HistoryRecord(
            kind=kind,
            at=at,
            entry_id=entry.id,
            user_id=entry.user_id,
            printer_id=printer_id or entry.printer_id,
            job_id=entry.job_id,
            detail=detail,
        )

    async def _commit(
        self, entries: Sequence[QueueEntry], history: Sequence[HistoryRecord], *, link: QueueEntry | None = None
    ) -> Job | None:
        """Store ``entries`` and ``history`` in one transaction, then update memory. On QueueConflict (another
        writer) memory is re-read from the store and the error raised."""
        try:
            job = await self._repository.save(entries, history, link=link)
        except QueueConflict:
            log.warning("queue.conflict", entries=[e.id for e in entries])
            await self.reload()
            raise
        for entry in entries:
            if entry.status.is_active:
                self._entries[entry.id] = replace(entry, version=entry.version + 1)
            else:
                self._entries.pop(entry.id, None)
        self._tail = None
        self._wake.set()
        return job

    def _released(self, before: QueueEntry, after: QueueEntry, reason: str) -> None:
        """Publish what a user's cancel or an admin's removal of ``before`` means."""
        if before.status is EntryStatus.CLAIMED and before.printer_id is not None:
            self._bus.publish(ReservationReleased(after, before.printer_id, reason))
        self._bus.publish(QueueUpdated(reason, after, before.printer_id))
