"""The Schedule page (``/schedule``): a timeline strip per printer (running and upcoming scheduled prints, deadlines
marked, at-risk prints highlighted) and the list of scheduled prints with a status filter and **Cancel**.

Scheduling itself goes through the API (``POST /api/v1/scheduled-prints``) for now; the page cancels a print not
yet sent with ``POST /ui/schedule/{id}/cancel`` (htmx: the row is replaced, a toast says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from printfleet.api.auth import audit, requires
from printfleet.api.schedule_schemas import ScheduledPrintCreate
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.domain.files.library import FileQuery
from printfleet.domain.jobs import clean_job_name
from printfleet.domain.printer import QueueMode
from printfleet.domain.schedule.model import ScheduleQuery, ScheduleStatus
from printfleet.domain.schedule.timeline import TimelineEntry
from printfleet.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from printfleet.services.schedule.service import Actor, Shown
from printfleet.web.pages import (
    Context,
    Locale,
    SameSite,
    error_toast,
    html,
    is_htmx,
    page,
    permission_check,
    printer_names,
    renderer,
    toast,
    translate,
)

router = APIRouter(include_in_schema=False)

LIST_SIZE = 200
"""Scheduled prints listed at once (oldest first)."""

FORM_FILES = 200
"""Library files offered by the schedule form (newest first)."""

OPEN = frozenset({ScheduleStatus.QUEUED, ScheduleStatus.WAITING, ScheduleStatus.DISPATCHING, ScheduleStatus.STARTED})
MIN_SPAN = timedelta(hours=2)
MAX_SPAN = timedelta(hours=48)


@dataclass(frozen=True, slots=True)
class Block:
    """One print on the strip: its position and width in % of the strip, and what it shows."""

    print_id: int
    name: str
    left: float
    width: float
    start: datetime
    end: datetime
    at_risk: bool
    running: bool
    deadline: float | None


@dataclass(frozen=True, slots=True)
class Lane:
    """One printer's row of the strip (``printer_id`` None: prints no printer can take now)."""

    printer_id: str | None
    name: str
    blocks: list[Block]


def strip(
    entries: list[tuple[TimelineEntry, Any]], names: dict[str, str], now: datetime
) -> tuple[list[Lane], datetime]:
    """The timeline as lanes of blocks over a window from ``now`` to the last predicted end (2 h to 48 h); returns
    the lanes and the window's end."""
    ends = [entry.end for entry, _ in entries if entry.end is not None]
    end = min(max([now + MIN_SPAN, *ends]), now + MAX_SPAN)
    span = (end - now).total_seconds()
    lanes: dict[str | None, list[Block]] = {}
    for entry, scheduled in entries:
        if entry.start is None or entry.end is None:
            lanes.setdefault(None, [])
            continue
        start = max(entry.start, now)
        if start >= end:
            continue
        left = (start - now).total_seconds() / span * 100
        width = max((min(entry.end, end) - start).total_seconds() / span * 100, 0.8)
        deadline = None
        if entry.finish_by is not None and now <= entry.finish_by <= end:
            deadline = (entry.finish_by - now).total_seconds() / span * 100
        lanes.setdefault(entry.printer_id, []).append(
            Block(
                print_id=entry.print_id,
                name=scheduled.job_name,
                left=round(left, 2),
                width=round(min(width, 100 - left), 2),
                start=entry.start,
                end=entry.end,
                at_risk=entry.at_risk,
                running=entry.running,
                deadline=round(deadline, 2) if deadline is not None else None,
            )
        )
    unplaced = [entry.print_id for entry, _ in entries if entry.printer_id is None]
    rows = [Lane(pid, names.get(pid, pid), blocks) for pid, blocks in sorted(lanes.items(), key=_lane_key) if pid]
    if unplaced:
        rows.append(Lane(None, "", []))
    return rows, end


def _lane_key(item: tuple[str | None, list[Block]]) -> str:
    return item[0] or ""


def _actor(principal: Principal) -> Actor:
    return Actor(user_id=principal.user.id, manages=principal.may(Permission.SCHEDULE_MANAGE))


def _may_cancel(request: Request, context: Context, shown: Shown) -> bool:
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    if principal is None or not shown.status.is_pending:
        return False
    return context.schedule.may_change(shown.scheduled, _actor(principal))


@router.get("/schedule", dependencies=[requires(Permission.SCHEDULE_READ)])
async def schedule_page(
    request: Request,
    context: Context,
    locale: Locale,
    status: Annotated[str, Query(max_length=16)] = "open",
) -> Response:
    """The timeline strip and the list (``status``: ``open`` — queued, waiting, sending or printing —, ``all``, or
    one status)."""
    return await _render(request, context, locale, status=status)


async def _render(
    request: Request, context: Context, locale: str, *, status: str = "open", errors: Sequence[str] = ()
) -> Response:
    if status == "all":
        wanted: frozenset[ScheduleStatus] = frozenset()
    elif status in {s.value for s in ScheduleStatus}:
        wanted = frozenset({ScheduleStatus(status)})
    else:
        status, wanted = "open", OPEN
    prints, total = await context.schedule.list_prints(ScheduleQuery(statuses=wanted, limit=LIST_SIZE))
    names = await printer_names(context)
    now = datetime.now(UTC)
    lanes, window_end = strip(await context.schedule.timeline(), names, now)
    body = page(
        request,
        locale,
        "schedule.html",
        page_name="schedule",
        title=translate(locale, "Schedule"),
        prints=prints,
        total=total,
        status=status,
        statuses=[s.value for s in ScheduleStatus],
        lanes=lanes,
        window_start=now,
        window_end=window_end,
        printer_names=names,
        may_cancel=lambda shown: _may_cancel(request, context, shown),
        **(await _form_context(request, context)),
        errors=list(errors),
    )
    return html(body, status_code=422 if errors else 200)


async def _form_context(request: Request, context: Context) -> dict[str, Any]:
    """What the schedule form offers: library files, scheduled printers, prints to follow."""
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    if principal is None or not principal.may(Permission.SCHEDULE_OWN):
        return {"may_schedule": False}
    if not context.schedule.may_schedule(_actor(principal)):
        return {"may_schedule": False}
    files, _ = await context.files.list(FileQuery(limit=FORM_FILES))
    printers = [config for config, _ in await context.printers.list() if config.queue_mode is QueueMode.SCHEDULED]
    following, _ = await context.schedule.list_prints(ScheduleQuery(statuses=OPEN, limit=LIST_SIZE))
    return {"may_schedule": True, "files": files, "scheduled_printers": printers, "following": following}


@router.post("/ui/schedule/{print_id}/cancel", dependencies=[SameSite, requires(Permission.SCHEDULE_OWN)])
async def cancel_print(
    request: Request, print_id: Annotated[int, Path(ge=1, le=2**63 - 1)], context: Context, locale: Locale
) -> Response:
    """Cancel a print not yet sent; the row shows it cancelled and a toast says so."""
    principal: Principal = request.scope["state"]["principal"]
    try:
        cancelled = await context.schedule.cancel(print_id, actor=_actor(principal))
    except NotFound as error:
        return error_toast(locale, error.message, status_code=404)
    except PermissionDenied as error:
        return error_toast(locale, error.message, status_code=403)
    except Conflict as error:
        return error_toast(locale, error.message, status_code=409)
    await audit(request, AuditAction.SCHEDULED_PRINT_CANCELLED, f"scheduled_print:{print_id}")
    if not is_htmx(request):
        return RedirectResponse("/schedule", status_code=303)
    shown = Shown(scheduled=cancelled, status=cancelled.status)
    row = renderer().render(
        "_schedule_row.html",
        locale,
        item=shown,
        printer_names=await printer_names(context),
        may=permission_check(request),
        may_cancel=lambda _shown: False,
    )
    text = translate(locale, "%(name)s cancelled") % {"name": cancelled.job_name}
    return html(row + toast(locale, text, level="success"))


def _local_moment(value: str, zone: str) -> datetime | None:
    """A ``datetime-local`` field's value (the viewer's wall time in ``zone``) as aware UTC; None when empty.
    Raises ValueError for a value that is not a date and time or an unknown zone."""
    if not value.strip():
        return None
    try:
        where = ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r}") from None
    return datetime.fromisoformat(value.strip()).replace(tzinfo=where).astimezone(UTC)


def _plan_fields(form: FormData) -> dict[str, Any]:
    """The schedule form as the API's create body (empty fields left out)."""
    text = {name: str(form.get(name) or "").strip() for name in form}
    zone = text.get("tz", "UTC")
    body: dict[str, Any] = {"file_id": text.get("file_id") or None}
    for name in ("plate", "priority", "copies", "depends_on", "offset_minutes", "job_name", "printer_id"):
        if text.get(name):
            body[name] = text[name]
    target: dict[str, Any] = {}
    if text.get("model"):
        target["model"] = text["model"]
    tags = [tag.strip() for tag in text.get("tags", "").split(",") if tag.strip()]
    if tags:
        target["tags"] = tags
    if target and "printer_id" not in body:
        body["target"] = target
    for name in ("scheduled_start", "finish_by"):
        moment = _local_moment(text.get(name, ""), zone)
        if moment is not None:
            body[name] = moment.isoformat()
    if text.get("offset_from") in ("start", "finish"):
        body["offset_from"] = text["offset_from"]
    if "depends_on" in body:
        body["only_if_succeeded"] = form.get("only_if_succeeded") == "1"
    return body


@router.post("/ui/schedule", dependencies=[SameSite, requires(Permission.SCHEDULE_OWN)])
async def schedule_print(request: Request, context: Context, locale: Locale) -> Response:
    """Schedule a library file from the page's form; back to the page (303), or the page with the problems
    (422)."""
    principal: Principal = request.scope["state"]["principal"]
    form = await request.form()
    try:
        body = ScheduledPrintCreate.model_validate(_plan_fields(form))
        stored = await context.files.get(body.file_id)
        created = await context.schedule.create(body.to_domain(clean_job_name(stored.name)), actor=_actor(principal))
    except ValidationError as error:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
        return await _page_with_errors(request, context, locale, problems)
    except ValueError as error:
        return await _page_with_errors(request, context, locale, [str(error)])
    except (NotFound, PermissionDenied, Conflict, InvalidInput) as error:
        return await _page_with_errors(request, context, locale, [error.message])
    await audit(
        request,
        AuditAction.PRINT_SCHEDULED,
        f"scheduled_print:{created[0].id}",
        file_id=body.file_id,
        copies=len(created),
        printer_id=body.printer_id,
    )
    return RedirectResponse("/schedule", status_code=303)


async def _page_with_errors(request: Request, context: Context, locale: str, errors: list[str]) -> Response:
    return await _render(request, context, locale, errors=errors)


@router.post("/ui/schedule/{print_id}/priority", dependencies=[SameSite, requires(Permission.SCHEDULE_OWN)])
async def reprioritise(
    request: Request, print_id: Annotated[int, Path(ge=1, le=2**63 - 1)], context: Context, locale: Locale
) -> Response:
    """Set a print's priority from its row; back to the page (303)."""
    principal: Principal = request.scope["state"]["principal"]
    form = await request.form()
    try:
        priority = int(str(form.get("priority") or "0"))
        if not -100 <= priority <= 100:
            raise ValueError("priority must be between -100 and 100")
        await context.schedule.update(print_id, {"priority": priority}, actor=_actor(principal))
    except ValueError as error:
        return await _page_with_errors(request, context, locale, [str(error)])
    except (NotFound, PermissionDenied, Conflict, InvalidInput) as error:
        return await _page_with_errors(request, context, locale, [error.message])
    await audit(request, AuditAction.SCHEDULED_PRINT_UPDATED, f"scheduled_print:{print_id}", fields=["priority"])
    return RedirectResponse("/schedule", status_code=303)
