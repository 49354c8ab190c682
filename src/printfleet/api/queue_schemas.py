"""Wire shapes of the queue (REST and the ``/ws`` queue events). Times ISO 8601 UTC; durations in seconds."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from printfleet.domain.events import (
    ClaimExpired,
    ClaimOffered,
    ClaimReminder,
    QueueEntryFinished,
    QueueEvent,
    QueuePrintStarted,
    QueueUpdated,
    ReservationReleased,
    UnqueuedPrint,
)
from printfleet.domain.printer import PrinterState
from printfleet.domain.queue import EntryStatus, QueueEntry, QueuePolicy
from printfleet.domain.queue_eta import Eta
from printfleet.domain.queue_history import HistoryKind, HistoryRecord
from printfleet.domain.queue_predict import DurationStats, Prediction
from printfleet.services.queue_views import JoinResult, MyJobs, PrinterSlot, QueueView


def _seconds(value: Any) -> int | None:
    return None if value is None else round(value.total_seconds())


class QueueEntryPublic(BaseModel):
    """One queue entry. ``estimate_seconds`` and ``actual_seconds`` in seconds; ``deadline`` is the claim deadline
    while ``offered`` and the start deadline while ``claimed``; ``printer_ids`` limits the printers (empty: any);
    ``position`` (1-based among waiting entries) and ``wait_seconds`` (estimated wait; null: unknown) while
    waiting."""

    id: int
    user_id: str
    user_name: str
    job_name: str
    estimate_seconds: int
    printer_ids: list[str]
    status: EntryStatus
    printer_id: str | None
    deadline: datetime | None
    created_at: datetime
    queued_at: datetime
    offered_at: datetime | None
    claimed_at: datetime | None
    missed_offers: int
    job_id: int | None
    started_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    actual_seconds: int | None
    end_reason: str | None
    position: int | None = None
    wait_seconds: int | None = None

    @classmethod
    def from_domain(cls, entry: QueueEntry, eta: Eta | None = None) -> QueueEntryPublic:
        """Map a domain entry (with its ETA while waiting)."""
        return cls(
            id=entry.id,
            user_id=entry.user_id,
            user_name=entry.user_name,
            job_name=entry.job_name,
            estimate_seconds=_seconds(entry.estimate) or 0,
            printer_ids=sorted(entry.printer_ids),
            status=entry.status,
            printer_id=entry.printer_id,
            deadline=entry.deadline,
            created_at=entry.created_at,
            queued_at=entry.queued_at,
            offered_at=entry.offered_at,
            claimed_at=entry.claimed_at,
            missed_offers=entry.missed_offers,
            job_id=entry.job_id,
            started_at=entry.started_at,
            ended_at=entry.ended_at,
            outcome=entry.outcome.value if entry.outcome else None,
            actual_seconds=_seconds(entry.actual_duration),
            end_reason=entry.end_reason,
            position=eta.position if eta else None,
            wait_seconds=_seconds(eta.wait) if eta else None,
        )


def _entry(entry: QueueEntry | None) -> dict[str, Any] | None:
    return None if entry is None else QueueEntryPublic.from_domain(entry).model_dump(mode="json")


def queue_event_data(event: QueueEvent | ClaimReminder) -> dict[str, Any]:
    """The ``data`` of a queue event's ``/ws`` frame: ``entry`` (the entry after the change) plus the event's own
    fields (``reason``, ``printer_id``, ``job_id``, ``remaining_seconds``, ``file_name``)."""
    if isinstance(event, QueueUpdated):
        return {"reason": event.reason, "entry": _entry(event.entry), "printer_id": event.printer_id}
    if isinstance(event, ClaimOffered | ClaimReminder | QueueEntryFinished):
        return {"entry": _entry(event.entry)}
    if isinstance(event, ClaimExpired):
        return {"entry": _entry(event.entry), "printer_id": event.printer_id}
    if isinstance(event, ReservationReleased):
        return {"entry": _entry(event.entry), "printer_id": event.printer_id, "reason": event.reason}
    if isinstance(event, QueuePrintStarted):
        return {
            "entry": _entry(event.entry),
            "job_id": event.job.id if event.job else None,
            "remaining_seconds": event.remaining_seconds,
        }
    assert isinstance(event, UnqueuedPrint)
    return {
        "printer_id": event.printer_id,
        "file_name": event.file_name,
        "job_id": event.job.id if event.job else None,
        "withdrawn": _entry(event.withdrawn),
    }


# --- REST: reading ----------------------------------------------------------------------------------------------


class QueuePrinterPublic(BaseModel):
    """One printer as the queue sees it. ``ready``: can take the next print; ``held``: out of rotation (admin);
    ``holder_entry_id`` / ``holder_user_id``: the entry it is offered to, reserved for or printing for (null:
    nobody's); ``remaining_seconds``: printer-reported, while printing; ``free_at``: when it is expected free (null:
    unknown or held)."""

    id: str
    name: str
    state: PrinterState
    ready: bool
    held: bool
    holder_entry_id: int | None
    holder_user_id: str | None
    remaining_seconds: int | None
    free_at: datetime | None

    @classmethod
    def from_domain(cls, slot: PrinterSlot) -> QueuePrinterPublic:
        """Map the service's printer slot."""
        return cls(
            id=slot.id,
            name=slot.name,
            state=slot.state,
            ready=slot.ready,
            held=slot.held,
            holder_entry_id=slot.holder.id if slot.holder else None,
            holder_user_id=slot.holder.user_id if slot.holder else None,
            remaining_seconds=slot.remaining_seconds,
            free_at=slot.free_at,
        )


class QueuePolicyPublic(BaseModel):
    """The queue's settings in force; windows and the longest estimate in seconds. ``max_missed_offers``: missed
    windows in a row that end an entry (null: never)."""

    claim_window_seconds: int
    start_window_seconds: int
    max_missed_offers: int | None
    requeue_on_start_miss: bool
    max_active_per_user: int
    max_estimate_seconds: int

    @classmethod
    def from_domain(cls, policy: QueuePolicy) -> QueuePolicyPublic:
        """Map the domain policy."""
        return cls(
            claim_window_seconds=_seconds(policy.claim_window) or 0,
            start_window_seconds=_seconds(policy.start_window) or 0,
            max_missed_offers=policy.max_missed_offers,
            requeue_on_start_miss=policy.requeue_on_start_miss,
            max_active_per_user=policy.max_active_per_user,
            max_estimate_seconds=_seconds(policy.max_estimate) or 0,
        )


class QueuePublic(BaseModel):
    """``GET /api/v1/queue``: every active entry, first in line first (waiting ones with ``position`` and
    ``wait_seconds``), the printers with their holders, whether the queue is ``paused``, the policy, and ``now``
    (the server's time the ETAs are computed from)."""

    now: datetime
    entries: list[QueueEntryPublic]
    printers: list[QueuePrinterPublic]
    paused: bool
    policy: QueuePolicyPublic

    @classmethod
    def from_view(cls, view: QueueView) -> QueuePublic:
        """Map the service's view of the queue."""
        return cls(
            now=view.now,
            entries=[QueueEntryPublic.from_domain(e, view.etas.get(e.id)) for e in view.entries],
            printers=[QueuePrinterPublic.from_domain(slot) for slot in view.printers],
            paused=view.paused,
            policy=QueuePolicyPublic.from_domain(view.policy),
        )


class QueueHistoryRecordPublic(BaseModel):
    """One thing that happened in the queue (``kind``) at ``at``; ``detail`` is a short text (an outcome, a
    reason, a file name)."""

    id: int | None
    kind: HistoryKind
    at: datetime
    entry_id: int | None
    user_id: str | None
    printer_id: str | None
    job_id: int | None
    detail: str | None

    @classmethod
    def from_domain(cls, record: HistoryRecord) -> QueueHistoryRecordPublic:
        """Map a history record."""
        return cls(
            id=record.id,
            kind=record.kind,
            at=record.at,
            entry_id=record.entry_id,
            user_id=record.user_id,
            printer_id=record.printer_id,
            job_id=record.job_id,
            detail=record.detail,
        )


class QueueEntryDetail(BaseModel):
    """``GET /api/v1/queue/{entry_id}``: the entry (active or ended) and its history records, newest first."""

    entry: QueueEntryPublic
    history: list[QueueHistoryRecordPublic]


class MyJobsPublic(BaseModel):
    """``GET /api/v1/queue/users/{user_id}``: the user's ``active`` entries (first in line first, waiting ones with
    position and wait) and their ``recent`` ended entries (latest first)."""

    user_id: str
    active: list[QueueEntryPublic]
    recent: list[QueueEntryPublic]

    @classmethod
    def from_domain(cls, user_id: str, mine: MyJobs) -> MyJobsPublic:
        """Map the service's answer."""
        return cls(
            user_id=user_id,
            active=[QueueEntryPublic.from_domain(e, mine.etas.get(e.id)) for e in mine.active],
            recent=[QueueEntryPublic.from_domain(e) for e in mine.recent],
        )


class QueueHistoryPublic(BaseModel):
    """``GET /api/v1/queue/history``: ended entries, latest first (``outcome`` and ``actual_seconds`` once done)."""

    entries: list[QueueEntryPublic]


class DurationStatsPublic(BaseModel):
    """``count`` completed prints; their median and 90th percentile, seconds."""

    count: int
    median_seconds: int
    p90_seconds: int

    @classmethod
    def of(cls, stats: DurationStats | None) -> DurationStatsPublic | None:
        """Map the stats (None stays None)."""
        if stats is None:
            return None
        return cls(
            count=stats.count,
            median_seconds=_seconds(stats.median) or 0,
            p90_seconds=_seconds(stats.p90) or 0,
        )


class EstimateBiasPublic(BaseModel):
    """How the user's estimates compare with reality over ``count`` prints: ``ratio`` is the median of actual /
    estimate (1.25: prints take a quarter longer than estimated)."""

    count: int
    ratio: float


class PredictionPublic(BaseModel):
    """``GET /api/v1/queue/predict``: ``match`` (``exact``, ``similar``, or null when no completed print matched),
    ``suggested_seconds`` (median on the printer when known, else overall), the stats ``overall`` and
    ``on_printer``, and the user's estimate ``bias``."""

    job_name: str
    match: str | None
    suggested_seconds: int | None
    overall: DurationStatsPublic | None
    on_printer: DurationStatsPublic | None
    bias: EstimateBiasPublic | None

    @classmethod
    def from_domain(cls, prediction: Prediction) -> PredictionPublic:
        """Map the domain prediction."""
        bias = prediction.bias
        return cls(
            job_name=prediction.job_name,
            match=prediction.match.value if prediction.match else None,
            suggested_seconds=_seconds(prediction.suggested),
            overall=DurationStatsPublic.of(prediction.overall),
            on_printer=DurationStatsPublic.of(prediction.on_printer),
            bias=EstimateBiasPublic(count=bias.count, ratio=round(bias.ratio, 3)) if bias else None,
        )


class JoinAnswer(BaseModel):
    """The answer to a join: the ``entry`` (``offered`` at once when a printer was free), ``created`` (false: the
    same join was made before and the existing entry is returned), its ``position`` and ``wait_seconds`` while
    waiting (null otherwise, or wait unknown)."""

    entry: QueueEntryPublic
    created: bool
    position: int | None
    wait_seconds: int | None

    @classmethod
    def from_domain(cls, result: JoinResult) -> JoinAnswer:
        """Map the service's join result."""
        return cls(
            entry=QueueEntryPublic.from_domain(result.entry, result.eta),
            created=result.created,
            position=result.position,
            wait_seconds=_seconds(result.wait),
        )


class PausedState(BaseModel):
    """Whether the queue is paused (no new offers; open offers and reservations run on)."""

    paused: bool


# --- REST: commands ---------------------------------------------------------------------------------------------

Estimate = Annotated[
    StrictStr | StrictInt,
    Field(description='Text ("90" minutes, "90m", "1h30m", "2:15") or a whole number of seconds.'),
]

_SECONDS_CAP = 10**8
"""Seconds beyond any estimate limit; larger numbers are capped here before the range check (no overflow)."""


def estimate_value(value: str | int) -> str | timedelta:
    """A request's estimate as the service takes it: text as it is (the service parses it), seconds as a
    timedelta (capped at ±10^8 s so absurd numbers are refused by the range check, not by an overflow)."""
    if isinstance(value, str):
        return value
    return timedelta(seconds=max(-_SECONDS_CAP, min(_SECONDS_CAP, value)))


OnBehalfOf = Annotated[
    str | None,
    Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Operators only: the username of the person this is done for (recorded in the audit log).",
    ),
]


class QueueJoin(BaseModel):
    """``POST /api/v1/queue``: the signed-in person (or ``on_behalf_of``) joins with ``job_name`` and
    ``estimate``; ``printer_ids`` limits the printers the job may use (empty: any)."""

    model_config = ConfigDict(extra="forbid")
    on_behalf_of: OnBehalfOf = None
    job_name: str = Field(max_length=1000)
    estimate: Estimate
    printer_ids: list[str] = Field(default_factory=list, max_length=100)


class QueueUserCommand(BaseModel):
    """``POST /api/v1/queue/{entry_id}/claim`` and ``/cancel``: an operator may act ``on_behalf_of`` the entry's
    user; without a body the signed-in person acts."""

    model_config = ConfigDict(extra="forbid")
    on_behalf_of: OnBehalfOf = None


class QueueEstimateUpdate(BaseModel):
    """``PATCH /api/v1/queue/{entry_id}``: the entry's user (or an operator ``on_behalf_of`` them) gives a new
    ``estimate``."""

    model_config = ConfigDict(extra="forbid")
    on_behalf_of: OnBehalfOf = None
    estimate: Estimate


class QueueMove(BaseModel):
    """``POST /api/v1/queue/{entry_id}/move`` (admin): the 1-based place among the waiting entries."""

    model_config = ConfigDict(extra="forbid")
    position: int


class QueueHold(BaseModel):
    """``PUT /api/v1/queue/printers/{printer_id}/hold`` (admin): take the printer out of rotation, or put it back."""

    model_config = ConfigDict(extra="forbid")
    held: bool


class QueuePause(BaseModel):
    """``PUT /api/v1/queue/paused`` (admin): pause the queue (no new offers) or resume it."""

    model_config = ConfigDict(extra="forbid")
    paused: bool
