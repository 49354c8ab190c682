"""A scheduled print, its statuses and targets, and the expansion of copies into rows.

A scheduled print names a library file (and plate) to print on a specific printer (``printer_id``) or on any
printer matching a :class:`Target` (a model, or all of some tags, or any compatible printer). It may wait for a
start time (``scheduled_start``), for a predecessor (``depends_on`` + ``offset_minutes`` from the predecessor's
``start`` or ``finish``), and may carry a deadline (``finish_by``) and a ``priority`` (higher first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class ScheduleStatus(StrEnum):
    """Where a scheduled print stands.

    ``queued`` may start as soon as a printer is ready; ``waiting`` waits for its ``scheduled_start`` or its
    predecessor (shown, not stored: the store keeps ``queued``, see :func:`printfleet.domain.schedule.rules.
    shown_status`); ``dispatching`` is being sent; ``started`` prints; ``completed``/``failed`` come from the job;
    ``cancelled`` by a person; ``skipped`` because its predecessor did not succeed and it needed it to.
    """

    QUEUED = "queued"
    WAITING = "waiting"
    DISPATCHING = "dispatching"
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    @property
    def is_final(self) -> bool:
        """True once the print will not change any more."""
        return self in _FINAL

    @property
    def is_pending(self) -> bool:
        """True while the print has not been sent yet (``queued`` or ``waiting``)."""
        return self in (ScheduleStatus.QUEUED, ScheduleStatus.WAITING)

    @property
    def succeeded(self) -> bool:
        """True for ``completed``."""
        return self is ScheduleStatus.COMPLETED


_FINAL = frozenset({ScheduleStatus.COMPLETED, ScheduleStatus.FAILED, ScheduleStatus.CANCELLED, ScheduleStatus.SKIPPED})


class OffsetFrom(StrEnum):
    """What a chained print's offset counts from: its predecessor's ``start`` or its ``finish``."""

    START = "start"
    FINISH = "finish"


class PrintSpeed(StrEnum):
    """Bambu speed levels (MQTT ``print_speed`` ``param`` 1-4: silent, standard, sport, ludicrous; research
    protocols.md, Bambu commands)."""

    SILENT = "silent"
    STANDARD = "standard"
    SPORT = "sport"
    LUDICROUS = "ludicrous"

    @property
    def level(self) -> int:
        """The MQTT ``print_speed`` ``param``: 1 silent … 4 ludicrous."""
        return _SPEED_LEVELS.index(self) + 1

    @property
    def percent(self) -> int:
        """The speed as a percentage of the sliced speed, as Bambu firmware applies each level (``spd_mag``:
        50, 100, 124, 166 %); other printers are given it as a feed-rate factor (``M220 S<percent>``)."""
        return _SPEED_PERCENT[self.level - 1]


_SPEED_LEVELS = (PrintSpeed.SILENT, PrintSpeed.STANDARD, PrintSpeed.SPORT, PrintSpeed.LUDICROUS)
_SPEED_PERCENT = (50, 100, 124, 166)


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Which printers may take a print that names no ``printer_id``: ``model`` (a printer model as configured,
    compared case- and space-insensitively, e.g. ``"X1C"``), ``tags`` (the printer carries every one), or neither:
    any compatible printer."""

    model: str | None = None
    tags: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """The wire form: ``{"model": "X1C"}``, ``{"tags": ["petg"]}`` or ``{}`` (any)."""
        found: dict[str, object] = {}
        if self.model:
            found["model"] = self.model
        if self.tags:
            found["tags"] = list(self.tags)
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class PrintPlan:
    """What to print and when, as a person asks for it (before copies are expanded).

    Times aware UTC; ``estimated_duration_minutes`` (minutes) from the file's metadata unless given; temperatures
    °C; ``material_slot`` the AMS slot (``ams_id*4 + tray``) the file's first filament should use; ``copies`` ≥ 1.
    """

    job_name: str
    file_id: int
    plate: int = 1
    printer_id: str | None = None
    target: Target = field(default_factory=Target)
    order_id: str | None = None
    scheduled_start: datetime | None = None
    finish_by: datetime | None = None
    estimated_duration_minutes: int | None = None
    material_type: str | None = None
    material_color: str | None = None
    material_slot: int | None = None
    nozzle_temp: float | None = None
    bed_temp: float | None = None
    print_speed: PrintSpeed | None = None
    priority: int = 0
    copies: int = 1
    depends_on: int | None = None
    offset_minutes: int = 0
    offset_from: OffsetFrom = OffsetFrom.FINISH
    only_if_succeeded: bool = True
    notes: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewScheduledPrint(PrintPlan):
    """One row to store: a plan for one copy (``copy_index`` of ``copies``, 1-based), by ``created_by`` (user id;
    None: printfleet itself, e.g. a shop order) at ``created_at``."""

    created_by: int | None
    created_at: datetime
    copy_index: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledPrint(NewScheduledPrint):
    """A stored scheduled print. ``status`` as stored (never ``waiting``); ``attempts`` counts dispatches tried;
    ``assigned_printer_id`` the printer it was sent to; ``started_at``/``completed_at`` when it started and ended
    (``completed_at`` is the end of any final status); ``failed_reason`` why it failed, was skipped or last went
    back to the queue; ``job_id``/``dispatch_id`` link the job and the dispatch."""

    id: int
    status: ScheduleStatus = ScheduleStatus.QUEUED
    attempts: int = 0
    assigned_printer_id: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    failed_reason: str | None = None
    job_id: int | None = None
    dispatch_id: int | None = None
    updated_at: datetime

    @property
    def estimated_duration(self) -> timedelta | None:
        """The estimated printing time, or None when unknown."""
        if self.estimated_duration_minutes is None:
            return None
        return timedelta(minutes=self.estimated_duration_minutes)


MAX_COPIES = 100
"""Copies one request may expand into (rows are created up front, so the timeline shows each)."""


def expand_copies(plan: PrintPlan, *, created_by: int | None, created_at: datetime) -> list[NewScheduledPrint]:
    """One :class:`NewScheduledPrint` per copy of ``plan`` (``copy_index`` 1..copies; a job name gains
    ``" (k/n)"`` when there are several). Raises ValueError when ``copies`` is not within 1..:data:`MAX_COPIES`."""
    if not 1 <= plan.copies <= MAX_COPIES:
        raise ValueError(f"copies must be between 1 and {MAX_COPIES}")
    fields = {name: getattr(plan, name) for name in PrintPlan.__dataclass_fields__}
    rows: list[NewScheduledPrint] = []
    for index in range(1, plan.copies + 1):
        name = plan.job_name if plan.copies == 1 else f"{plan.job_name} ({index}/{plan.copies})"
        rows.append(
            NewScheduledPrint(
                **{**fields, "job_name": name[:255]},
                created_by=created_by,
                created_at=created_at,
                copy_index=index,
            )
        )
    return rows


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleQuery:
    """Filters of the scheduled-print list (oldest first): ``printer_id`` (the named or assigned printer),
    ``statuses`` (stored ones), ``order_id`` or any of ``order_ids``, ``created_by``, ``since``/``until`` (created
    between), and a page."""

    printer_id: str | None = None
    statuses: frozenset[ScheduleStatus] = frozenset()
    order_id: str | None = None
    order_ids: frozenset[str] = frozenset()
    created_by: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0
