"""``/api/v1/printers``: list, read, add, edit, delete printers, test a connection, and send them commands.

The test routes are declared before ``/{printer_id}/{command}`` so ``POST /{printer_id}/test`` is never taken
for a command.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from printfleet.api.auth import audit, requires
from printfleet.api.context import ContextDep
from printfleet.api.errors import responses
from printfleet.api.schemas import (
    CommandAccepted,
    ConnectionTestResult,
    PrinterCreate,
    PrinterList,
    PrinterPublic,
    PrinterTest,
    PrinterUpdate,
)
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.services.printers import MAX_TEST_TIMEOUT_S, PrinterCommand

router = APIRouter(prefix="/api/v1/printers", tags=["printers"])

Reader = [requires(Permission.PRINTERS_READ)]
Manager = Annotated[Principal, requires(Permission.PRINTERS_MANAGE)]
Controller = Annotated[Principal, requires(Permission.PRINTERS_CONTROL)]


ConnectionTestTimeout = Annotated[
    float,
    Query(alias="timeout", gt=0, le=MAX_TEST_TIMEOUT_S, description="Seconds to wait for the printer's first answer."),
]


@router.get("", response_model=PrinterList, dependencies=Reader, responses=responses())
async def list_printers(context: ContextDep) -> PrinterList:
    """Every printer with its configuration (no secrets) and live status."""
    rows = await context.printers.list()
    return PrinterList(printers=[PrinterPublic.from_domain(config, live) for config, live in rows])


@router.get("/{printer_id}", response_model=PrinterPublic, dependencies=Reader, responses=responses(404))
async def get_printer(printer_id: str, context: ContextDep) -> PrinterPublic:
    """One printer; 404 when the id is unknown."""
    config, live = await context.printers.get(printer_id)
    return PrinterPublic.from_domain(config, live)


@router.post("", response_model=PrinterPublic, status_code=status.HTTP_201_CREATED, responses=responses(409))
async def add_printer(body: PrinterCreate, admin: Manager, request: Request, context: ContextDep) -> PrinterPublic:
    """Add a printer and connect to it; 409 when the id exists, 422 when fields are missing for its type."""
    config = await context.printers.add(body.to_domain())
    await audit(request, AuditAction.PRINTER_ADDED, f"printer:{config.id}", kind=config.kind.value)
    _, live = await context.printers.get(config.id)
    return PrinterPublic.from_domain(config, live)


@router.post("/test", response_model=ConnectionTestResult, responses=responses())
async def connection_test_new(
    body: PrinterTest, _admin: Manager, context: ContextDep, timeout_s: ConnectionTestTimeout = 10.0
) -> ConnectionTestResult:
    """Try a configuration without saving it (the add form's "Test connection").

    200 with ``ok`` false and ``offline_reason`` when the printer cannot be reached or refuses the credentials;
    422 when fields are missing for its type. Nothing is stored or published.
    """
    check = await context.printers.test_connection(body.to_domain(), timeout=timeout_s)
    return ConnectionTestResult.from_domain(check)


@router.post("/{printer_id}/test", response_model=ConnectionTestResult, responses=responses(404))
async def connection_test_existing(
    printer_id: str,
    _admin: Manager,
    context: ContextDep,
    body: PrinterUpdate | None = None,
    timeout_s: ConnectionTestTimeout = 10.0,
) -> ConnectionTestResult:
    """Try a stored printer's configuration with the fields in ``body`` changed, without saving it (the edit
    form's "Test connection"); secrets omitted keep their stored value. 404 for an unknown id, 422 as PATCH."""
    changes = body.changes() if body is not None else {}
    check = await context.printers.test_existing(printer_id, changes, timeout=timeout_s)
    return ConnectionTestResult.from_domain(check)


@router.patch("/{printer_id}", response_model=PrinterPublic, responses=responses(404))
async def update_printer(
    printer_id: str, body: PrinterUpdate, admin: Manager, request: Request, context: ContextDep
) -> PrinterPublic:
    """Change some fields and reconnect; secrets omitted keep their value."""
    changes = body.changes()
    config = await context.printers.update(printer_id, changes)
    await audit(request, AuditAction.PRINTER_UPDATED, f"printer:{printer_id}", fields=sorted(changes))
    _, live = await context.printers.get(config.id)
    return PrinterPublic.from_domain(config, live)


@router.delete("/{printer_id}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(404))
async def delete_printer(printer_id: str, admin: Manager, request: Request, context: ContextDep) -> None:
    """Disconnect and delete a printer."""
    await context.printers.delete(printer_id)
    await audit(request, AuditAction.PRINTER_REMOVED, f"printer:{printer_id}")


@router.post(
    "/{printer_id}/{command}",
    response_model=CommandAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(404, 409),
)
async def command_printer(
    printer_id: str, command: PrinterCommand, operator: Controller, request: Request, context: ContextDep
) -> CommandAccepted:
    """Send ``pause``, ``resume`` or ``stop``; 409 when the printer is offline or refuses."""
    await context.printers.command(printer_id, command)
    await audit(request, AuditAction.PRINTER_COMMAND, f"printer:{printer_id}", command=command.value)
    return CommandAccepted(command=command.value)
