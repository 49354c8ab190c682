"""What the QueueService tests share: printers whose status a test sets and a clock it moves (:class:`Farm`), an
event recorder, and a service on a real migrated database (the ``setup`` fixture in ``conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from printfleet.domain.events import DomainEvent
from printfleet.domain.jobs import JobStatus, NewJob
from printfleet.domain.printer import PrinterConfig, PrinterKind, PrinterState, PrinterStatus, Secret
from printfleet.domain.queue import QueuePolicy
from printfleet.domain.queue_commands import RateLimit
from printfleet.services.events import EventBus
from printfleet.services.queue import QueueService
from printfleet.store.database import Database
from printfleet.store.jobs import SqlJobRepository
from printfleet.store.queue import SqlQueueRepository

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
POLICY = QueuePolicy(claim_window=timedelta(minutes=10), start_window=timedelta(minutes=15))
IDLE = PrinterStatus(state=PrinterState.IDLE)
PRINTING = PrinterStatus(state=PrinterState.PRINTING, file_name="plate.3mf", remaining_seconds=3600)


def printer(printer_id: str) -> PrinterConfig:
    return PrinterConfig(
        id=printer_id,
        name=printer_id.upper(),
        kind=PrinterKind.BAMBU,
        host="127.0.0.1",
        serial=f"SN-{printer_id}",
        access_code=Secret("12345678"),
        tls_insecure=True,
    )


@dataclass
class Farm:
    """Printers whose status a test sets, and a clock it moves."""

    statuses: dict[str, PrinterStatus]
    now: datetime = T0
    configs: dict[str, PrinterConfig] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.configs = {pid: printer(pid) for pid in self.statuses}

    def live(self) -> Iterable[tuple[PrinterConfig, PrinterStatus]]:
        return [(self.configs[pid], status) for pid, status in sorted(self.statuses.items())]

    def clock(self) -> datetime:
        return self.now

    async def set(self, service: QueueService, printer_id: str, status: PrinterStatus) -> None:
        previous = self.statuses.get(printer_id)
        self.statuses[printer_id] = status
        await service.on_printer_change(self.configs[printer_id], previous, status)


class Recorder:
    """Every event published, in order."""

    def __init__(self, bus: EventBus) -> None:
        self.subscription = bus.subscribe(maxsize=10_000)

    def drain(self) -> list[DomainEvent]:
        events: list[DomainEvent] = []
        while self.subscription.pending():
            events.append(self.subscription._queue.get_nowait())
        return events

    def of(self, kind: type) -> list[DomainEvent]:
        return [e for e in self.drain() if isinstance(e, kind)]


@dataclass
class Setup:
    database: Database
    farm: Farm
    bus: EventBus
    events: Recorder
    jobs: SqlJobRepository
    service: QueueService

    def build(self, **kwargs: object) -> QueueService:
        """Another service on the same database (a restart)."""
        return make_service(self.database, self.farm, self.bus, **kwargs)


def make_service(database: Database, farm: Farm, bus: EventBus, **kwargs: object) -> QueueService:
    options: dict[str, object] = {"policy": POLICY, "clock": farm.clock, "rate_limit": RateLimit(capacity=1000)}
    options.update(kwargs)
    return QueueService(
        repository=SqlQueueRepository(database),
        jobs=SqlJobRepository(database),
        bus=bus,
        printers=farm.live,
        **options,  # type: ignore[arg-type]
    )


async def start_print(setup: Setup, printer_id: str, name: str = "plate.3mf") -> int:
    """What the job tracker does when a print starts (it runs before the queue), then the queue's listener."""
    job = await setup.jobs.create_job(
        NewJob(
            printer_id=printer_id,
            printer_type="bambu",
            job_name=name,
            filename=name,
            status=JobStatus.RUNNING,
            created_at=setup.farm.now,
            start_time=setup.farm.now,
            auto_created=True,
        )
    )
    status = PrinterStatus(state=PrinterState.PRINTING, file_name=name, remaining_seconds=1800)
    await setup.farm.set(setup.service, printer_id, status)
    return job.id


async def end_print(setup: Setup, printer_id: str, job_id: int, outcome: JobStatus, minutes: int) -> None:
    await setup.jobs.update_job(job_id, status=outcome, end_time=setup.farm.now, duration_seconds=minutes * 60)
    state = {JobStatus.COMPLETED: PrinterState.FINISHED, JobStatus.FAILED: PrinterState.FAILED}[outcome]
    await setup.farm.set(setup.service, printer_id, PrinterStatus(state=state))
