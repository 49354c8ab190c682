"""Two job services on one real database, as two printfleet processes sharing a store: a report one of them
received before the other created the print's job does not end that job (the second process's first report,
answered by the printer just before the print began, is handled after the first process saw the print start)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from printfleet.domain.jobs import JobFilter, JobStatus
from printfleet.domain.printer import PrinterConfig, PrinterKind, PrinterState, PrinterStatus, Secret
from printfleet.services.events import EventBus
from printfleet.services.jobs import JobService
from printfleet.services.settings import SettingsService
from printfleet.store.database import Database
from printfleet.store.jobs import SqlJobRepository
from printfleet.store.printers import SqlSettingsRepository

PRINTER = PrinterConfig(
    id="x1", name="X1", kind=PrinterKind.BAMBU, host="h", serial="s", access_code=Secret("c"), tls_insecure=True
)


async def process(database: Database) -> JobService:
    """One process's job service on the shared ``database``."""
    bus = EventBus()
    settings = SettingsService(
        repository=SqlSettingsRepository(database), bus=bus, auto_create=True, monitoring_interval=5.0
    )
    await settings.load()
    return JobService(repository=SqlJobRepository(database), settings=settings, bus=bus)


def report(state: PrinterState, at: datetime, *, progress: float | None = None) -> PrinterStatus:
    """A Bambu report of ``cube.gcode.3mf`` received at ``at``."""
    printing = state is not PrinterState.IDLE
    return PrinterStatus(
        state=state,
        file_name="cube.gcode.3mf" if printing else None,
        progress=progress,
        last_seen=at,
    )


async def jobs(database: Database) -> list[tuple[JobStatus, str | None]]:
    found, _ = await SqlJobRepository(database).list_jobs(JobFilter())
    return [(job.status, job.end_reason) for job in found]


async def test_a_report_older_than_another_process_s_job_does_not_end_it(database: Database) -> None:
    first, second = await process(database), await process(database)
    now = datetime.now(UTC)
    idle_answer = report(PrinterState.IDLE, now - timedelta(milliseconds=50))  # the second's first report

    await first.on_printer_change(PRINTER, None, report(PrinterState.PRINTING, now, progress=1.0))
    await second.on_printer_change(PRINTER, None, idle_answer)
    assert await jobs(database) == [(JobStatus.RUNNING, None)], "the stale idle report ended the print's job"

    # The second process then sees the print and the printer's own end like the first: one job, completed.
    printing = report(PrinterState.PRINTING, now + timedelta(milliseconds=10), progress=2.0)
    await second.on_printer_change(PRINTER, idle_answer, printing)
    finished = report(PrinterState.FINISHED, now + timedelta(seconds=5), progress=100.0)
    await second.on_printer_change(PRINTER, printing, finished)
    await first.on_printer_change(PRINTER, printing, finished)
    assert await jobs(database) == [(JobStatus.COMPLETED, None)]


async def test_an_idle_printer_after_a_restart_still_ends_the_job_left_running(database: Database) -> None:
    before = await process(database)
    now = datetime.now(UTC)
    await before.on_printer_change(PRINTER, None, report(PrinterState.PRINTING, now - timedelta(minutes=5)))

    after = await process(database)  # printfleet restarted; the printer went idle meanwhile
    await after.on_printer_change(PRINTER, None, report(PrinterState.IDLE, datetime.now(UTC)))
    assert await jobs(database) == [(JobStatus.UNKNOWN, "printer idle; the end of the print was not seen")]


def ended(name: str, at: datetime, *, task: str, stage: str | None = None) -> PrinterStatus:
    """A Bambu report of the finished print ``name`` (task id ``task``), received at ``at``."""
    return PrinterStatus(
        state=PrinterState.FINISHED, file_name=name, native_job_id=task, progress=100.0, stage=stage, last_seen=at
    )


async def test_a_lagging_connections_report_of_the_print_before_does_not_end_the_next_print(
    database: Database,
) -> None:
    first, second = await process(database), await process(database)
    now = datetime.now(UTC)
    before = ended("one.gcode.3mf", now - timedelta(seconds=5), task="100")
    for service in (first, second):  # both saw the print before end
        await service.on_printer_change(PRINTER, None, before)
    # The first process sees the next print start; the second's connection is a moment behind.
    printing = PrinterStatus(
        state=PrinterState.PRINTING, file_name="two.gcode.3mf", native_job_id="101", progress=1.0, last_seen=now
    )
    await first.on_printer_change(PRINTER, before, printing)
    late = ended("one.gcode.3mf", now + timedelta(milliseconds=20), task="100", stage="idle")  # a change in stage
    await second.on_printer_change(PRINTER, before, late)
    assert await jobs(database) == [(JobStatus.RUNNING, None)]

    # Once the second process's connection catches up, both see the same print and its own end.
    done = ended("two.gcode.3mf", now + timedelta(seconds=30), task="101")
    await second.on_printer_change(PRINTER, late, printing)
    await second.on_printer_change(PRINTER, printing, done)
    await first.on_printer_change(PRINTER, printing, done)
    assert await jobs(database) == [(JobStatus.COMPLETED, None)]


async def test_after_a_restart_the_end_of_another_print_still_closes_the_job_left_running(database: Database) -> None:
    before = await process(database)
    now = datetime.now(UTC)
    running = PrinterStatus(
        state=PrinterState.PRINTING, file_name="two.gcode.3mf", native_job_id="101", last_seen=now - timedelta(hours=2)
    )
    await before.on_printer_change(PRINTER, None, running)

    after = await process(database)  # restarted: meanwhile that print ended and a third one ran and ended
    await after.on_printer_change(PRINTER, None, ended("three.gcode.3mf", datetime.now(UTC), task="102"))
    assert await jobs(database) == [(JobStatus.UNKNOWN, "the printer reports the end of another print")]
