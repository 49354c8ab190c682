"""``GET /api/v1/statistics``: prints per day, success rate, printing hours and utilisation per printer, failure
reasons and actual against estimated duration over a range of local days; ``format=csv`` exports the prints behind
them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from printfleet.api.auth import requires
from printfleet.api.context import ContextDep
from printfleet.api.costs import csv_cell
from printfleet.api.errors import responses
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.statistics import Counts, Statistics, StatisticsRangeError, StatsRange, zone_of
from printfleet.services.errors import InvalidInput

router = APIRouter(tags=["statistics"])

DEFAULT_DAYS = 30
"""The range when none is given: the last 30 days up to today."""


class CountsPublic(BaseModel):
    """Prints by status."""

    total: int
    completed: int
    failed: int
    cancelled: int
    unknown: int = Field(description="Ended without the end being seen.")
    active: int = Field(description="Still running or paused.")
    success_rate: float | None = Field(description="completed / (completed + failed + cancelled), 0-1; null: none.")

    @classmethod
    def from_domain(cls, counts: Counts) -> CountsPublic:
        """Map counts."""
        return cls(
            total=counts.total,
            completed=counts["completed"],
            failed=counts["failed"],
            cancelled=counts["cancelled"],
            unknown=counts["unknown"],
            active=counts["running"] + counts["paused"],
            success_rate=counts.success_rate,
        )


class DayPublic(CountsPublic):
    """One local day."""

    day: date


class PrinterStatsPublic(CountsPublic):
    """One printer over the range."""

    printer_id: str
    printing_hours: float = Field(description="The ended prints' durations, h.")
    utilisation: float | None = Field(
        description="Time printing / time connected (any state but offline), 0-1, from the state transitions."
    )


class ReasonPublic(BaseModel):
    """Prints that ended with this status and end reason."""

    status: str
    reason: str = Field(description="The job's end_reason; empty when none was recorded.")
    count: int


class DurationsPublic(BaseModel):
    """Completed prints sent from the library with a sliced time."""

    prints: int
    actual_minutes: float | None
    estimated_minutes: float | None
    ratio: float | None = Field(description="actual / estimated (1.1: 10 % longer than sliced).")


class StatisticsPublic(BaseModel):
    """``GET /api/v1/statistics``."""

    first: date
    last: date
    time_zone: str
    since: datetime
    until: datetime
    totals: CountsPublic
    printing_hours: float
    days: list[DayPublic]
    printers: list[PrinterStatsPublic]
    reasons: list[ReasonPublic]
    durations: DurationsPublic

    @classmethod
    def from_domain(cls, stats: Statistics) -> StatisticsPublic:
        """Map the figures."""
        r = stats.range
        d = stats.durations
        return cls(
            first=r.first,
            last=r.last,
            time_zone=r.time_zone,
            since=r.since,
            until=r.until,
            totals=CountsPublic.from_domain(stats.counts),
            printing_hours=round(stats.print_seconds / 3600, 2),
            days=[DayPublic(day=day.day, **CountsPublic.from_domain(day.counts).model_dump()) for day in stats.days],
            printers=[
                PrinterStatsPublic(
                    printer_id=p.printer_id,
                    printing_hours=round(p.print_seconds / 3600, 2),
                    utilisation=p.utilisation,
                    **CountsPublic.from_domain(p.counts).model_dump(),
                )
                for p in stats.printers
            ],
            reasons=[ReasonPublic(status=x.status, reason=x.reason, count=x.count) for x in stats.reasons],
            durations=DurationsPublic(
                prints=d.prints,
                actual_minutes=round(d.actual_seconds / 60, 1) if d.actual_seconds is not None else None,
                estimated_minutes=round(d.estimated_seconds / 60, 1) if d.estimated_seconds is not None else None,
                ratio=d.ratio,
            ),
        )


def stats_range(first: date | None, last: date | None, time_zone: str, printer_ids: list[str]) -> StatsRange:
    """The range asked for; defaults: the last :data:`DEFAULT_DAYS` days up to today in ``time_zone``. Raises
    InvalidInput naming the parameter."""
    try:
        today = datetime.now(UTC).astimezone(zone_of(time_zone)).date()
        last = last or today
        first = first or last - timedelta(days=DEFAULT_DAYS - 1)
        return StatsRange.of(first, last, time_zone, printer_ids)
    except StatisticsRangeError as error:
        name = {"time_zone": "tz", "order": "to", "too_long": "from"}[error.reason]
        raise InvalidInput(f"{name}: {error}") from None


CSV_COLUMNS = (
    "job_id",
    "printer_id",
    "job_name",
    "status",
    "created_at",
    "start_time",
    "end_time",
    "duration_seconds",
    "end_reason",
)
"""The CSV export's columns (a header row first); times are ISO 8601 in UTC."""


@router.get(
    "/api/v1/statistics",
    response_model=StatisticsPublic,
    responses={
        **responses(),
        200: {"content": {"text/csv": {"schema": {"type": "string", "description": "With format=csv."}}}},
    },
    dependencies=[requires(Permission.JOBS_READ)],
)
async def statistics(
    context: ContextDep,
    first: Annotated[
        date | None, Query(alias="from", description="First local day (default: 29 days before to).")
    ] = None,
    last: Annotated[date | None, Query(alias="to", description="Last local day, included (default: today).")] = None,
    tz: Annotated[str, Query(max_length=64, description="IANA time zone the days are in (default UTC).")] = "UTC",
    printer_id: Annotated[list[str] | None, Query(description="Only these printers (repeatable).")] = None,
    format: Annotated[
        Literal["json", "csv"], Query(description="json, or csv: the prints behind the figures.")
    ] = "json",
) -> StatisticsPublic | Response:
    """The farm's figures over the local days ``from``..``to`` in ``tz``: prints per day by status, success rate
    (completed ÷ completed + failed + cancelled), printing hours and utilisation per printer, the most frequent
    failure reasons, actual against sliced duration. A print counts on the day it was created (first seen)."""
    asked = stats_range(first, last, tz, [p[:64] for p in printer_id or []])
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for row in await context.statistics.job_rows(asked):
            writer.writerow(
                [
                    csv_cell("" if value is None else value.isoformat() if isinstance(value, datetime) else str(value))
                    for value in row
                ]
            )
        name = f"printfleet-prints-{asked.first.isoformat()}-{asked.last.isoformat()}.csv"
        return Response(
            buffer.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return StatisticsPublic.from_domain(await context.statistics.figures(asked))
