"""What each print used and cost: :class:`SqlUsageRepository` (tables ``job_material_tracking``, ``job_usage``,
``job_costs``; migration 0014).

Settling a job is one transaction: its tracking row is marked settled only if it was not (a second process, or a
second attempt after a crash, finds it settled and changes nothing), its usage lines and cost snapshot are inserted,
and its spools' ``used_weight_g`` grows by the grams charged — so each job deducts from its spools exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from printfleet.domain.jobs import Job
from printfleet.domain.materials.costs import FAILED_OUTCOMES, CostGrouping, CostRow, JobCost, week_of
from printfleet.domain.materials.tracking import UsageSource, UsageTracking
from printfleet.domain.materials.usage import Confidence, UsageLine
from printfleet.store.database import Database
from printfleet.store.jobs import job_from_row
from printfleet.store.materials.tables import (
    JobCostRow,
    JobMaterialTrackingRow,
    JobUsageRow,
    SpoolmanReportRow,
    SpoolRow,
)
from printfleet.store.orders.tables import OrderPrintRow
from printfleet.store.schedule_tables import ScheduledPrintRow
from printfleet.store.tables import JobRow


def _line(row: JobUsageRow) -> UsageLine:
    return UsageLine(
        slot=row.slot,
        spool_id=row.spool_id,
        grams=row.grams,
        metres=row.metres,
        material=row.material,
        color=row.color,
        source=UsageSource(row.source),
        confidence=Confidence(row.confidence),
    )


def _cost(row: JobCostRow) -> JobCost:
    return JobCost(
        currency=row.currency,
        material_grams=row.material_grams,
        material_cost=row.material_cost,
        printing_hours=row.printing_hours,
        energy_kwh=row.energy_kwh,
        energy_cost=row.energy_cost,
        machine_cost=row.machine_cost,
    )


def _key_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _row(key: str, sums: Sequence[Any]) -> CostRow:
    """A report row from ``(count, grams, material, energy, machine, total, failed total)`` sums."""
    return CostRow(
        key=key,
        jobs=int(sums[0]),
        material_grams=round(float(sums[1] or 0.0), 2),
        material_cost=round(float(sums[2] or 0.0), 4),
        energy_cost=round(float(sums[3] or 0.0), 4),
        machine_cost=round(float(sums[4] or 0.0), 4),
        total=round(float(sums[5] or 0.0), 4),
        failed_total=round(float(sums[6] or 0.0), 4),
    )


class SqlUsageRepository:
    """Usage tracking, usage lines and cost snapshots in the store. Raises StoreUnavailable when the store fails."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def start_tracking(self, job_id: int, printer_id: str, tracking: UsageTracking, *, at: datetime) -> bool:
        """Record the tracking of a print that started; False (nothing changed) when the job already has one."""
        try:
            async with self._database.transaction() as session:
                if await session.get(JobMaterialTrackingRow, job_id) is not None:
                    return False
                session.add(
                    JobMaterialTrackingRow(
                        job_id=job_id,
                        printer_id=printer_id,
                        data=tracking.to_json(),
                        created_at=at,
                        updated_at=at,
                        settled_at=None,
                    )
                )
        except IntegrityError:  # recorded meanwhile by another process, or the job was deleted
            return False
        return True

    async def ended_job(self, job_id: int) -> Job | None:
        """The job, deleted or not, or None when there is no such job."""
        async with self._database.transaction() as session:
            row = await session.get(JobRow, job_id)
            return job_from_row(row) if row is not None else None

    async def tracking(self, job_id: int) -> UsageTracking | None:
        """The job's tracking, or None."""
        async with self._database.transaction() as session:
            row = await session.get(JobMaterialTrackingRow, job_id)
            return UsageTracking.from_json(row.data) if row is not None else None

    async def save_tracking(self, job_id: int, tracking: UsageTracking, *, at: datetime) -> None:
        """Store the job's grown tracking (nothing when it was settled meanwhile)."""
        async with self._database.transaction() as session:
            await session.execute(
                update(JobMaterialTrackingRow)
                .where(JobMaterialTrackingRow.job_id == job_id, JobMaterialTrackingRow.settled_at.is_(None))
                .values(data=tracking.to_json(), updated_at=at)
            )

    async def open_trackings(self) -> list[tuple[int, str, UsageTracking]]:
        """(job id, printer id, tracking) of every print still running (its job not ended), oldest first."""
        async with self._database.transaction() as session:
            rows = await session.execute(
                select(JobMaterialTrackingRow)
                .join(JobRow, JobRow.id == JobMaterialTrackingRow.job_id)
                .where(JobMaterialTrackingRow.settled_at.is_(None), JobRow.end_time.is_(None))
                .order_by(JobMaterialTrackingRow.job_id)
            )
            return [(row.job_id, row.printer_id, UsageTracking.from_json(row.data)) for (row,) in rows]

    async def unsettled_ended(self, *, limit: int = 100) -> list[int]:
        """Ids of ended jobs whose tracking is not settled yet, oldest end first."""
        async with self._database.transaction() as session:
            rows = await session.scalars(
                select(JobMaterialTrackingRow.job_id)
                .join(JobRow, JobRow.id == JobMaterialTrackingRow.job_id)
                .where(JobMaterialTrackingRow.settled_at.is_(None), JobRow.end_time.is_not(None))
                .order_by(JobRow.end_time, JobRow.id)
                .limit(limit)
            )
            return list(rows)

    async def settle(
        self,
        job_id: int,
        lines: Sequence[UsageLine],
        cost: JobCost,
        *,
        printer_id: str,
        outcome: str,
        ended_at: datetime,
        is_business: bool = False,
        customer: str | None = None,
        deleted: bool = False,
        report_to_spoolman: bool = False,
        at: datetime,
    ) -> bool:
        """Store the job's usage lines and cost and deduct the grams from its spools, once: False (nothing changed)
        when it was settled before or has no tracking. ``is_business`` and ``deleted`` are the job's, copied for the
        report. With ``report_to_spoolman`` each charged spool linked to Spoolman gets a pending report in the
        outbox (``spoolman_reports``), in the same transaction."""
        materials = "+".join(sorted({line.material.upper() for line in lines if line.material}))[:128] or None
        async with self._database.transaction() as session:
            marked = await session.execute(
                update(JobMaterialTrackingRow)
                .where(JobMaterialTrackingRow.job_id == job_id, JobMaterialTrackingRow.settled_at.is_(None))
                .values(settled_at=at, updated_at=at)
            )
            if not getattr(marked, "rowcount", 0):
                return False
            session.add(
                JobCostRow(
                    job_id=job_id,
                    printer_id=printer_id,
                    ended_at=ended_at,
                    outcome=outcome,
                    currency=cost.currency,
                    material_grams=cost.material_grams,
                    material_cost=cost.material_cost,
                    printing_hours=cost.printing_hours,
                    energy_kwh=cost.energy_kwh,
                    energy_cost=cost.energy_cost,
                    machine_cost=cost.machine_cost,
                    total_cost=cost.total,
                    materials=materials,
                    is_business=is_business,
                    customer=(customer or "").strip()[:200] or None,
                    deleted=deleted,
                    week=week_of(ended_at),
                    computed_at=at,
                )
            )
            if lines:
                await session.execute(
                    insert(JobUsageRow),
                    [
                        {
                            "job_id": job_id,
                            "slot": line.slot,
                            "spool_id": line.spool_id,
                            "grams": line.grams,
                            "metres": line.metres,
                            "material": line.material,
                            "color": line.color,
                            "source": line.source.value,
                            "confidence": line.confidence.value,
                        }
                        for line in lines
                    ],
                )
            charged: dict[int, float] = {}
            for line in lines:
                if line.spool_id is not None:
                    charged[line.spool_id] = charged.get(line.spool_id, 0.0) + line.grams
            if report_to_spoolman and charged:
                linked = await session.execute(
                    select(SpoolRow.id, SpoolRow.spoolman_id).where(
                        SpoolRow.id.in_(list(charged)), SpoolRow.spoolman_id.is_not(None)
                    )
                )
                for spool_id, spoolman_id in linked:
                    session.add(
                        SpoolmanReportRow(
                            job_id=job_id,
                            spool_id=spool_id,
                            spoolman_id=spoolman_id,
                            grams=round(charged[spool_id], 2),
                            state="pending",
                            attempts=0,
                            baseline_g=None,
                            uncertain=False,
                            next_attempt_at=at,
                            last_error=None,
                            created_at=at,
                            updated_at=at,
                        )
                    )
            for spool_id, grams in sorted(charged.items()):
                await session.execute(
                    update(SpoolRow)
                    .where(SpoolRow.id == spool_id)
                    .values(
                        used_weight_g=SpoolRow.used_weight_g + round(grams, 2),
                        first_used_at=func.coalesce(SpoolRow.first_used_at, at),
                        last_used_at=at,
                        updated_at=at,
                    )
                )
        return True

    async def usage(self, job_id: int) -> tuple[list[UsageLine], JobCost | None]:
        """The job's usage lines (by slot) and cost snapshot, read together (both or neither: they are stored in
        one transaction); ([], None) before the job was settled."""
        async with self._database.transaction() as session:
            row = await session.get(JobCostRow, job_id)
            if row is None:
                return [], None
            lines = await session.scalars(
                select(JobUsageRow).where(JobUsageRow.job_id == job_id).order_by(JobUsageRow.slot, JobUsageRow.id)
            )
            return [_line(line) for line in lines], _cost(row)

    async def costs_of(self, job_ids: Sequence[int]) -> dict[int, JobCost]:
        """The cost snapshots of ``job_ids`` that have one, by job id."""
        if not job_ids:
            return {}
        async with self._database.transaction() as session:
            rows = await session.scalars(select(JobCostRow).where(JobCostRow.job_id.in_(list(job_ids))))
            return {row.job_id: _cost(row) for row in rows}

    async def order_costs(self, order_ids: Sequence[int], *, currency: str) -> dict[int, CostRow]:
        """What the prints of each order cost (every attempt: reprints and failed plates count), by order id; an
        order none of whose prints has ended is left out. ``key`` is the order id."""
        if not order_ids:
            return {}
        failed = case((JobCostRow.outcome.in_(sorted(FAILED_OUTCOMES)), JobCostRow.total_cost), else_=0.0)
        query = (
            select(
                OrderPrintRow.order_id,
                func.count(),
                func.sum(JobCostRow.material_grams),
                func.sum(JobCostRow.material_cost),
                func.sum(func.coalesce(JobCostRow.energy_cost, 0.0)),
                func.sum(func.coalesce(JobCostRow.machine_cost, 0.0)),
                func.sum(JobCostRow.total_cost),
                func.sum(failed),
            )
            .join(ScheduledPrintRow, ScheduledPrintRow.id == OrderPrintRow.scheduled_print_id)
            .join(JobCostRow, JobCostRow.job_id == ScheduledPrintRow.job_id)
            .where(
                OrderPrintRow.order_id.in_(list(order_ids)),
                JobCostRow.deleted.is_(False),
                JobCostRow.currency == currency,
            )
            .group_by(OrderPrintRow.order_id)
        )
        async with self._database.transaction() as session:
            rows = (await session.execute(query)).all()
        return {int(row[0]): _row(str(row[0]), row[1:]) for row in rows}

    def _key(self, grouping: CostGrouping) -> ColumnElement[Any]:
        if grouping is CostGrouping.PRINTER:
            return JobCostRow.printer_id.expression
        if grouping is CostGrouping.MATERIAL:
            return func.coalesce(JobCostRow.materials, "")
        if grouping is CostGrouping.OUTCOME:
            return JobCostRow.outcome.expression
        if grouping is CostGrouping.CUSTOMER:
            return func.coalesce(JobCostRow.customer, "")
        if grouping is CostGrouping.BUSINESS:
            return case((JobCostRow.is_business.is_(True), "business"), else_="personal")
        return JobCostRow.week.expression

    async def report(
        self, *, since: datetime | None, until: datetime | None, grouping: CostGrouping, currency: str | None = None
    ) -> list[CostRow]:
        """The cost of the jobs that ended in ``[since, until)`` (open ends: no bound), not deleted, grouped by
        ``grouping``, sorted by key; only snapshots in ``currency`` when given."""
        key = self._key(grouping).label("key")
        failed = case((JobCostRow.outcome.in_(sorted(FAILED_OUTCOMES)), JobCostRow.total_cost), else_=0.0)
        query = (
            select(
                key,
                func.count(),
                func.sum(JobCostRow.material_grams),
                func.sum(JobCostRow.material_cost),
                func.sum(func.coalesce(JobCostRow.energy_cost, 0.0)),
                func.sum(func.coalesce(JobCostRow.machine_cost, 0.0)),
                func.sum(JobCostRow.total_cost),
                func.sum(failed),
            )
            .where(JobCostRow.deleted.is_(False))
            .group_by(key)
            .order_by(key)
        )
        if since is not None:
            query = query.where(JobCostRow.ended_at >= since)
        if until is not None:
            query = query.where(JobCostRow.ended_at < until)
        if currency is not None:
            query = query.where(JobCostRow.currency == currency)
        async with self._database.transaction() as session:
            if self._database.dialect_name == "postgresql":
                # A statement prepared five times gets PostgreSQL's generic plan, which guesses the date range's
                # share blind and walks the ended_at index over every row: three times slower on a large history.
                await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
            rows = (await session.execute(query)).all()
        return [_row(_key_text(row[0]), row[1:]) for row in rows]
