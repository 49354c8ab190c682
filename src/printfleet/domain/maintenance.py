"""Maintenance tasks: what is due on which printer, from the prints printfleet recorded.

Pure rules, no I/O. A task (clean the nozzle, lubricate the rods, replace the PTFE tube) has an interval in print
hours, days or jobs and applies to every printer, to one printer, or to the printers of one model. Per printer it
counts up from when it was last done (or from when the task was made), plus a per-printer offset for the printer's
past (hours it printed before printfleet knew it). It is *due soon* from ``1 − warn_fraction`` of the interval
(10 % before due by default) and *due* at the interval; ``maintenance_due`` is announced once per crossing.

Sources: research materials-notifications.md §6 (Bambuddy: print hours from printing time, pauses excluded, with a
per-printer hours offset; Printago: hours, days or jobs, per-printer counters with a starting offset, informational
with a separate maintenance mode; SimplyPrint: a printer in maintenance leaves the queue) and MT1–MT5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class IntervalUnit(StrEnum):
    """What a task's interval counts."""

    PRINT_HOURS = "print_hours"
    """Hours of printing recorded on the printer's jobs (the printer's own printing time when it reports one, so
    pauses are left out; else start to end)."""
    DAYS = "days"
    """Calendar days."""
    JOBS = "jobs"
    """Prints that ended (completed, failed or cancelled)."""


class Level(StrEnum):
    """Where a task stands on one printer."""

    OK = "ok"
    DUE_SOON = "due_soon"
    DUE = "due"


WARN_FRACTION = 0.1
"""Default share of the interval before due at which a task is *due soon* (research MT1: 10 %)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NewTask:
    """A task to record. ``interval`` is in ``unit`` (> 0); ``printer_id`` or ``printer_model`` narrows it to one
    printer or one model (both None: every printer); ``warn_fraction`` in (0, 1)."""

    name: str
    interval: float
    unit: IntervalUnit
    description: str | None = None
    printer_id: str | None = None
    printer_model: str | None = None
    warn_fraction: float = WARN_FRACTION


@dataclass(frozen=True, slots=True, kw_only=True)
class Task(NewTask):
    """A stored task; ``created_at`` aware UTC (a printer's counter starts there until the task is first done)."""

    id: int
    created_at: datetime

    def applies_to(self, printer_id: str, printer_model: str | None) -> bool:
        """Whether the task covers this printer (models compare case-insensitively)."""
        if self.printer_id is not None and self.printer_id != printer_id:
            return False
        if self.printer_model is not None:
            return (printer_model or "").casefold() == self.printer_model.casefold()
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class PrinterTask:
    """One task on one printer: when it was last done (None: never, count from the task's creation), by whom, the
    counter offset in the task's unit, and the highest level already announced since it was last done."""

    task_id: int
    printer_id: str
    last_done_at: datetime | None = None
    last_done_by: int | None = None
    last_notes: str | None = None
    offset: float = 0.0
    announced: Level = Level.OK


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """What a printer did since a moment: ``print_seconds`` of printing and ``jobs`` ended."""

    print_seconds: float = 0.0
    jobs: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskStatus:
    """A task's standing on one printer: ``used`` and ``interval`` in the task's unit, ``remaining`` (negative when
    overdue), ``fraction`` used (0 upwards; 1 is due), ``since`` when the counter started (aware UTC)."""

    task: Task
    printer_id: str
    since: datetime
    used: float
    remaining: float
    fraction: float
    level: Level
    record: PrinterTask


def counted_since(task: Task, record: PrinterTask) -> datetime:
    """When the printer's counter for ``task`` starts: its last done time, else the task's creation."""
    return record.last_done_at or task.created_at


def used(task: Task, record: PrinterTask, usage: Usage, now: datetime) -> float:
    """The counter in the task's unit: the usage since :func:`counted_since` plus the printer's offset."""
    if task.unit is IntervalUnit.PRINT_HOURS:
        value = usage.print_seconds / 3600
    elif task.unit is IntervalUnit.JOBS:
        value = float(usage.jobs)
    else:
        value = max(0.0, (now - counted_since(task, record)).total_seconds() / 86400)
    return value + record.offset


def level_of(fraction: float, warn_fraction: float) -> Level:
    """``due`` from 1, ``due soon`` from ``1 − warn_fraction``, else ``ok``."""
    if fraction >= 1:
        return Level.DUE
    if fraction >= 1 - warn_fraction:
        return Level.DUE_SOON
    return Level.OK


def status(task: Task, record: PrinterTask, usage: Usage, now: datetime) -> TaskStatus:
    """The task's standing on ``record``'s printer given its ``usage`` since the counter started, at ``now``."""
    value = used(task, record, usage, now)
    fraction = value / task.interval if task.interval > 0 else math.inf
    return TaskStatus(
        task=task,
        printer_id=record.printer_id,
        since=counted_since(task, record),
        used=value,
        remaining=task.interval - value,
        fraction=fraction,
        level=level_of(fraction, task.warn_fraction),
        record=record,
    )


def to_announce(current: TaskStatus) -> bool:
    """Whether ``current`` crossed into ``due`` since the last announcement (once per crossing: after the task is
    done the record's ``announced`` goes back to ``ok``)."""
    return current.level is Level.DUE and current.record.announced is not Level.DUE


def check_task(new: NewTask) -> None:
    """Refuse a task that cannot be counted. Raises ValueError naming the field."""
    if not new.name.strip():
        raise ValueError("name: must not be empty")
    if not (math.isfinite(new.interval) and new.interval > 0):
        raise ValueError("interval: must be a positive number")
    if not (0 < new.warn_fraction < 1):
        raise ValueError("warn_fraction: must be between 0 and 1")
    if new.printer_id is not None and new.printer_model is not None:
        raise ValueError("printer_model: give a printer or a model, not both")
