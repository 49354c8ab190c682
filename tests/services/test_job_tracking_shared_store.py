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
