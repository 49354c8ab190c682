"""A print whose start was never recorded (the process stopped right after it began) is still charged when it ends,
from what is known then; a job that ended long ago and is edited now is never charged (real SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from printfleet.domain.jobs import JobStatus, NewJob
from printfleet.domain.materials.costs import CostRates
from printfleet.services.events import EventBus
from printfleet.services.materials.service import MaterialsService
from printfleet.services.materials.slots import SlotService
from printfleet.services.materials.usage import UsageService
from printfleet.store.database import Database
from printfleet.store.jobs import SqlJobRepository
from printfleet.store.materials.repository import SqlMaterialRepository
from printfleet.store.materials.slots import SqlSlotRepository
from printfleet.store.materials.usage import SqlUsageRepository

NOW = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)


def _service(database: Database) -> UsageService:
    bus = EventBus()
    materials = MaterialsService(repository=SqlMaterialRepository(database))
    slots = SlotService(repository=SqlSlotRepository(database), materials=materials, bus=bus)
    return UsageService(
        repository=SqlUsageRepository(database),
        slots=slots,
        materials=materials,
        estimates=lambda job: _none(),
        rates=lambda printer_id: CostRates(currency="EUR", average_watts=200.0, kwh_price=0.25),
        currency="EUR",
        bus=bus,
        clock=lambda: NOW,
    )


async def _none() -> None:
    return None


async def _ended_job(database: Database, *, ended: datetime) -> int:
    jobs = SqlJobRepository(database)
    job = await jobs.create_job(
        NewJob(
            printer_id="p1",
            printer_type="bambu",
            job_name="bracket",
            filename="bracket.gcode.3mf",
            status=JobStatus.RUNNING,
            created_at=ended - timedelta(hours=1),
            start_time=ended - timedelta(hours=1),
        )
    )
    await jobs.update_job(job.id, status=JobStatus.COMPLETED, end_time=ended, duration_seconds=3600, progress=100.0)
    return job.id


async def test_a_print_that_just_ended_without_a_recorded_start_is_costed_once(database: Database) -> None:
    service = _service(database)
    job_id = await _ended_job(database, ended=NOW - timedelta(minutes=1))

    assert await service.settle(job_id)
    assert not await service.settle(job_id)  # once

    cost = await service.cost(job_id)
    assert cost is not None
    assert (cost.printing_hours, cost.energy_kwh) == (1.0, 0.2)


async def test_a_job_that_ended_long_ago_is_not_costed_when_it_is_touched_now(database: Database) -> None:
    service = _service(database)
    job_id = await _ended_job(database, ended=NOW - timedelta(days=3))

    assert not await service.settle(job_id)
    assert await service.cost(job_id) is None
