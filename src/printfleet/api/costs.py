"""``GET /api/v1/jobs/{job_id}/usage`` (what a print used from which spool, and what it cost) and
``GET /api/v1/reports/costs`` (costs over a date range, grouped, as JSON or CSV)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from printfleet.api.auth import requires
from printfleet.api.context import ContextDep
from printfleet.api.errors import responses
from printfleet.api.jobs import JobId, Reader, visible_job
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.materials.costs import CostGrouping, CostRow, JobCost, summed
from printfleet.domain.materials.usage import UsageLine
from printfleet.services.errors import InvalidInput

router = APIRouter(tags=["costs"])


class UsageLinePublic(BaseModel):
    """Filament a print used from one slot."""

    slot: str | None = Field(description="The slot (AMS0-T1, EXT254, T0); null when no slot could be found.")
    spool_id: int | None = Field(description="The spool charged; null: none known (nothing deducted).")
    grams: float = Field(description="Grams used.")
    metres: float | None = Field(description="Metres used, when known.")
    material: str | None
    color: str | None
    source: str = Field(description="file (the slicer's estimate of the printed plate) or rfid_remain.")
    confidence: str = Field(description="high, medium or low.")

    @classmethod
    def from_domain(cls, line: UsageLine) -> UsageLinePublic:
        """Map a usage line."""
        return cls(
            slot=line.slot,
            spool_id=line.spool_id,
            grams=line.grams,
            metres=line.metres,
            material=line.material,
            color=line.color,
            source=line.source.value,
            confidence=line.confidence.value,
        )


class JobCostPublic(BaseModel):
    """A job's cost, fixed when it ended."""

    currency: str
    material_grams: float = Field(description="Grams of filament, g.")
    material_cost: float
    printing_hours: float = Field(description="Hours printed, h.")
    energy_kwh: float | None = Field(description="kWh; null when the printer has no average_watts.")
    energy_cost: float | None
    machine_cost: float | None = Field(description="Null when the printer has no hourly_rate.")
    total: float

    @classmethod
    def from_domain(cls, cost: JobCost) -> JobCostPublic:
        """Map a cost snapshot."""
        return cls(
            currency=cost.currency,
            material_grams=cost.material_grams,
            material_cost=cost.material_cost,
            printing_hours=cost.printing_hours,
            energy_kwh=cost.energy_kwh,
            energy_cost=cost.energy_cost,
            machine_cost=cost.machine_cost,
            total=cost.total,
        )


class JobUsagePublic(BaseModel):
    """``GET /api/v1/jobs/{job_id}/usage``: empty lines and a null cost until the job ended."""

    job_id: int
    lines: list[UsageLinePublic]
    cost: JobCostPublic | None


@router.get("/api/v1/jobs/{job_id}/usage", response_model=JobUsagePublic, responses=responses(404))
async def job_usage(job_id: JobId, principal: Reader, context: ContextDep) -> JobUsagePublic:
    """The filament the job used, per slot and spool, and its cost; 404 like ``GET /api/v1/jobs/{job_id}``."""
    await visible_job(context, principal, job_id)
    lines, cost = await context.usage.usage(job_id)
    return JobUsagePublic(
        job_id=job_id,
        lines=[UsageLinePublic.from_domain(line) for line in lines],
        cost=JobCostPublic.from_domain(cost) if cost is not None else None,
    )


class CostSumsPublic(BaseModel):
    """Costs of several prints added up, each as fixed when it ended."""

    material_grams: float = Field(description="Grams of filament, g.")
    material_cost: float
    energy_cost: float
    machine_cost: float
    total: float
    failed_total: float = Field(description="The part of total from failed and cancelled prints.")

    @staticmethod
    def sums(row: CostRow) -> dict[str, float]:
        """The summed fields of a report row, by name."""
        return {
            "material_grams": row.material_grams,
            "material_cost": row.material_cost,
            "energy_cost": row.energy_cost,
            "machine_cost": row.machine_cost,
            "total": row.total,
            "failed_total": row.failed_total,
        }


class CostRowPublic(CostSumsPublic):
    """One group of the report."""

    key: str = Field(
        description="The printer id, materials (PETG+PLA), business/personal, customer name, outcome or week."
    )
    jobs: int
    failure_share: float | None = Field(description="failed_total / total (0-1); null when total is 0.")

    @classmethod
    def from_domain(cls, row: CostRow) -> CostRowPublic:
        """Map a report row."""
        return cls(key=row.key, jobs=row.jobs, failure_share=row.failure_share, **cls.sums(row))


class CostReportPublic(BaseModel):
    """``GET /api/v1/reports/costs``."""

    currency: str
    group_by: CostGrouping
    since: datetime | None
    until: datetime | None
    rows: list[CostRowPublic]
    total: CostRowPublic


CSV_COLUMNS = (
    "key",
    "jobs",
    "material_grams",
    "material_cost",
    "energy_cost",
    "machine_cost",
    "total",
    "failed_total",
    "failure_share",
)
"""The CSV export's columns, in order (a header row first)."""


def csv_cell(text: str) -> str:
    """Text that a spreadsheet shows as text, never runs as a formula (OWASP CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.get(
    "/api/v1/reports/costs",
    response_model=CostReportPublic,
    responses={
        **responses(),
        200: {"content": {"text/csv": {"schema": {"type": "string", "description": "With format=csv."}}}},
    },
    dependencies=[requires(Permission.JOBS_READ)],
)
async def cost_report(
    context: ContextDep,
    since: Annotated[datetime | None, Query(description="Jobs that ended at or after (ISO 8601 with offset).")] = None,
    until: Annotated[datetime | None, Query(description="Jobs that ended before (ISO 8601 with offset).")] = None,
    group_by: Annotated[CostGrouping, Query(description="printer, material, business, customer, outcome or week.")] = (
        CostGrouping.PRINTER
    ),
    format: Annotated[Literal["json", "csv"], Query(description="json, or csv for a spreadsheet.")] = "json",
) -> CostReportPublic | Response:
    """What the jobs that ended in ``[since, until)`` cost, grouped, with the failure share (failed and cancelled
    prints' part of the total). Costs are the snapshots fixed when each job ended, in the configured currency."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name}: give a time zone offset (ISO 8601, e.g. 2026-12-01T00:00:00+00:00)")
    if since is not None and until is not None and until <= since:
        raise InvalidInput("until: must be after since")
    currency = context.usage.currency
    rows = await context.usage.report(since=since, until=until, grouping=group_by, currency=currency)
    total = summed("total", rows)
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for row in (*rows, total):
            public = CostRowPublic.from_domain(row).model_dump()
            public["key"] = csv_cell(public["key"])
            writer.writerow(["" if public[name] is None else public[name] for name in CSV_COLUMNS])
        return Response(
            buffer.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="costs-by-{group_by.value}.csv"'},
        )
    return CostReportPublic(
        currency=currency,
        group_by=group_by,
        since=since,
        until=until,
        rows=[CostRowPublic.from_domain(row) for row in rows],
        total=CostRowPublic.from_domain(total),
    )
