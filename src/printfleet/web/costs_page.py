"""The Costs page (``/costs``): what the prints that ended in a date range cost, grouped by printer, material,
business flag or outcome, with the failure share, a CSV export, and a chart of material, energy and machine cost per
week (inline SVG, drawn on the server: no script, readable without colour by its table)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from printfleet.api.auth import requires
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.materials.costs import CostGrouping, CostRow, summed
from printfleet.web.pages import Context, Locale, html, page, translate

router = APIRouter(include_in_schema=False)

DEFAULT_WEEKS = 12
"""The range shown when none is given: the last twelve weeks up to today."""

CHART_HEIGHT = 160
"""The chart's drawing height (SVG units); bars are scaled to the highest week."""


@dataclass(frozen=True, slots=True)
class Bar:
    """One week's stacked bar: ``week`` (its Monday), the three parts' heights in SVG units, and its row."""

    week: str
    material: float
    energy: float
    machine: float
    row: CostRow


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def bars(rows: list[CostRow]) -> list[Bar]:
    """The weekly rows as stacked bars scaled to :data:`CHART_HEIGHT` (the highest week fills it)."""
    top = max((row.material_cost + row.energy_cost + row.machine_cost for row in rows), default=0.0)
    scale = CHART_HEIGHT / top if top > 0 else 0.0
    return [
        Bar(
            week=row.key,
            material=round(row.material_cost * scale, 1),
            energy=round(row.energy_cost * scale, 1),
            machine=round(row.machine_cost * scale, 1),
            row=row,
        )
        for row in rows
    ]


@router.get("/costs", dependencies=[requires(Permission.JOBS_READ)])
async def costs_page(request: Request, context: Context, locale: Locale) -> Response:
    """The report for ``from``/``to`` (dates, UTC, ``to`` included) grouped by ``group_by``."""
    today = datetime.now(UTC).date()
    params = request.query_params
    first = _day(params.get("from")) or today - timedelta(weeks=DEFAULT_WEEKS)
    last = _day(params.get("to")) or today
    error = None
    if last < first:
        error = translate(locale, "The end date is before the start date.")
        first, last = last, first
    try:
        grouping = CostGrouping(params.get("group_by") or CostGrouping.PRINTER.value)
    except ValueError:
        grouping = CostGrouping.PRINTER
    if grouping is CostGrouping.WEEK:
        grouping = CostGrouping.PRINTER  # the chart already shows the weeks
    since = datetime.combine(first, time(), UTC)
    until = datetime.combine(last + timedelta(days=1), time(), UTC)
    usage = context.usage
    rows = await usage.report(since=since, until=until, grouping=grouping, currency=usage.currency)
    weeks = await usage.report(since=since, until=until, grouping=CostGrouping.WEEK, currency=usage.currency)
    body = page(
        request,
        locale,
        "costs.html",
        page_name="costs",
        title=translate(locale, "Costs"),
        currency=usage.currency,
        rows=rows,
        total=summed("total", rows),
        bars=bars(weeks),
        chart_height=CHART_HEIGHT,
        grouping=grouping.value,
        groupings=[g.value for g in CostGrouping if g is not CostGrouping.WEEK],
        first=first.isoformat(),
        last=last.isoformat(),
        since=since.isoformat(),
        until=until.isoformat(),
        error=error,
    )
    return html(body)
