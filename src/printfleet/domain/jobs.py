"""Jobs: one per print. Statuses, their transitions, and how a job is named from the printer's file name."""

from __future__ import annotations

import re
from enum import StrEnum


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
