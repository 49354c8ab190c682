"""A printer's page (``/printers/{id}``): its live card, its figures over the last 30 days (for those who may read
every job), its latest state changes as a timeline, and its latest jobs, updated live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from printfleet.api.auth import requires
from printfleet.api.jobs import owner_scope
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.jobs import JobFilter
from printfleet.domain.printer import PrinterCommandRejected, PrinterNotConnected
from printfleet.domain.statistics import StatisticsRangeError, StatsRange, zone_of
from printfleet.services.errors import NotFound
from printfleet.web.jobs_view import PAGE_SIZE
from printfleet.web.pages import Context, Locale, html, live_url, page, printer_names, translate

router = APIRouter(include_in_schema=False)

FIGURE_DAYS = 30
"""The days the printer's figures cover, up to today."""

TIMELINE_CHANGES = 30
"""The state changes listed."""


@router.get("/printers/{printer_id}", dependencies=[requires(Permission.PRINTERS_READ)])
async def printer_page(request: Request, printer_id: str, context: Context, locale: Locale) -> Response:
    """The printer's page; 404 with a page when there is no such printer. ``tz`` (IANA) sets the figures' days
    (default UTC; the page's script sends the browser's)."""
    principal = request.state.principal
    try:
        config, status = await context.printers.get(printer_id[:64])
    except NotFound:
        body = page(
            request,
            locale,
            "error.html",
            page_name="printers",
            title=translate(locale, "Not found"),
            heading=translate(locale, "Not found"),
            message=translate(locale, "There is no printer %(id)s.") % {"id": printer_id[:64]},
        )
        return html(body, status_code=404)
    figures = None
    if principal.may(Permission.JOBS_READ):
        try:
            zone = zone_of(request.query_params.get("tz") or "UTC")
        except StatisticsRangeError:
            zone = zone_of("UTC")
        today = datetime.now(UTC).astimezone(zone).date()
        asked = StatsRange.of(today - timedelta(days=FIGURE_DAYS - 1), today, zone.key, [config.id])
        stats = await context.statistics.figures(asked)
        figures = next((p for p in stats.printers if p.printer_id == config.id), None)
    owner = owner_scope(principal)
    jobs, total = await context.jobs.list(JobFilter(printer_id=config.id, queue_user_id=owner, limit=PAGE_SIZE))
    body = page(
        request,
        locale,
        "printer.html",
        page_name="printers",
        title=config.name,
        printer=config,
        status=status,
        controls=principal.may(Permission.PRINTERS_CONTROL),
        figures=figures,
        figure_days=FIGURE_DAYS,
        may_read_all=principal.may(Permission.JOBS_READ),
        transitions=await context.printers.transitions(config.id, limit=TIMELINE_CHANGES),
        jobs=jobs,
        total=total,
        printer_names=await printer_names(context),
        live_url=live_url("printer", locale, printer_id=config.id),
    )
    return html(body)


@router.get("/ui/printers/{printer_id}/preview", dependencies=[requires(Permission.PRINTERS_READ)])
async def printer_preview(printer_id: str, context: Context) -> Response:
    """The preview image of the print under way, fetched from the printer (PrusaLink serves one per file); 404 when
    there is none now, 503 when the printer cannot be asked. The ``of`` query parameter of the card's link is a digest
    of the printer's path to the picture, so a browser keeps each print's picture apart."""
    try:
        image = await context.printers.preview(printer_id)
    except (NotFound, PrinterCommandRejected):
        return Response(status_code=404)
    except PrinterNotConnected:
        return Response(status_code=503)
    return Response(image.data, media_type=image.media_type, headers={"Cache-Control": "private, max-age=600"})
