"""The Schedule page (``/schedule``): a timeline strip per printer (running and upcoming scheduled prints, deadlines
marked, at-risk prints highlighted) and the list of scheduled prints with a status filter and **Cancel**.

Scheduling itself goes through the API (``POST /api/v1/scheduled-prints``) for now; the page cancels a print not
yet sent with ``POST /ui/schedule/{id}/cancel`` (htmx: the row is replaced, a toast says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from printfleet.api.auth import audit, requires
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.domain.schedule.model import ScheduleQuery, ScheduleStatus
from printfleet.domain.schedule.timeline import TimelineEntry
from printfleet.services.errors import Conflict, NotFound, PermissionDenied
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
    )
    return html(body)


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
