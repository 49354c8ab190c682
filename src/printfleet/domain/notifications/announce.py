"""What a domain event announces: pure mapping from published events to notification events with their subject.

The subject names the thing announced so that (subject, event, channel) is unique per real occurrence: a job's
start, end or pause is announced once however often ``job_updated`` repeats it (user edits, restarts, duplicate
reports: the duplicate messages research §5 lists, e.g. OctoPod#7, Octorant#22).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from printfleet.domain.events import (
    ClaimOffered,
    ClaimReminder,
    DomainEvent,
    FirstLayerDone,
    JobAutoCreated,
    JobUpdated,
    MaintenanceDue,
    MaterialSlotChanged,
    PrinterErrorRaised,
    PrinterWentOffline,
    ReservationReleased,
    ShopNeedsReconnect,
)
from printfleet.domain.jobs import Job, JobStatus
from printfleet.domain.notifications.model import NotificationEvent
from printfleet.domain.queue import QueueEntry

_JOB_EVENTS: dict[JobStatus, NotificationEvent] = {
    JobStatus.RUNNING: NotificationEvent.PRINT_STARTED,
    JobStatus.PAUSED: NotificationEvent.PRINT_PAUSED,
    JobStatus.COMPLETED: NotificationEvent.PRINT_FINISHED,
    JobStatus.FAILED: NotificationEvent.PRINT_FAILED,
    JobStatus.CANCELLED: NotificationEvent.PRINT_CANCELLED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Announcement:
    """One thing to tell people. ``job``, ``entry``, ``slot`` (a material slot's change), ``maintenance`` (the task
    that fell due), ``error`` (a printer's new error), ``offline`` (a printer gone) or ``shop`` (a shop to connect
    again) is what it is about;
    ``reason`` qualifies a released reservation (``start_missed``, ``cancelled``, ``removed``). ``queue_user_id`` is
    the only recipient of a queue event (the queue's user id, ``user:<id>``). ``occurred_at`` (aware UTC) is when it
    happened, when the record says: a rule made later is not sent it (a job edited long after its start does not
    announce the start to a rule made since)."""

    event: NotificationEvent
    subject: str
    printer_id: str | None
    job: Job | None = None
    entry: QueueEntry | None = None
    reason: str | None = None
    occurred_at: datetime | None = None
    maintenance: MaintenanceDue | None = None
    slot: MaterialSlotChanged | None = None
    error: PrinterErrorRaised | None = None
    offline: PrinterWentOffline | None = None
    shop: ShopNeedsReconnect | None = None

    @property
    def queue_user_id(self) -> str | None:
        """The queue member concerned (queue events only)."""
        return self.entry.user_id if self.entry is not None and self.event.queue_only else None


def job_announcement(job: Job) -> Announcement | None:
    """The announcement of ``job``'s current status, or None (pending, unknown, deleted jobs announce nothing).

    Subjects: ``job:<id>`` for start and end; a pause is ``job:<id>:pause:<elapsed>`` with the printer's printing
    time at the pause (seconds; progress % when the printer gives no time), so each pause of one print is its own
    occurrence while repeats of one pause are not. A resume (back to ``running``) reuses the start's subject and so
    announces nothing.
    """
    event = _JOB_EVENTS.get(job.status)
    if event is None or job.deleted:
        return None
    subject = f"job:{job.id}"
    occurred_at: datetime | None = job.end_time
    if event is NotificationEvent.PRINT_STARTED:
        occurred_at = started_at(job)
    elif event is NotificationEvent.PRINT_PAUSED:
        mark = job.elapsed_seconds if job.elapsed_seconds is not None else round(job.progress or 0.0, 1)
        subject = f"{subject}:pause:{mark}"
        occurred_at = None
    return Announcement(event=event, subject=subject, printer_id=job.printer_id, job=job, occurred_at=occurred_at)


def started_at(job: Job) -> datetime:
    """When printfleet knew ``job`` had started: the later of its creation (an auto-created job: discovery) and its
    start time (a manual or dispatched job is created before its print starts)."""
    return max(job.created_at, job.start_time) if job.start_time is not None else job.created_at


def start_announcement(job: Job) -> Announcement:
    """The ``print_started`` announcement of ``job`` whatever its status now (start-up recovery)."""
    return Announcement(
        event=NotificationEvent.PRINT_STARTED,
        subject=f"job:{job.id}",
        printer_id=job.printer_id,
        job=job,
        occurred_at=started_at(job),
    )


_SLOT_EVENTS = {
    "spool_inserted": NotificationEvent.MATERIAL_CHANGED,
    "spool_removed": NotificationEvent.MATERIAL_CHANGED,
    "spool_changed": NotificationEvent.MATERIAL_CHANGED,
    "spool_low": NotificationEvent.SPOOL_LOW,
}


def slot_announcement(event: MaterialSlotChanged) -> Announcement | None:
    """A spool put in, taken out or swapped (``material_changed``), or running low (``spool_low``); None for the
    other slot events (remain and active-slot changes notify nobody). The subject is the slot and the moment of the
    change, each change being published once."""
    kind = _SLOT_EVENTS.get(event.event)
    if kind is None:
        return None
    subject = f"slot:{event.printer_id}:{event.slot}:{event.event}:{event.occurred_at.isoformat()}"
    return Announcement(
        event=kind, subject=subject[:200], printer_id=event.printer_id, occurred_at=event.occurred_at, slot=event
    )


_ANNOUNCING = (
    MaterialSlotChanged,
    JobAutoCreated,
    JobUpdated,
    ClaimOffered,
    ClaimReminder,
    ReservationReleased,
    FirstLayerDone,
    PrinterErrorRaised,
    PrinterWentOffline,
    ShopNeedsReconnect,
    MaintenanceDue,
)


def may_announce(event: DomainEvent) -> bool:
    """Whether ``event`` is of a kind :func:`announcements` may find something in (a printer's telemetry never)."""
    return isinstance(event, _ANNOUNCING)


def announcements(event: DomainEvent) -> list[Announcement]:
    """What ``event`` announces (empty for events that notify nobody)."""
    if isinstance(event, MaterialSlotChanged):
        found_slot = slot_announcement(event)
        return [found_slot] if found_slot is not None else []
    if isinstance(event, JobAutoCreated | JobUpdated):
        found = job_announcement(event.job)
        return [found] if found is not None else []
    if isinstance(event, ClaimOffered):
        entry = event.entry
        offered = entry.offered_at.isoformat() if entry.offered_at else f"v{entry.version}"
        return [
            Announcement(
                event=NotificationEvent.CLAIM_OFFERED,
                subject=f"queue:{entry.id}:offer:{entry.printer_id}:{offered}",
                printer_id=entry.printer_id,
                entry=entry,
            )
        ]
    if isinstance(event, ClaimReminder):
        entry = event.entry
        offered = entry.offered_at.isoformat() if entry.offered_at else f"v{entry.version}"
        return [
            Announcement(
                event=NotificationEvent.CLAIM_OFFERED,
                subject=f"queue:{entry.id}:reminder:{entry.printer_id}:{offered}",
                printer_id=entry.printer_id,
                entry=entry,
                reason="reminder",
            )
        ]
    if isinstance(event, ReservationReleased):
        entry = event.entry
        return [
            Announcement(
                event=NotificationEvent.RESERVATION_RELEASED,
                subject=f"queue:{entry.id}:released:{event.printer_id}:v{entry.version}",
                printer_id=event.printer_id,
                entry=entry,
                reason=event.reason,
            )
        ]
    if isinstance(event, FirstLayerDone):
        job = event.job
        return [
            Announcement(
                event=NotificationEvent.FIRST_LAYER_DONE,
                subject=f"job:{job.id}:first_layer",
                printer_id=job.printer_id,
                job=job,
                occurred_at=started_at(job),
            )
        ]
    if isinstance(event, PrinterErrorRaised):
        kind = NotificationEvent.FILAMENT_RUNOUT if event.runout else NotificationEvent.HMS_ERROR
        return [
            Announcement(
                event=kind,
                subject=f"error:{event.printer_id}:{event.code or 'state'}:{event.occurred_at.isoformat()}"[:200],
                printer_id=event.printer_id,
                occurred_at=event.occurred_at,
                error=event,
            )
        ]
    if isinstance(event, PrinterWentOffline):
        return [
            Announcement(
                event=NotificationEvent.PRINTER_OFFLINE,
                subject=f"offline:{event.printer_id}:{event.since.isoformat()}",
                printer_id=event.printer_id,
                occurred_at=event.since,
                offline=event,
            )
        ]
    if isinstance(event, ShopNeedsReconnect):
        return [
            Announcement(
                event=NotificationEvent.SHOP_RECONNECT_NEEDED,
                subject=f"shop:{event.shop}:reconnect:{event.occurred_at.isoformat()}",
                printer_id=None,
                occurred_at=event.occurred_at,
                shop=event,
            )
        ]
    if isinstance(event, MaintenanceDue):
        return [
            Announcement(
                event=NotificationEvent.MAINTENANCE_DUE,
                subject=f"maintenance:{event.task_id}:{event.printer_id}:{event.since.isoformat()}",
                printer_id=event.printer_id,
                maintenance=event,
            )
        ]
    return []
