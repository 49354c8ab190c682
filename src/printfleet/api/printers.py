"""``/api/v1/printers``: list, read, add, edit, delete printers and send them commands."""

from __future__ import annotations

from fastapi import APIRouter, status

from printfleet.api.context import ContextDep
from printfleet.api.schemas import (
    CommandAccepted,
    PrinterCreate,
    PrinterList,
    PrinterPublic,
    PrinterUpdate,
)
from printfleet.services.printers import PrinterCommand

router = APIRouter(prefix="/api/v1/printers", tags=["printers"])


@router.get("", response_model=PrinterList)
async def list_printers(context: ContextDep) -> PrinterList:
    """Every printer with its configuration (no secrets) and live status."""
    rows = await context.printers.list()
    return PrinterList(printers=[PrinterPublic.from_domain(config, live) for config, live in rows])


@router.get("/{printer_id}", response_model=PrinterPublic)
async def get_printer(printer_id: str, context: ContextDep) -> PrinterPublic:
    """One printer; 404 when the id is unknown."""
    config, live = await context.printers.get(printer_id)
    return PrinterPublic.from_domain(config, live)


@router.post("", response_model=PrinterPublic, status_code=status.HTTP_201_CREATED)
async def add_printer(body: PrinterCreate, context: ContextDep) -> PrinterPublic:
    """Add a printer and connect to it; 409 when the id exists, 422 when fields are missing for its type."""
    config = await context.printers.add(body.to_domain())
    _, live = await context.printers.get(config.id)
    return PrinterPublic.from_domain(config, live)


@router.patch("/{printer_id}", response_model=PrinterPublic)
async def update_printer(printer_id: str, body: PrinterUpdate, context: ContextDep) -> PrinterPublic:
    """Change some fields and reconnect; secrets omitted keep their value."""
    config = await context.printers.update(printer_id, body.changes())
    _, live = await context.printers.get(config.id)
    return PrinterPublic.from_domain(config, live)


@router.delete("/{printer_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_printer(printer_id: str, context: ContextDep) -> None:
    """Disconnect and delete a printer."""
    await context.printers.delete(printer_id)


@router.post("/{printer_id}/{command}", response_model=CommandAccepted, status_code=status.HTTP_202_ACCEPTED)
async def command_printer(printer_id: str, command: PrinterCommand, context: ContextDep) -> CommandAccepted:
    """Send ``pause``, ``resume`` or ``stop``; 409 when the printer is offline or refuses."""
    await context.printers.command(printer_id, command)
    return CommandAccepted(command=command.value)
