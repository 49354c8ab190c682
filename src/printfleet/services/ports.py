"""Ports: what the services need from the outside, as Protocols. Adapters and the store implement them.

Only the composition root (``printfleet.app``) knows the concrete classes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from printfleet.domain.files.model import Thumbnail
from printfleet.domain.jobs import Job, JobFilter, NewJob
from printfleet.domain.printer import PrinterConfig, PrinterKind, PrinterState, PrinterStatus
from printfleet.domain.queue import NewQueueEntry, QueueEntry
from printfleet.domain.queue_history import HistoryRecord
from printfleet.domain.queue_predict import DurationSample
from printfleet.domain.schedule.model import PrintSpeed
from printfleet.services.errors import StoreUnavailable


class PrinterConnection(Protocol):
    """One live connection to one printer (``printfleet.printers.*`` implement it).

    ``run()`` connects and reports until cancelled, reconnecting with backoff; it never raises except
    ``CancelledError``. Commands raise ``PrinterNotConnected`` or ``PrinterCommandRejected``.
    """

    config: PrinterConfig

    @property
    def status(self) -> PrinterStatus:
        """The latest snapshot."""
        ...

    async def run(self) -> None:
        """Connect and report until cancelled."""
        ...

    async def pause(self) -> None:
        """Pause the current print."""
        ...

    async def resume(self) -> None:
        """Resume the paused print."""
        ...

    async def stop(self) -> None:
        """Stop (cancel) the current print."""
        ...

    async def set_print_speed(self, speed: PrintSpeed) -> None:
        """Print the current print at ``speed`` (Bambu's levels; elsewhere a feed-rate percentage)."""
        ...


@runtime_checkable
class PreviewSource(Protocol):
    """A connection that fetches the preview images its printer serves (PrusaLink: ``refs.thumbnail``)."""

    async def preview(self, path: str) -> Thumbnail:
        """The image at ``path`` on the printer. Raises PrinterNotConnected, PrinterCommandRejected."""
        ...


@runtime_checkable
class DetachedPreviewSource(Protocol):
    """A connection that fetches its printer's preview images also when it does not run (PrusaLink: HTTP, any number
    of clients), for a printer another process of a farm owns."""

    async def preview_once(self, path: str) -> Thumbnail:
        """The image at ``path`` on the printer. Raises PrinterNotConnected, PrinterCommandRejected."""
        ...


StatusCallback = Callable[[str, PrinterStatus], Awaitable[None]]

ConnectionFactory = Callable[[PrinterConfig, StatusCallback], PrinterConnection]
"""``factory(config, sink)`` builds the adapter for ``config.kind``; wired by the composition root."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StateTransition:
    """A persisted printer state change. ``at`` is aware UTC."""

    id: int
    printer_id: str
    from_state: PrinterState | None
    to_state: PrinterState
    at: datetime
    file_name: str | None = None
    offline_reason: str | None = None
    detail: str | None = None


class PrinterRepository(Protocol):
    """Printers and their state transitions in the store.

    Every method runs in its own transaction. Raises ``PrinterNotFound`` (``printfleet.services.errors``) where
    a missing id matters, ``PrinterAlreadyExists`` on a duplicate id.
    """

    async def list_printers(self) -> list[PrinterConfig]:
        """All printers, ordered by id."""
        ...

    async def get_printer(self, printer_id: str) -> PrinterConfig | None:
        """One printer, or None."""
        ...

    async def add_printer(self, config: PrinterConfig) -> None:
        """Insert; raises PrinterAlreadyExists."""
        ...

    async def update_printer(self, config: PrinterConfig) -> None:
        """Replace a printer's configuration; raises PrinterNotFound."""
        ...

    async def delete_printer(self, printer_id: str) -> None:
        """Delete a printer and its transitions; raises PrinterNotFound."""
        ...

    async def upsert_printers(self, configs: Sequence[PrinterConfig]) -> None:
        """Insert or overwrite each printer (seeding from the configuration file)."""
        ...

    async def record_transition(
        self,
        *,
        printer_id: str,
        from_state: PrinterState | None,
        status: PrinterStatus,
        at: datetime,
    ) -> None:
        """Append one state-transition row for ``printer_id``."""
        ...

    async def list_transitions(self, printer_id: str, *, limit: int = 100) -> list[StateTransition]:
        """The newest ``limit`` transitions of a printer, newest first."""
        ...

    async def last_transition_states(self) -> dict[str, PrinterState]:
        """The state recorded by each printer's newest transition (to avoid a duplicate row after restart)."""
        ...


class MonitoringMetrics(Protocol):
    """Gauges and counters the monitoring service keeps current."""

    def set_connected(self, kind: PrinterKind, count: int) -> None:
        """Printers of ``kind`` currently reachable."""
        ...

    def connection_restarted(self, kind: PrinterKind) -> None:
        """A connection task of ``kind`` ended (a bug) and is being restarted."""
        ...


class StoreObserver(Protocol):
    """Told of the outcome of every store transaction (the store's health; see ``services.health.StoreHealth``)."""

    def store_failed(self, error: StoreUnavailable) -> None:
        """A transaction failed because the store is unavailable (it raised ``error`` to its caller)."""
        ...

    def store_succeeded(self) -> None:
        """A transaction committed."""
        ...


class JobRepository(Protocol):
    """Jobs in the store. Each method is one transaction.

    The store enforces one active (running or paused) job per printer with a partial unique index, across
    processes sharing one database (DESIGN.md invariant 1): :meth:`create_job` raises ``ActiveJobExists`` when the
    printer already has one. Deleted jobs are soft-deleted: hidden from :meth:`get_job` and :meth:`list_jobs`, but
    an active deleted job is still returned by :meth:`active_job` (so its print is not re-created).
    """

    async def active_job(self, printer_id: str) -> Job | None:
        """The printer's running or paused job (deleted or not), or None. Served by the partial index."""
        ...

    async def create_job(self, job: NewJob) -> Job:
        """Insert; raises ActiveJobExists when ``job`` is active and the printer has an active job."""
        ...

    async def start_pending_job(
        self,
        *,
        printer_id: str,
        filename: str,
        job_name: str,
        start_time: datetime,
        native_job_id: str | None,
        printer_start_time: datetime | None,
        elapsed_seconds: int | None,
        progress: float | None,
        also_names: Sequence[str] = (),
    ) -> Job | None:
        """Turn the oldest pending manual job of ``printer_id`` whose filename equals ``filename`` or whose
        job_name equals ``job_name`` (or either is one of ``also_names``) into the running job; None when there is
        none. Raises ActiveJobExists."""
        ...

    async def update_job(self, job_id: int, **changes: Any) -> Job:
        """Set columns (``status``, ``progress``, ``elapsed_seconds``, ``end_time``, ``duration_seconds``,
        ``end_reason``, ``job_name``, ``is_business``, ``customer_info``, ``notes``, ``auto_created``); raises
        JobNotFound."""
        ...

    async def record_progress(self, job_id: int, *, progress: float | None, elapsed_seconds: int | None) -> None:
        """A running print's checkpoint: its ``progress`` (%) and ``elapsed_seconds`` where given, in one write
        that reads nothing back (a job that is gone is left alone)."""
        ...

    async def get_job(self, job_id: int) -> Job | None:
        """One job that is not deleted, or None."""
        ...

    async def list_jobs(self, job_filter: JobFilter) -> tuple[list[Job], int]:
        """Jobs matching the filter, newest first (``created_at`` then id), and the total count ignoring
        limit/offset. Deleted jobs are left out."""
        ...

    async def delete_job(self, job_id: int) -> Job:
        """Soft-delete; returns the job as it was; raises JobNotFound."""
        ...

    async def active_jobs(self) -> list[Job]:
        """Every active job (all printers), for start-up reconciliation."""
        ...


class SettingsRepository(Protocol):
    """Run-time settings (key → JSON value) in the store."""

    async def get_all(self) -> dict[str, object]:
        """Every stored setting."""
        ...

    async def set(self, key: str, value: object) -> None:
        """Store one setting (insert or overwrite)."""
        ...


class JobMetrics(Protocol):
    """Counters of automatic job creation, labelled by printer kind."""

    def job_created(self, kind: str, *, seconds: float, with_start_time: bool, on_startup: bool) -> None:
        """An auto job was created in ``seconds`` (report → commit)."""
        ...

    def duplicate_prevented(self, kind: str) -> None:
        """A second active job for one print was refused (by the tracker or the store's unique index)."""
        ...


class QueueRepository(Protocol):
    """The queue in the store: entries (active and ended), their history, printer holds and the pause flag.

    Each method is one transaction. The store refuses an entry change that would let one printer be held by two
    entries or one user hold two printers (partial unique indexes): :meth:`save` raises ``QueueConflict`` then.
    """

    async def active_entries(self) -> list[QueueEntry]:
        """Every entry still in the queue (waiting, offered, claimed, printing), first in line first."""
        ...

    async def add_entry(self, entry: NewQueueEntry, history: HistoryRecord) -> QueueEntry:
        """Insert ``entry`` (``waiting``) and its ``joined`` record (whose ``entry_id`` the store fills in)."""
        ...

    async def save(
        self, entries: Sequence[QueueEntry], history: Sequence[HistoryRecord], *, link: QueueEntry | None = None
    ) -> Job | None:
        """Write the changed ``entries`` and the ``history`` records together. With ``link`` (a ``printing`` entry
        with a ``job_id``), also mark that job with the entry and its user and return the job. Raises
        ``QueueConflict``."""
        ...

    async def get_entry(self, entry_id: int) -> QueueEntry | None:
        """One entry, active or ended, or None."""
        ...

    async def ended_entries(self, *, user_id: str | None = None, limit: int = 20) -> list[QueueEntry]:
        """Ended entries (of ``user_id`` when given), the latest to end first."""
        ...

    async def history(self, *, entry_id: int | None = None, limit: int = 100) -> list[HistoryRecord]:
        """History records (of ``entry_id`` when given), newest first."""
        ...

    async def duration_samples(self, *, limit: int = 5000) -> list[DurationSample]:
        """The latest ``limit`` completed prints (jobs of every printer) with their actual durations; those linked to
        a queue entry carry its user and estimate."""
        ...

    async def holds(self) -> set[str]:
        """The printers held out of rotation."""
        ...

    async def set_hold(self, printer_id: str, *, held: bool, by: str | None, at: datetime) -> None:
        """Hold ``printer_id`` (or release it)."""
        ...

    async def paused(self) -> bool:
        """Whether the queue is paused (no new offers)."""
        ...

    async def set_paused(self, paused: bool) -> None:
        """Pause or resume the queue."""
        ...
