"""Request and response bodies of the scheduled-print routes (``/api/v1/scheduled-prints``,
``/api/v1/schedule/timeline`` and the ``/api/bambu/scheduled-prints`` aliases)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from printfleet.domain.schedule.model import OffsetFrom, PrintPlan, PrintSpeed, ScheduleStatus, Target
from printfleet.domain.schedule.timeline import TimelineEntry
from printfleet.services.schedule.service import Shown

MAX_ID = 2**63 - 1
Tag = Annotated[str, Field(min_length=1, max_length=32)]


class TargetBody(BaseModel):
    """Which printers may take a print that names no ``printer_id``: ``{"model": "X1C"}``, ``{"tags": [...]}``
    (all of them), both, or ``{}`` (any compatible printer)."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(default=None, min_length=1, max_length=64)
    tags: list[Tag] = Field(default_factory=list, max_length=20)

    def to_domain(self) -> Target:
        """The domain target."""
        return Target(model=self.model, tags=tuple(self.tags))


class _Editable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_name: str | None = Field(default=None, min_length=1, max_length=200)
    printer_id: str | None = Field(default=None, max_length=64)
    target: TargetBody | None = None
    scheduled_start: AwareDatetime | None = Field(default=None, description="Not before (ISO 8601 with offset).")
    finish_by: AwareDatetime | None = Field(default=None, description="Deadline (ISO 8601 with offset).")
    estimated_duration_minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 30)
    material_type: str | None = Field(default=None, min_length=1, max_length=32)
    material_color: str | None = Field(default=None, pattern=r"^#?[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$")
    material_slot: int | None = Field(default=None, ge=0, le=255)
    nozzle_temp: float | None = Field(default=None, ge=0, le=500, description="°C")
    bed_temp: float | None = Field(default=None, ge=0, le=200, description="°C")
    print_speed: PrintSpeed | None = None
    priority: int | None = Field(default=None, ge=-100, le=100, description="Higher first; default 0.")
    offset_minutes: int | None = Field(default=None, ge=0, le=60 * 24 * 30)
    offset_from: OffsetFrom | None = None
    only_if_succeeded: bool | None = None
    notes: str | None = Field(default=None, max_length=2000)


class ScheduledPrintCreate(_Editable):
    """``POST /api/v1/scheduled-prints``: schedule plate ``plate`` of library file ``file_id``, ``copies`` times
    (one row each), on ``printer_id`` or any printer matching ``target``; optionally after print ``depends_on``
    (``offset_minutes`` from its ``start`` or ``finish``; ``only_if_succeeded``, default true)."""

    file_id: int = Field(ge=1, le=MAX_ID)
    plate: int = Field(default=1, ge=1, le=999)
    copies: int = Field(default=1, ge=1, le=100)
    order_id: str | None = Field(default=None, min_length=1, max_length=64)
    depends_on: int | None = Field(default=None, ge=1, le=MAX_ID)

    def to_domain(self, default_name: str) -> PrintPlan:
        """The plan (``job_name`` defaults to ``default_name``)."""
        return PrintPlan(
            job_name=self.job_name or default_name,
            file_id=self.file_id,
            plate=self.plate,
            printer_id=self.printer_id,
            target=self.target.to_domain() if self.target else Target(),
            order_id=self.order_id,
            scheduled_start=self.scheduled_start,
            finish_by=self.finish_by,
            estimated_duration_minutes=self.estimated_duration_minutes,
            material_type=self.material_type,
            material_color=self.material_color,
            material_slot=self.material_slot,
            nozzle_temp=self.nozzle_temp,
            bed_temp=self.bed_temp,
            print_speed=self.print_speed,
            priority=self.priority or 0,
            copies=self.copies,
            depends_on=self.depends_on,
            offset_minutes=self.offset_minutes or 0,
            offset_from=self.offset_from or OffsetFrom.FINISH,
            only_if_succeeded=True if self.only_if_succeeded is None else self.only_if_succeeded,
            notes=self.notes,
        )


class ScheduledPrintUpdate(_Editable):
    """``PUT``/``PATCH /api/v1/scheduled-prints/{id}``: the fields sent change (a print not yet sent only)."""

    def changes(self) -> dict[str, Any]:
        """The fields sent, as the service takes them."""
        found: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if name == "target":
                value = value.to_domain() if value is not None else Target()
            found[name] = value
        return found


class ScheduledPrintPublic(BaseModel):
    """A scheduled print. ``status`` is as a person sees it (``waiting`` while its time or predecessor holds it);
    ``printer_id`` the printer it names, ``assigned_printer_id`` the one it was sent to; times ISO 8601 UTC."""

    id: int
    created_by: int | None
    printer_id: str | None
    target: dict[str, Any]
    order_id: str | None
    job_name: str
    file_id: int
    plate: int
    status: ScheduleStatus
    scheduled_start: AwareDatetime | None
    finish_by: AwareDatetime | None
    estimated_duration_minutes: int | None
    material_type: str | None
    material_color: str | None
    material_slot: int | None
    nozzle_temp: float | None
    bed_temp: float | None
    print_speed: PrintSpeed | None
    priority: int
    copies: int
    copy_index: int
    depends_on: int | None
    offset_minutes: int
    offset_from: OffsetFrom
    only_if_succeeded: bool
    attempts: int
    assigned_printer_id: str | None
    started_at: AwareDatetime | None
    completed_at: AwareDatetime | None
    failed_reason: str | None
    notes: str | None
    job_id: int | None
    dispatch_id: int | None
    created_at: AwareDatetime
    updated_at: AwareDatetime

    @classmethod
    def from_domain(cls, shown: Shown) -> ScheduledPrintPublic:
        """Map a print and its shown status."""
        p = shown.scheduled
        fields = {name: getattr(p, name) for name in cls.model_fields if name not in ("status", "target")}
        return cls(**fields, status=shown.status, target=p.target.as_dict())


class ScheduledPrintList(BaseModel):
    """``GET /api/v1/scheduled-prints``."""

    scheduled_prints: list[ScheduledPrintPublic]
    total: int


class TimelineEntryPublic(BaseModel):
    """A print on the timeline: predicted ``printer_id`` (null: no printer can take it), ``start``/``end``, its
    deadline ``finish_by``, ``at_risk`` (predicted end plus the margin passes the deadline), ``running``."""

    print_id: int
    job_name: str | None = None
    printer_id: str | None
    start: AwareDatetime | None
    end: AwareDatetime | None
    finish_by: AwareDatetime | None
    at_risk: bool
    running: bool

    @classmethod
    def from_domain(cls, entry: TimelineEntry, job_name: str | None = None) -> TimelineEntryPublic:
        """Map a timeline entry."""
        return cls(
            print_id=entry.print_id,
            job_name=job_name,
            printer_id=entry.printer_id,
            start=entry.start,
            end=entry.end,
            finish_by=entry.finish_by,
            at_risk=entry.at_risk,
            running=entry.running,
        )


class Timeline(BaseModel):
    """``GET /api/v1/schedule/timeline``: every queued and running print, by predicted start."""

    entries: list[TimelineEntryPublic]
