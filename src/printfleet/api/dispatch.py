"""Printing from printfleet: ``POST /api/v1/printers/{id}/print``, ``/api/v1/dispatches``,
``GET /api/v1/files/{id}/targets`` and ``POST /api/v1/printers/{id}/plate-cleared``.

The router is included before the printers router, so ``/{printer_id}/print`` is never read as a printer command.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status

from printfleet.api.auth import audit, requires
from printfleet.api.context import ContextDep
from printfleet.api.dispatch_schemas import (
    MAX_ID,
    DispatchList,
    DispatchPublic,
    PlateClearedBody,
    PlatePublic,
    PrintBody,
    TargetPublic,
)
from printfleet.api.errors import responses
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.domain.dispatch.model import DispatchState
from printfleet.services.dispatch.service import Requester
from printfleet.services.errors import InvalidInput

router = APIRouter(tags=["dispatch"])

Printer = Annotated[Principal, requires(Permission.PRINTERS_PRINT_OWN)]
Reader = Annotated[Principal, requires(Permission.PRINTERS_READ)]
FileReader = Annotated[Principal, requires(Permission.FILES_READ)]
Controller = Annotated[Principal, requires(Permission.PRINTERS_CONTROL)]
DispatchId = Annotated[int, Path(ge=1, le=MAX_ID)]
FileId = Annotated[int, Path(ge=1, le=MAX_ID)]


def requester(principal: Principal) -> Requester:
    """The dispatch service's view of the signed-in person."""
    return Requester(
        user_id=principal.user.id,
        queue_user_id=principal.user.queue_user_id,
        any_printer=principal.may(Permission.PRINTERS_PRINT),
    )


def _sees_all(principal: Principal) -> bool:
    return principal.may(Permission.PRINTERS_PRINT) or principal.may(Permission.JOBS_READ)


@router.post(
    "/api/v1/printers/{printer_id}/print",
    response_model=DispatchPublic,
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(404, 409),
)
async def print_file(
    printer_id: str, body: PrintBody, principal: Printer, request: Request, context: ContextDep
) -> DispatchPublic:
    """Send a library file to the printer and start it: 202 with the dispatch (follow it on
    ``GET /api/v1/dispatches/{id}`` or the ``dispatch_updated`` WebSocket event). A refused precondition is 409
    with ``reason`` (``printer_offline``, ``printer_busy``, ``plate_not_clear``, ``reserved``, ``incompatible``), and
    nothing is sent."""
    try:
        options = body.options.to_domain()
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    dispatch = await context.dispatch.request(
        printer_id,
        body.file_id,
        plate=body.plate,
        options=options,
        requester=requester(principal),
        job_name=body.job_name,
    )
    await audit(
        request,
        AuditAction.PRINT_DISPATCHED,
        f"printer:{printer_id}",
        file_id=body.file_id,
        plate=body.plate,
        dispatch_id=dispatch.id,
    )
    return DispatchPublic.from_domain(dispatch)


@router.get("/api/v1/dispatches", response_model=DispatchList, responses=responses())
async def list_dispatches(
    principal: Reader,
    context: ContextDep,
    printer_id: Annotated[str | None, Query(max_length=64)] = None,
    state: DispatchState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> DispatchList:
    """Dispatches newest first; a member sees their own."""
    mine = None if _sees_all(principal) else principal.user.id
    found, total = await context.dispatch.list_dispatches(
        printer_id=printer_id, state=state, requested_by=mine, limit=limit, offset=offset
    )
    return DispatchList(dispatches=[DispatchPublic.from_domain(d) for d in found], total=total)


@router.get("/api/v1/dispatches/{dispatch_id}", response_model=DispatchPublic, responses=responses(404))
async def get_dispatch(dispatch_id: DispatchId, principal: Reader, context: ContextDep) -> DispatchPublic:
    """One dispatch (a member's own only)."""
    mine = None if _sees_all(principal) else principal.user.id
    return DispatchPublic.from_domain(await context.dispatch.get(dispatch_id, requested_by=mine))


@router.get("/api/v1/files/{file_id}/targets", response_model=list[TargetPublic], responses=responses(404))
async def file_targets(
    file_id: FileId,
    principal: FileReader,
    context: ContextDep,
    plate: Annotated[int, Query(ge=1, le=999)] = 1,
) -> list[TargetPublic]:
    """Every printer, available ones first, with whether it can print the file's ``plate`` now and why not."""
    found = await context.dispatch.targets(file_id, plate=plate, requester=requester(principal))
    return [TargetPublic.from_domain(target) for target in found]


@router.post("/api/v1/printers/{printer_id}/plate-cleared", response_model=PlatePublic, responses=responses(404))
async def plate_cleared(
    printer_id: str, body: PlateClearedBody, operator: Controller, request: Request, context: ContextDep
) -> PlatePublic:
    """Confirm the printer's plate is clear; ``outcome`` (``good`` | ``bad``) is stored on the last print's job."""
    plate = await context.plates.clear(printer_id, body.outcome, by=operator.user.id)
    await audit(request, AuditAction.PLATE_CLEARED, f"printer:{printer_id}", outcome=body.outcome.value)
    return PlatePublic.from_domain(plate)
