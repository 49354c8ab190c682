"""Wire shapes of the queue (REST and the ``/ws`` queue events). Times ISO 8601 UTC; durations in seconds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from printfleet.domain.events import (
    ClaimExpired,
    ClaimOffered,
    QueueEntryFinished,
    QueueEvent,
    QueuePrintStarted,
    QueueUpdated,
    ReservationReleased,
    UnqueuedPrint,
)
from printfleet.domain.queue import EntryStatus, QueueEntry
from printfleet.domain.queue_eta import Eta


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


def queue_event_data(event: QueueEvent) -> dict[str, Any]:
    """The ``data`` of a queue event's ``/ws`` frame: ``entry`` (the entry after the change) plus the event's own
    fields (``reason``, ``printer_id``, ``job_id``, ``remaining_seconds``, ``file_name``)."""
    if isinstance(event, QueueUpdated):
        return {"reason": event.reason, "entry": _entry(event.entry), "printer_id": event.printer_id}
    if isinstance(event, ClaimOffered | QueueEntryFinished):
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
