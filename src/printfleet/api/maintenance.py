"""``/api/v1/maintenance``: maintenance tasks, where every printer stands on each, marking a task done.

Reading needs ``maintenance.read`` (every role); changes need ``maintenance.manage`` (operators, admins) and are
audited (``maintenance_changed``, ``maintenance_done``). Intervals are in ``unit``: ``print_hours`` (hours of
printing recorded on the printer's jobs, pauses left out where the printer reports its printing time), ``days`` or
``jobs`` (prints that ended). A task is ``due_soon`` from ``1 − warn_fraction`` of its interval and ``due`` at it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from printfleet.api.auth import audit, requires
from printfleet.api.context import ContextDep
from printfleet.api.errors import responses
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.domain.maintenance import WARN_FRACTION, IntervalUnit, Level, NewTask, Task, TaskStatus

router = APIRouter(prefix="/api/v1/maintenance", tags=["maintenance"])

Reader = [requires(Permission.MAINTENANCE_READ)]
Manager = [requires(Permission.MAINTENANCE_MANAGE)]
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
TaskId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The task's id.")]
PrinterId = Annotated[str, Path(min_length=1, max_length=64, pattern=NO_CONTROL, description="The printer's id.")]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=NO_CONTROL)]
Interval = Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False, description="In ``unit``.")]
Fraction = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
Notes = Annotated[str, Field(max_length=2000)]


class TaskCreate(BaseModel):
    """``POST /api/v1/maintenance/tasks``: ``printer_id`` or ``printer_model`` narrows the task (neither: every
    printer)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    interval: Interval
    unit: IntervalUnit
    description: Annotated[str, Field(max_length=2000)] | None = None
    printer_id: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_CONTROL)] | None = None
    printer_model: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_CONTROL)] | None = None
    warn_fraction: Fraction = WARN_FRACTION

    def to_domain(self) -> NewTask:
        """The domain value."""
        return NewTask(**self.model_dump())


class TaskUpdate(BaseModel):
    """``PATCH /api/v1/maintenance/tasks/{id}``: the fields sent change; null clears an optional one."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    interval: Interval | None = None
    unit: IntervalUnit | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None
    printer_id: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_CONTROL)] | None = None
    printer_model: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_CONTROL)] | None = None
    warn_fraction: Fraction | None = None

    def changes(self) -> dict[str, Any]:
        """The fields sent; a required field sent as null is left out."""
        required = {"name", "interval", "unit", "warn_fraction"}
        return {
            name: getattr(self, name)
            for name in self.model_fields_set
            if not (name in required and getattr(self, name) is None)
        }


class TaskPublic(BaseModel):
    """A maintenance task."""

    id: int
    name: str
    description: str | None
    interval: float
    unit: IntervalUnit
    warn_fraction: float
    printer_id: str | None
    printer_model: str | None
    created_at: datetime

    @classmethod
    def from_domain(cls, task: Task) -> TaskPublic:
        """From the domain value."""
        return cls(
            id=task.id,
            name=task.name,
            description=task.description,
            interval=task.interval,
            unit=task.unit,
            warn_fraction=task.warn_fraction,
            printer_id=task.printer_id,
            printer_model=task.printer_model,
            created_at=task.created_at,
        )


class TaskList(BaseModel):
    """Every task, by name."""

    tasks: list[TaskPublic]


class StandingPublic(BaseModel):
    """One task on one printer: ``used`` and ``remaining`` in the task's unit, ``percent`` of the interval used,
    ``since`` when the counter started (last done, or the task's creation), ``offset`` the printer's past."""

    task_id: int
    task_name: str
    printer_id: str
    unit: IntervalUnit
    interval: float
    used: float
    remaining: float
    percent: float
    level: Level
    since: datetime
    offset: float
    last_done_at: datetime | None
    last_done_by: int | None
    last_notes: str | None

    @classmethod
    def from_domain(cls, standing: TaskStatus) -> StandingPublic:
        """From the domain value (figures rounded to 2 decimals)."""
        record = standing.record
        return cls(
            task_id=standing.task.id,
            task_name=standing.task.name,
            printer_id=standing.printer_id,
            unit=standing.task.unit,
            interval=standing.task.interval,
            used=round(standing.used, 2),
            remaining=round(standing.remaining, 2),
            percent=round(min(standing.fraction, 1_000.0) * 100, 1),
            level=standing.level,
            since=standing.since,
            offset=record.offset,
            last_done_at=record.last_done_at,
            last_done_by=record.last_done_by,
            last_notes=record.last_notes,
        )


class StandingList(BaseModel):
    """Every task on every printer it covers, most used first."""

    items: list[StandingPublic]


class DoneBody(BaseModel):
    """``POST …/done``: optional notes on what was done."""

    model_config = ConfigDict(extra="forbid")

    notes: Notes | None = None


class OffsetBody(BaseModel):
    """``PUT …/offset``: the printer's past in the task's unit (e.g. the print hours it had before printfleet)."""

    model_config = ConfigDict(extra="forbid")

    offset: Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]


class LogLine(BaseModel):
    """One time a task was done: ``counter`` is what its counter had reached (in the task's unit)."""

    task_id: int
    printer_id: str
    done_at: datetime
    done_by: int | None
    counter: float
    notes: str | None


class LogList(BaseModel):
    """What was done, newest first."""

    items: list[LogLine]


@router.get("/tasks", response_model=TaskList, dependencies=Reader, responses=responses())
async def list_tasks(context: ContextDep) -> TaskList:
    """Every maintenance task."""
    return TaskList(tasks=[TaskPublic.from_domain(task) for task in await context.maintenance.tasks()])


@router.post(
    "/tasks",
    response_model=TaskPublic,
    status_code=status.HTTP_201_CREATED,
    dependencies=Manager,
    responses=responses(),
)
async def add_task(body: TaskCreate, request: Request, context: ContextDep) -> TaskPublic:
    """Add a task; 422 naming the field for one that cannot be counted."""
    task = await context.maintenance.add_task(body.to_domain())
    await audit(request, AuditAction.MAINTENANCE_CHANGED, f"maintenance_task:{task.id}", name=task.name, op="added")
    return TaskPublic.from_domain(task)


@router.get("/tasks/{task_id}", response_model=TaskPublic, dependencies=Reader, responses=responses(404))
async def get_task(task_id: TaskId, context: ContextDep) -> TaskPublic:
    """One task."""
    return TaskPublic.from_domain(await context.maintenance.task(task_id))


@router.patch("/tasks/{task_id}", response_model=TaskPublic, dependencies=Manager, responses=responses(404))
async def update_task(task_id: TaskId, body: TaskUpdate, request: Request, context: ContextDep) -> TaskPublic:
    """Change the fields sent."""
    changes = body.changes()
    task = await context.maintenance.update_task(task_id, changes)
    await audit(request, AuditAction.MAINTENANCE_CHANGED, f"maintenance_task:{task_id}", fields=sorted(changes))
    return TaskPublic.from_domain(task)


@router.delete(
    "/tasks/{task_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=Manager, responses=responses(404)
)
async def delete_task(task_id: TaskId, request: Request, context: ContextDep) -> Response:
    """Delete a task, with its counters and log."""
    await context.maintenance.delete_task(task_id)
    await audit(request, AuditAction.MAINTENANCE_CHANGED, f"maintenance_task:{task_id}", op="deleted")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/status", response_model=StandingList, dependencies=Reader, responses=responses())
async def standing(
    context: ContextDep,
    printer_id: Annotated[str | None, Query(max_length=64, pattern=NO_CONTROL, description="One printer.")] = None,
    level: Annotated[Level | None, Query(description="Only tasks at this level.")] = None,
) -> StandingList:
    """Every task on every printer it covers, most used first."""
    found = await context.maintenance.statuses(printer_id=printer_id)
    return StandingList(
        items=[StandingPublic.from_domain(s) for s in found if level is None or s.level is level],
    )


@router.post("/tasks/{task_id}/printers/{printer_id}/done", response_model=StandingPublic, responses=responses(404))
async def mark_done(
    task_id: TaskId,
    printer_id: PrinterId,
    request: Request,
    context: ContextDep,
    principal: Annotated[Principal, requires(Permission.MAINTENANCE_MANAGE)],
    body: DoneBody | None = None,
) -> StandingPublic:
    """Record that the task was done on the printer now: its counter starts again (the body is optional)."""
    notes = body.notes if body is not None else None
    done = await context.maintenance.mark_done(task_id, printer_id, by=principal.user.id, notes=notes)
    await audit(request, AuditAction.MAINTENANCE_DONE, f"printer:{printer_id}", task_id=task_id)
    return StandingPublic.from_domain(done)


@router.put(
    "/tasks/{task_id}/printers/{printer_id}/offset",
    response_model=StandingPublic,
    dependencies=Manager,
    responses=responses(404),
)
async def set_offset(
    task_id: TaskId, printer_id: PrinterId, body: OffsetBody, request: Request, context: ContextDep
) -> StandingPublic:
    """Set the printer's counter offset for the task (its past before printfleet)."""
    standing_now = await context.maintenance.set_offset(task_id, printer_id, body.offset)
    await audit(request, AuditAction.MAINTENANCE_CHANGED, f"printer:{printer_id}", task_id=task_id, offset=body.offset)
    return StandingPublic.from_domain(standing_now)


@router.get("/log", response_model=LogList, dependencies=Reader, responses=responses())
async def done_log(
    context: ContextDep,
    printer_id: Annotated[str | None, Query(max_length=64, pattern=NO_CONTROL, description="One printer.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> LogList:
    """What was done, newest first."""
    return LogList(
        items=[LogLine(**line) for line in await context.maintenance.log(printer_id=printer_id, limit=limit)]
    )
