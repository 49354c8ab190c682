"""The Statistics page (``/statistics``): prints per day as a stacked bar chart (inline SVG drawn on the server, no
script; its numbers are in the tables below), success rate, printing hours and utilisation per printer, the failure
reasons and actual against sliced duration, for a range of days in the viewer's time zone, with a CSV export of the
prints behind it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from printfleet.api.auth import requires
from printfleet.api.statistics import stats_range
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.statistics import OUTCOMES, DayFigures
from printfleet.services.errors import InvalidInput
from printfleet.web.pages import Context, Locale, html, page, printer_names, translate

router = APIRouter(include_in_schema=False)

CHART_HEIGHT = 140
"""The chart's drawing height (SVG units); bars are scaled to the busiest day."""

BAR_STEP = 12
"""The horizontal room of one day's bar (SVG units)."""


@dataclass(frozen=True, slots=True)
class Part:
    """One status's part of a day's bar: its status, count, and place (SVG units from the top, height)."""

    status: str
    count: int
    y: float
    height: float


@dataclass(frozen=True, slots=True)
class Bar:
    """One day's stacked bar and whether its date is written under it."""

    day: date
    total: int
    parts: list[Part]
    labelled: bool


def bars(days: list[DayFigures]) -> list[Bar]:
    """The days as stacked bars (completed at the bottom, then failed, cancelled, unknown, then still running),
    scaled to :data:`CHART_HEIGHT`; about ten dates are written."""
    top = max((day.counts.total for day in days), default=0)
    scale = CHART_HEIGHT / top if top else 0.0
    every = max(1, len(days) // 10)
    drawn = []
    for index, day in enumerate(days):
        y = float(CHART_HEIGHT)
        parts = []
        for status in (*OUTCOMES, "active"):
            count = day.counts["running"] + day.counts["paused"] if status == "active" else day.counts[status]
            if not count:
                continue
            height = round(count * scale, 1)
            y = round(y - height, 1)
            parts.append(Part(status=status, count=count, y=y, height=height))
        drawn.append(Bar(day=day.day, total=day.counts.total, parts=parts, labelled=index % every == 0))
    return drawn


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/statistics", dependencies=[requires(Permission.JOBS_READ)])
async def statistics_page(request: Request, context: Context, locale: Locale) -> Response:
    """The figures for ``from``/``to`` (local days, ``to`` included) in ``tz``, of one ``printer`` or all."""
    params = request.query_params
    names = await printer_names(context)
    chosen = params.get("printer") or ""
    time_zone = params.get("tz") or "UTC"
    error = None
    try:
        asked = stats_range(_day(params.get("from")), _day(params.get("to")), time_zone, [chosen] if chosen else [])
    except InvalidInput:
        error = translate(
            locale, "That range cannot be shown: check the dates (at most 400 days, the end not before the start)."
        )
        asked = stats_range(None, None, "UTC", [chosen] if chosen else [])
    stats = await context.statistics.figures(asked)
    query = {"from": asked.first.isoformat(), "to": asked.last.isoformat(), "tz": asked.time_zone, "format": "csv"}
    if chosen:
        query["printer_id"] = chosen
    body = page(
        request,
        locale,
        "statistics.html",
        page_name="statistics",
        title=translate(locale, "Statistics"),
        stats=stats,
        totals=stats.counts,
        bars=bars(stats.days),
        chart_height=CHART_HEIGHT,
        bar_step=BAR_STEP,
        names=names,
        chosen=chosen,
        first=asked.first.isoformat(),
        last=asked.last.isoformat(),
        time_zone=asked.time_zone,
        csv_url="/api/v1/statistics?" + urlencode(query),
        error=error,
    )
    return html(body)
