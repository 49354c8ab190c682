"""Pages of the web UI (``/``, ``/jobs``, ``/jobs/{id}``, ``/settings``) and the htmx actions under ``/ui``.

Pages are rendered on the server; htmx posts forms and swaps the fragments these routes return. Actions answer
htmx with a fragment and an out-of-band toast, and a plain form post (no script) with a redirect back to the page.
Errors become a 4xx with the reason, shown in the page.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from printfleet.api.auth import audit, public, requires
from printfleet.api.jobs import JobId, owner_scope, visible_job
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.domain.jobs import JobStatus
from printfleet.domain.printer import PrinterCommandRejected, PrinterNotConnected
from printfleet.services.errors import InvalidInput, NotFound, ServiceError
from printfleet.services.printers import PrinterCommand
from printfleet.web.glance import farm_order, glance
from printfleet.web.i18n import COOKIE, LOCALES
from printfleet.web.jobs_view import PAGE_SIZE, JobsQuery, page_count
from printfleet.web.pages import (
    Context,
    Locale,
    SameSite,
    error_toast,
    form_text,
    fragment,
    html,
    is_htmx,
    live_url,
    page,
    printer_names,
    renderer,
    toast,
    translate,
    wants_fragment,
)
from printfleet.web.printer_forms import printers_admin, register_printer_routes

router = APIRouter(include_in_schema=False)

JobReader = Annotated[Principal, requires(Permission.JOBS_READ_OWN)]
JobEditor = Annotated[Principal, requires(Permission.JOBS_EDIT_OWN)]


def _back(request: Request, fallback: str) -> RedirectResponse:
    """Where a plain form post returns to: the page it came from (same site only)."""
    referer = request.headers.get("referer", "")
    host = request.headers.get("host", "")
    target = fallback
    if referer.split("/", 3)[2:3] == [host]:
        target = "/" + referer.split("/", 3)[3] if referer.count("/") >= 3 else fallback
    return RedirectResponse(target, status_code=303)


# --- printers -------------------------------------------------------------------------------------------------


@router.get("/", dependencies=[requires(Permission.PRINTERS_READ)])
async def printers_page(request: Request, context: Context, locale: Locale) -> Response:
    """Home: the farm at a glance, a summary bar of counts by state and a live card per printer in natural name
    order; the filters (``q``, ``state``, ``kind``, ``tag``, ``order``) are applied in the browser and kept in the
    address, so a wall screen's link shows the same view."""
    rows = farm_order(await context.printers.list())
    body = page(
        request,
        locale,
        "printers.html",
        page_name="printers",
        title=translate(locale, "Printers"),
        printers=rows,
        glance=glance(rows, request.query_params),
        live_url=live_url("printers", locale),
    )
    return html(body)


@router.post(
    "/ui/printers/{printer_id}/command/{command}",
    dependencies=[SameSite, requires(Permission.PRINTERS_CONTROL)],
)
async def printer_command(
    request: Request, printer_id: str, command: PrinterCommand, context: Context, locale: Locale
) -> Response:
    """Pause, resume or stop a print (the page asked for confirmation first)."""
    try:
        await context.printers.command(printer_id, command)
    except (NotFound, PrinterNotConnected, PrinterCommandRejected) as exc:
        status = 404 if isinstance(exc, NotFound) else 409
        text = translate(locale, "The printer did not take the command: %(reason)s") % {"reason": exc}
        return error_toast(locale, text, status_code=status)
    await audit(request, AuditAction.PRINTER_COMMAND, f"printer:{printer_id}", command=command.value)
    if not is_htmx(request):
        return _back(request, "/")
    sent = {
        PrinterCommand.PAUSE: translate(locale, "Pause sent"),
        PrinterCommand.RESUME: translate(locale, "Resume sent"),
        PrinterCommand.STOP: translate(locale, "Stop sent"),
    }[command]
    return html(toast(locale, sent, level="success"))


# --- jobs -------------------------------------------------------------------------------------------------------


@router.get("/jobs")
async def jobs_page(request: Request, principal: JobReader, context: Context, locale: Locale) -> Response:
    """Jobs, newest first, filtered and paginated (a member sees their own); the results part alone for an htmx
    filter change."""
    return await _jobs_page(request, principal, context, locale)


async def _jobs_page(
    request: Request,
    principal: Principal,
    context: Context,
    locale: str,
    *,
    new_job: dict[str, Any] | None = None,
    new_job_error: str | None = None,
) -> Response:
    query = JobsQuery.parse(request.query_params)
    jobs, total = await context.jobs.list(replace(query.job_filter(), queue_user_id=owner_scope(principal)))
    names = await printer_names(context)

    def page_url(number: int) -> str:
        params = query.params(page=number)
        return "/jobs" + (f"?{urlencode(params)}" if params else "")

    values: dict[str, Any] = {
        "jobs": jobs,
        "total": total,
        "offset": (query.page - 1) * PAGE_SIZE,
        "pages": page_count(total),
        "page_number": query.page,
        "page_url": page_url,
        "printer_names": names,
        "filters": query,
        "statuses": [status.value for status in JobStatus],
        "live_url": live_url("jobs", locale, **query.params()),
        "filter_errors": query.errors,
        "new_job": new_job or {},
        "new_job_error": new_job_error,
    }
    status_code = 422 if new_job_error else 400 if query.errors else 200
    if wants_fragment(request, "jobs-results"):
        return fragment(renderer().render("_jobs_results.html", locale, **values), status_code=status_code)
    title = translate(locale, "Jobs")
    return html(page(request, locale, "jobs.html", page_name="jobs", title=title, **values), status_code=status_code)


@router.post("/ui/jobs", dependencies=[SameSite, requires(Permission.JOBS_EDIT)])
async def create_job(request: Request, context: Context, locale: Locale) -> Response:
    """Create a manual job from the Jobs page's form: it waits as ``pending`` until a print of its file (or with
    its name) starts on its printer. Opens the new job's page; the Jobs page again with the form as typed and the
    reason when a value is refused (422)."""
    form = await request.form()
    printer_id = form_text(form, "printer_id", 64)
    job_name = form_text(form, "job_name", 300)
    filename = form_text(form, "filename", 500)
    notes = form_text(form, "notes", 10_000)
    is_business = form.get("is_business") == "1"
    typed = {
        "printer_id": printer_id,
        "job_name": job_name,
        "filename": filename,
        "notes": notes,
        "is_business": is_business,
    }
    principal: Principal = request.state.principal
    try:
        printer, _ = await context.printers.get(printer_id)
        job = await context.jobs.create_manual(
            printer_id=printer.id,
            printer_type=printer.kind.value,
            job_name=job_name or None,
            filename=filename or None,
            is_business=is_business,
            notes=notes or None,
        )
    except NotFound:
        reason = translate(locale, "Choose the printer the job will print on.")
        return await _jobs_page(request, principal, context, locale, new_job=typed, new_job_error=reason)
    except InvalidInput:
        reason = translate(locale, "Give the job a name or the file name the printer will print.")
        return await _jobs_page(request, principal, context, locale, new_job=typed, new_job_error=reason)
    await audit(request, AuditAction.JOB_CREATED, f"job:{job.id}", printer=job.printer_id)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


async def _job_detail(context: Context, locale: str, job_id: JobId, *, errors: list[str] | None = None) -> str:
    job = await context.jobs.get(job_id)
    return renderer().render(
        "_job_detail.html",
        locale,
        job=job,
        printer_names=await printer_names(context),
        errors=errors or [],
        **await _usage_of(context, job_id),
    )


async def _usage_of(context: Context, job_id: int) -> dict[str, Any]:
    """The template values of a job's filament and cost section."""
    lines, cost = await context.usage.usage(job_id)
    return {"lines": lines, "cost": cost}


@router.get("/ui/jobs/{job_id}/usage")
async def job_usage_fragment(job_id: JobId, principal: JobReader, context: Context, locale: Locale) -> Response:
    """A job's filament and cost section (the job page fetches it again when the job's cost was fixed)."""
    try:
        job = await visible_job(context, principal, job_id)
    except NotFound:
        return html("", status_code=404)
    return html(renderer().render("_job_usage.html", locale, job=job, **await _usage_of(context, job_id)))


@router.get("/jobs/{job_id}")
async def job_page(request: Request, job_id: JobId, principal: JobReader, context: Context, locale: Locale) -> Response:
    """One job with its edit form."""
    try:
        job = await visible_job(context, principal, job_id)
    except NotFound as exc:
        return _error_page(request, locale, 404, translate(locale, "Job not found"), exc.message)
    body = page(
        request,
        locale,
        "job.html",
        page_name="jobs",
        title=job.job_name,
        job=job,
        printer_names=await printer_names(context),
        errors=[],
        live_url=live_url("job", locale, job_id=job.id),
        **await _usage_of(context, job.id),
    )
    return html(body)


def _job_changes(form: FormData, customer_info: dict[str, Any], auto_created: bool) -> dict[str, Any]:
    """The edit form as service changes: text fields trimmed, the checkbox as a bool, customer fields merged."""
    info = dict(customer_info)
    for field, key in (("customer_name", "name"), ("customer_order", "order")):
        value = str(form.get(field) or "").strip()
        if value:
            info[key] = value
        else:
            info.pop(key, None)
    notes = str(form.get("notes") or "").strip()
    changes: dict[str, Any] = {
        "job_name": str(form.get("job_name") or "").strip(),
        "is_business": form.get("is_business") == "1",
        "customer_info": info,
        "notes": notes or None,
    }
    if not auto_created:
        if form.get("printer_id"):
            changes["printer_id"] = str(form.get("printer_id"))
        changes["filename"] = str(form.get("filename") or "").strip() or None
    return changes


@router.post("/ui/jobs/{job_id}", dependencies=[SameSite])
async def save_job(request: Request, job_id: JobId, principal: JobEditor, context: Context, locale: Locale) -> Response:
    """Save the job form (a member: their own jobs); 422 with the form and its errors when a value is refused."""
    try:
        job = await visible_job(context, principal, job_id, edit=True)
    except NotFound as exc:
        return error_toast(locale, exc.message, status_code=404)
    form = await request.form()
    changes = _job_changes(form, job.customer_info, job.auto_created)
    try:
        await context.jobs.edit(job_id, changes)
    except InvalidInput as exc:
        return html(await _job_detail(context, locale, job_id, errors=[exc.message]), status_code=422)
    await audit(request, AuditAction.JOB_UPDATED, f"job:{job_id}", fields=sorted(changes))
    if not is_htmx(request):
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)
    saved = toast(locale, translate(locale, "Job saved"), level="success")
    return html(await _job_detail(context, locale, job_id) + saved)


@router.post("/ui/jobs/{job_id}/convert", dependencies=[SameSite, requires(Permission.JOBS_EDIT)])
async def convert_job(request: Request, job_id: JobId, context: Context, locale: Locale) -> Response:
    """Convert an auto-created job to a manual one."""
    try:
        await context.jobs.convert_to_manual(job_id)
    except NotFound as exc:
        return error_toast(locale, exc.message, status_code=404)
    await audit(request, AuditAction.JOB_UPDATED, f"job:{job_id}", fields=["auto_created"])
    if not is_htmx(request):
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)
    converted = toast(locale, translate(locale, "Converted to a manual job"), level="success")
    return html(await _job_detail(context, locale, job_id) + converted)


@router.post("/ui/jobs/{job_id}/delete", dependencies=[SameSite, requires(Permission.JOBS_EDIT)])
async def delete_job(request: Request, job_id: JobId, context: Context, locale: Locale) -> Response:
    """Delete a job (the page asked for confirmation) and go back to the list."""
    try:
        await context.jobs.delete(job_id)
    except NotFound as exc:
        return error_toast(locale, exc.message, status_code=404)
    await audit(request, AuditAction.JOB_DELETED, f"job:{job_id}")
    if not is_htmx(request):
        return RedirectResponse("/jobs", status_code=303)
    return Response(status_code=204, headers={"HX-Redirect": "/jobs"})


# --- settings ---------------------------------------------------------------------------------------------------


@router.get("/settings", dependencies=[requires(Permission.SETTINGS_READ)])
async def settings_page(request: Request, context: Context, locale: Locale) -> Response:
    """Job creation toggle, monitoring interval, the shop's connection, printers with add / edit / remove and a
    connection test."""
    body = page(
        request,
        locale,
        "settings.html",
        page_name="settings",
        title=translate(locale, "Settings"),
        live_url=live_url("settings", locale),
        settings=context.settings.snapshot(),
        shop=await context.shop.status() if context.shop is not None else None,
        **await printers_admin(context),
    )
    return html(body)


@router.post("/ui/settings", dependencies=[SameSite, requires(Permission.SETTINGS_MANAGE)])
async def save_settings(request: Request, context: Context, locale: Locale) -> Response:
    """Save the settings a form sent (the toggle saves on change)."""
    form = await request.form()
    changes: dict[str, Any] = {}
    toggles = form.getlist("job_creation_auto_create")
    if toggles:
        changes["job_creation_auto_create"] = toggles[-1] == "1"
    if "monitoring_interval" in form:
        raw = str(form.get("monitoring_interval") or "").replace(",", ".")
        try:
            changes["monitoring_interval"] = float(raw)
        except ValueError:
            changes["monitoring_interval"] = raw  # the service names the problem
    try:
        if not changes:
            raise InvalidInput("give at least one setting")
        await context.settings.update(changes)
    except ServiceError as exc:
        text = translate(locale, "Not saved: %(reason)s") % {"reason": exc.message}
        return error_toast(locale, text, status_code=422)
    await audit(request, AuditAction.SETTINGS_CHANGED, "settings", **changes)
    if not is_htmx(request):
        return RedirectResponse("/settings", status_code=303)
    return html(toast(locale, translate(locale, "Saved"), level="success"))


# --- language and errors ----------------------------------------------------------------------------------------


@router.get("/ui/lang/{code}", dependencies=[public()])
async def switch_language(code: str, next: str = "/") -> Response:
    """Remember the chosen language for a year and go back to the page (local paths only)."""
    target = next if next.startswith("/") and not next.startswith("//") and "\\" not in next else "/"
    response = RedirectResponse(target, status_code=303)
    if code in LOCALES:
        response.set_cookie(COOKIE, code, max_age=365 * 86_400, samesite="lax", httponly=True)
    return response


def _error_page(request: Request, locale: str, status_code: int, heading: str, message: str) -> Response:
    body = page(request, locale, "error.html", page_name="", title=heading, heading=heading, message=message)
    return html(body, status_code=status_code)


register_printer_routes(router)
