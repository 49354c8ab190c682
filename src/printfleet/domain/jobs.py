"""Jobs: one per print. Statuses, their transitions, and how a job is named from the printer's file name."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    """Where a job stands.

    ``pending`` is a manual job waiting for its print; ``running``/``paused`` are active (at most one active job per
    printer, enforced by the store); ``completed``, ``failed``, ``cancelled`` come from the printer; ``unknown``
    closes a print whose end was not observed (DESIGN.md invariant 3).
    """

    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def is_active(self) -> bool:
        """True for ``running`` and ``paused``."""
        return self in (JobStatus.RUNNING, JobStatus.PAUSED)

    @property
    def is_terminal(self) -> bool:
        """True once the job has ended."""
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.UNKNOWN)


_ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.PAUSED, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.UNKNOWN}
    ),
    JobStatus.PAUSED: frozenset(
        {JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.UNKNOWN}
    ),
}


def can_transition(current: JobStatus, new: JobStatus) -> bool:
    """True when a job may go from ``current`` to ``new`` (an ended job never changes status again)."""
    return new in _ALLOWED.get(current, frozenset())


# Longest first: ".gcode.3mf" must win over ".3mf" and ".gcode".
_SUFFIXES = (".gcode.3mf", ".bgcode", ".gcode", ".3mf", ".stl")
_PLATE_GCODE = re.compile(r"(^|/)Metadata/plate_\d+\.gcode$", re.IGNORECASE)


def clean_job_name(file_name: str | None, subtask_name: str | None = None) -> str:
    """The job name shown to people, from the printer's file name.

    Drops directories and a ``cache/`` prefix; for Bambu's ``/data/Metadata/plate_N.gcode`` (X1/H2 LAN prints) uses
    ``subtask_name`` (the project name); strips ``.gcode.3mf``, ``.bgcode``, ``.gcode``, ``.3mf``, ``.stl``
    (case-insensitive). Falls back to ``subtask_name`` and then to ``"Unnamed print"``.

    >>> clean_job_name("/data/Metadata/plate_1.gcode", "Benchy")
    'Benchy'
    >>> clean_job_name("cache/gridfinity_bin.gcode.3mf")
    'gridfinity_bin'
    """
    name = (file_name or "").strip()
    if not name or _PLATE_GCODE.search(name):
        name = (subtask_name or "").strip()
    name = name.rsplit("/", 1)[-1]
    lowered = name.lower()
    for suffix in _SUFFIXES:
        if lowered.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return name or (subtask_name or "").strip() or "Unnamed print"


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One print (or a manual job waiting for its print).

    Times are aware UTC. ``created_at`` is when printfleet created the job (for an auto-created job: when it
    discovered the print). ``start_time`` is the printer-reported start when the printer gives one (a start
    timestamp, or discovery time minus printer-reported elapsed seconds, computed once), else the discovery time;
    ``printer_start_time`` is that printer-reported value or None. ``duration_seconds`` is ``end_time - start_time``
    once ended. ``progress`` in %. ``elapsed_seconds`` is the printer's last reported printing time (continuity).
    ``customer_info`` holds the user's customer fields; :meth:`public_customer_info` adds the auto-creation keys.
    ``deleted`` jobs are hidden from users; an active deleted job still holds its print so it is not re-created.
    ``queue_entry_id``, ``queue_user_id`` and ``queue_user_name`` name the queue entry (and its user) whose claimed
    printer this print started on, when it did.
    """

    id: int
    printer_id: str
    printer_type: str
    job_name: str
    filename: str | None
    status: JobStatus
    progress: float | None
    created_at: datetime
    start_time: datetime | None
    end_time: datetime | None
    duration_seconds: int | None
    is_business: bool = False
    customer_info: dict[str, Any] = field(default_factory=dict)
    file_id: str | None = None
    native_job_id: str | None = None
    end_reason: str | None = None
    notes: str | None = None
    auto_created: bool = False
    discovered_on_startup: bool = False
    printer_start_time: datetime | None = None
    elapsed_seconds: int | None = None
    deleted: bool = False
    queue_entry_id: int | None = None
    queue_user_id: str | None = None
    queue_user_name: str | None = None
    dispatch_id: int | None = None
    requested_by: int | None = None
    plate_outcome: str | None = None

    def public_customer_info(self) -> dict[str, Any]:
        """``customer_info`` as the API shows it: the user's fields plus, for an auto-created job,
        ``auto_created``, ``discovery_time``, ``printer_start_time`` and ``discovered_on_startup``."""
        info = dict(self.customer_info)
        if self.auto_created:
            info |= {
                "auto_created": True,
                "discovery_time": self.created_at.isoformat(),
                "printer_start_time": self.printer_start_time.isoformat() if self.printer_start_time else None,
                "discovered_on_startup": self.discovered_on_startup,
            }
        return info


AUTO_CREATION_KEYS = frozenset({"auto_created", "discovery_time", "printer_start_time", "discovered_on_startup"})
"""Keys of ``customer_info`` that printfleet owns; user edits of them are ignored."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NewJob:
    """A job to create. ``status`` is ``running`` (a print seen starting) or ``pending`` (a manual job)."""

    printer_id: str
    printer_type: str
    job_name: str
    filename: str | None
    status: JobStatus
    created_at: datetime
    start_time: datetime | None = None
    progress: float | None = None
    native_job_id: str | None = None
    auto_created: bool = False
    discovered_on_startup: bool = False
    printer_start_time: datetime | None = None
    elapsed_seconds: int | None = None
    is_business: bool = False
    customer_info: dict[str, Any] = field(default_factory=dict)
    notes: str | None = None
    file_id: str | None = None
    dispatch_id: int | None = None
    requested_by: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFilter:
    """Filters of the job list. ``since``/``until`` bound ``created_at`` (aware UTC); ``queue_user_id`` keeps the
    jobs of one person (the prints started on their queue reservation: what a ``member`` may see); ``search`` keeps
    the jobs whose name or file name contains it, ignoring case (on SQLite: of ASCII letters only)."""

    printer_id: str | None = None
    status: JobStatus | None = None
    auto_created: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    queue_user_id: str | None = None
    search: str | None = None
    limit: int = 50
    offset: int = 0

    def matches(self, job: Job) -> bool:
        """Whether ``job`` passes the filters (``since`` inclusive, ``until`` exclusive; limit/offset ignored).
        Deleted jobs never match."""
        return not (
            job.deleted
            or (self.printer_id is not None and job.printer_id != self.printer_id)
            or (self.status is not None and job.status is not self.status)
            or (self.auto_created is not None and job.auto_created is not self.auto_created)
            or (self.since is not None and job.created_at < self.since)
            or (self.until is not None and job.created_at >= self.until)
            or (self.queue_user_id is not None and job.queue_user_id != self.queue_user_id)
            or (self.search is not None and not _contains(job, self.search))
        )


def _contains(job: Job, text: str) -> bool:
    """Whether ``job``'s name or file name contains ``text``, ignoring case."""
    needle = text.casefold()
    return needle in job.job_name.casefold() or needle in (job.filename or "").casefold()
