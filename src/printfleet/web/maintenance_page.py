"""The Maintenance page (``/maintenance``): every task's standing per printer as a progress bar, marking a task done,
adding and deleting tasks, and what was done lately. Forms post to ``/ui/maintenance/...`` and the page is shown
again with a note (or the error, with what was typed kept)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from printfleet.api.auth import audit, requires
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.domain.maintenance import IntervalUnit, NewTask
from printfleet.services.errors import ServiceError
from printfleet.web.pages import Context, Locale, SameSite, form_text, html, page, translate

router = APIRouter(include_in_schema=False)

LOG_LINES = 20
"""Log lines the page shows (the REST API gives more)."""

TaskId = Annotated[int, Path(ge=1, le=2**31 - 1)]
PrinterId = Annotated[str, Path(min_length=1, max_length=64)]


async def _render(
    request: Request,
    context: Context,
    locale: str,
    *,
    note: str | None = None,
    error: str | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    standings = await context.maintenance.statuses()
    tasks = await context.maintenance.tasks()
    names = {task.id: task.name for task in tasks}
    log = await context.maintenance.log(limit=LOG_LINES)
    printers = sorted(config.id for config, _ in context.monitoring.watched())
    body = page(
        request,
        locale,
        "maintenance.html",
        page_name="maintenance",
        title=translate(locale, "Maintenance"),
        standings=standings,
        tasks=tasks,
        task_names=names,
        log=log,
        printers=printers,
        units=[unit.value for unit in IntervalUnit],
        note=note,
        error=error,
        typed=typed or {},
    )
    return html(body, status_code=status_code)


@router.get("/maintenance", dependencies=[requires(Permission.MAINTENANCE_READ)])
async def maintenance_page(request: Request, context: Context, locale: Locale) -> Response:
    """Every task on every printer it covers, most used first, and the forms."""
    return await _render(request, context, locale)


@router.post("/ui/maintenance/tasks", dependencies=[SameSite, requires(Permission.MAINTENANCE_MANAGE)])
async def add_task(request: Request, context: Context, locale: Locale) -> Response:
    """Add a task from the form; an error keeps what was typed."""
    form = await request.form()
    typed = {name: form_text(form, name, 200) for name in ("name", "interval", "unit", "printer_id", "printer_model")}
    try:
        interval = float(typed["interval"].replace(",", "."))
        unit = IntervalUnit(typed["unit"])
    except ValueError:
        error = translate(locale, "Interval: give a number and a unit.")
        return await _render(request, context, locale, error=error, typed=typed, status_code=422)
    new = NewTask(
        name=typed["name"],
        interval=interval,
        unit=unit,
        printer_id=typed["printer_id"] or None,
        printer_model=typed["printer_model"] or None,
    )
    try:
        task = await context.maintenance.add_task(new)
    except ServiceError as exc:
        return await _render(request, context, locale, error=exc.message, typed=typed, status_code=422)
    await audit(request, AuditAction.MAINTENANCE_CHANGED, f"maintenance_task:{task.id}", name=task.name, op="added")
    note = translate(locale, "Added %(name)s") % {"name": task.name}
    return await _render(request, context, locale, note=note)


@router.post("/ui/maintenance/tasks/{task_id}/delete", dependencies=[SameSite, requires(Permission.MAINTENANCE_MANAGE)])
async def delete_task(request: Request, task_id: TaskId, context: Context, locale: Locale) -> Response:
    """Delete a task (the page asked for confirmation)."""
    try:
        await context.maintenance.delete_task(task_id)
    except ServiceError as exc:
        return await _render(request, context, locale, error=exc.message, status_code=404)
    await audit(request, AuditAction.MAINTENANCE_CHANGED, f"maintenance_task:{task_id}", op="deleted")
    return await _render(request, context, locale, note=translate(locale, "Deleted"))


@router.post("/ui/maintenance/tasks/{task_id}/printers/{printer_id}/done", dependencies=[SameSite])
async def mark_done(
    request: Request,
    task_id: TaskId,
    printer_id: PrinterId,
    context: Context,
    locale: Locale,
    principal: Annotated[Principal, requires(Permission.MAINTENANCE_MANAGE)],
) -> Response:
    """Mark a task done on a printer, with optional notes."""
    form = await request.form()
    try:
        done = await context.maintenance.mark_done(
            task_id, printer_id, by=principal.user.id, notes=form_text(form, "notes", 2000) or None
        )
    except ServiceError as exc:
        return await _render(request, context, locale, error=exc.message, status_code=404)
    await audit(request, AuditAction.MAINTENANCE_DONE, f"printer:{printer_id}", task_id=task_id)
    note = translate(locale, "%(task)s done on %(printer)s") % {"task": done.task.name, "printer": printer_id}
    return await _render(request, context, locale, note=note)
