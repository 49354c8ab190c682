"""Scheduled prints: ``/api/v1/scheduled-prints``, ``GET /api/v1/schedule/timeline``, and the compatible aliases
under ``/api/bambu/scheduled-prints`` (thin: same bodies and answers as the canonical routes).

Reading needs ``schedule.read``; scheduling, changing and cancelling ``schedule.own`` (members, for their own
prints, when ``schedule.members_may_schedule``) or ``schedule.manage`` (operators, for anyone).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import AwareDatetime

from printfleet.api.auth import audit, requires
from printfleet.api.context import ContextDep
from printfleet.api.errors import responses
from printfleet.api.schedule_schemas import (
    MAX_ID,
    ScheduledPrintCreate,
    ScheduledPrintList,
    ScheduledPrintPublic,
    ScheduledPrintUpdate,
    Timeline,
    TimelineEntryPublic,
)
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.domain.jobs import clean_job_name
from printfleet.domain.schedule.model import ScheduleQuery, ScheduleStatus
from printfleet.services.schedule.service import Actor, Shown

router = APIRouter(tags=["schedule"])

Reader = Annotated[Principal, requires(Permission.SCHEDULE_READ)]
Scheduler = Annotated[Principal, requires(Permission.SCHEDULE_OWN)]
PrintId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _actor(principal: Principal) -> Actor:
    return Actor(user_id=principal.user.id, manages=principal.may(Permission.SCHEDULE_MANAGE))


@router.get("/api/v1/scheduled-prints", response_model=ScheduledPrintList, responses=responses())
async def list_scheduled_prints(
    principal: Reader,
    context: ContextDep,
    printer_id: Annotated[str | None, Query(max_length=64)] = None,
    status_: Annotated[list[ScheduleStatus] | None, Query(alias="status")] = None,
    order_id: Annotated[str | None, Query(max_length=64)] = None,
    created_by: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    since: Annotated[AwareDatetime | None, Query(description="Created at or after (ISO 8601 with offset).")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Created before (ISO 8601 with offset).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> ScheduledPrintList:
    """Scheduled prints oldest first, filtered by printer (named or sent to), status (repeatable), order, creator
    and creation time."""
    query = ScheduleQuery(
        printer_id=printer_id,
        statuses=frozenset(status_ or ()),
        order_id=order_id,
        created_by=created_by,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    found, total = await context.schedule.list_prints(query)
    return ScheduledPrintList(scheduled_prints=[ScheduledPrintPublic.from_domain(s) for s in found], total=total)


@router.post(
    "/api/v1/scheduled-prints",
    response_model=list[ScheduledPrintPublic],
    status_code=status.HTTP_201_CREATED,
    responses=responses(403, 404, 422),
)
async def create_scheduled_print(
    body: ScheduledPrintCreate, principal: Scheduler, request: Request, context: ContextDep
) -> list[ScheduledPrintPublic]:
    """Schedule a library file: 201 with one scheduled print per copy. The scheduler starts each on a ready
    ``scheduled`` printer when its time, predecessor and turn come."""
    stored = await context.files.get(body.file_id)
    created = await context.schedule.create(body.to_domain(clean_job_name(stored.name)), actor=_actor(principal))
    await audit(
        request,
        AuditAction.PRINT_SCHEDULED,
        f"scheduled_print:{created[0].id}",
        file_id=body.file_id,
        copies=len(created),
        printer_id=body.printer_id,
    )
    now_shown = [await context.schedule.get(p.id) for p in created]
    return [ScheduledPrintPublic.from_domain(s) for s in now_shown]


@router.get("/api/v1/scheduled-prints/{print_id}", response_model=ScheduledPrintPublic, responses=responses(404))
async def get_scheduled_print(print_id: PrintId, principal: Reader, context: ContextDep) -> ScheduledPrintPublic:
    """One scheduled print."""
    return ScheduledPrintPublic.from_domain(await context.schedule.get(print_id))


async def _update(
    print_id: int, body: ScheduledPrintUpdate, principal: Principal, request: Request, context: ContextDep
) -> ScheduledPrintPublic:
    changes = body.changes()
    shown = await context.schedule.update(print_id, changes, actor=_actor(principal))
    await audit(request, AuditAction.SCHEDULED_PRINT_UPDATED, f"scheduled_print:{print_id}", fields=sorted(changes))
    return ScheduledPrintPublic.from_domain(shown)


@router.patch(
    "/api/v1/scheduled-prints/{print_id}", response_model=ScheduledPrintPublic, responses=responses(403, 404, 409)
)
async def update_scheduled_print(
    print_id: PrintId, body: ScheduledPrintUpdate, principal: Scheduler, request: Request, context: ContextDep
) -> ScheduledPrintPublic:
    """Change a print not yet sent (priority, times, target, notes...); 409 once it was sent or ended."""
    return await _update(print_id, body, principal, request, context)


async def _cancel(print_id: int, principal: Principal, request: Request, context: ContextDep) -> ScheduledPrintPublic:
    cancelled = await context.schedule.cancel(print_id, actor=_actor(principal))
    await audit(request, AuditAction.SCHEDULED_PRINT_CANCELLED, f"scheduled_print:{print_id}")
    return ScheduledPrintPublic.from_domain(Shown(scheduled=cancelled, status=cancelled.status))


@router.post(
    "/api/v1/scheduled-prints/{print_id}/cancel",
    response_model=ScheduledPrintPublic,
    responses=responses(403, 404, 409),
)
async def cancel_scheduled_print(
    print_id: PrintId, principal: Scheduler, request: Request, context: ContextDep
) -> ScheduledPrintPublic:
    """Cancel a print not yet sent (its ``only_if_succeeded`` dependants are skipped); 409 once it was sent: stop
    it on the printer instead."""
    return await _cancel(print_id, principal, request, context)


@router.get("/api/v1/schedule/timeline", response_model=Timeline, responses=responses())
async def timeline(principal: Reader, context: ContextDep) -> Timeline:
    """Every queued and running print with its predicted printer, start, end and deadline risk."""
    found = await context.schedule.timeline()
    return Timeline(entries=[TimelineEntryPublic.from_domain(entry, p.job_name) for entry, p in found])


# --- compatible aliases ---------------------------------------------------------------------------------------


@router.get(
    "/api/bambu/scheduled-prints/{printer_id}", response_model=list[ScheduledPrintPublic], responses=responses(404)
)
async def bambu_list(printer_id: str, principal: Reader, context: ContextDep) -> list[ScheduledPrintPublic]:
    """The printer's scheduled prints (named for it or sent to it), oldest first."""
    found, _ = await context.schedule.list_prints(ScheduleQuery(printer_id=printer_id, limit=1000))
    return [ScheduledPrintPublic.from_domain(s) for s in found]


@router.get(
    "/api/bambu/scheduled-prints/{printer_id}/queue",
    response_model=list[TimelineEntryPublic],
    responses=responses(404),
)
async def bambu_queue(printer_id: str, principal: Reader, context: ContextDep) -> list[TimelineEntryPublic]:
    """The printer's running and upcoming prints in the order they are predicted to run."""
    queue = await context.schedule.printer_queue(printer_id)
    return [TimelineEntryPublic.from_domain(entry, print_.job_name) for entry, print_ in queue]


@router.post(
    "/api/bambu/scheduled-prints",
    response_model=list[ScheduledPrintPublic],
    status_code=status.HTTP_201_CREATED,
    responses=responses(403, 404, 422),
)
async def bambu_create(
    body: ScheduledPrintCreate, principal: Scheduler, request: Request, context: ContextDep
) -> list[ScheduledPrintPublic]:
    """As ``POST /api/v1/scheduled-prints``."""
    return await create_scheduled_print(body, principal, request, context)


@router.put(
    "/api/bambu/scheduled-prints/{print_id}", response_model=ScheduledPrintPublic, responses=responses(403, 404, 409)
)
async def bambu_update(
    print_id: PrintId, body: ScheduledPrintUpdate, principal: Scheduler, request: Request, context: ContextDep
) -> ScheduledPrintPublic:
    """As ``PATCH /api/v1/scheduled-prints/{id}``."""
    return await _update(print_id, body, principal, request, context)


@router.delete(
    "/api/bambu/scheduled-prints/{print_id}", response_model=ScheduledPrintPublic, responses=responses(403, 404, 409)
)
async def bambu_cancel(
    print_id: PrintId, principal: Scheduler, request: Request, context: ContextDep
) -> ScheduledPrintPublic:
    """As ``POST /api/v1/scheduled-prints/{id}/cancel`` (the print is kept, ``cancelled``)."""
    return await _cancel(print_id, principal, request, context)
