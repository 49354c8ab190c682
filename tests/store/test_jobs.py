"""The job repository, on SQLite and PostgreSQL: one active job per printer, soft deletes, listing and round trips."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

from printfleet.domain.jobs import Job, JobFilter, JobStatus, NewJob
from printfleet.services.errors import ActiveJobExists, JobNotFound
from printfleet.services.ports import JobRepository
from printfleet.store.database import Database
from printfleet.store.jobs import SqlJobRepository
from printfleet.store.tables import JobRow

T0 = datetime(2026, 11, 21, 9, 0, 0, 250000, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))


def new_job(printer_id: str = "x1c-01", **fields: Any) -> NewJob:
    """A running auto-created job on ``printer_id``; ``fields`` override."""
    values: dict[str, Any] = {
        "printer_id": printer_id,
        "printer_type": "bambu",
        "job_name": "benchy",
        "filename": "benchy.gcode.3mf",
        "status": JobStatus.RUNNING,
        "created_at": T0,
        "start_time": T0,
        "auto_created": True,
    }
    return NewJob(**(values | fields))


def manual_job(printer_id: str = "mk4-01", **fields: Any) -> NewJob:
    """A pending manual job on ``printer_id``; ``fields`` override."""
    values: dict[str, Any] = {
        "printer_id": printer_id,
        "printer_type": "prusalink",
        "job_name": "bracket",
        "filename": "bracket.bgcode",
        "status": JobStatus.PENDING,
        "created_at": T0,
    }
    return NewJob(**(values | fields))


async def start(jobs: SqlJobRepository, printer_id: str = "mk4-01", **fields: Any) -> Job | None:
    """``start_pending_job`` for a print of ``bracket.bgcode``; ``fields`` override."""
    values: dict[str, Any] = {
        "printer_id": printer_id,
        "filename": "bracket.bgcode",
        "job_name": "bracket",
        "start_time": T0 + timedelta(hours=1),
        "native_job_id": "417",
        "printer_start_time": T0 + timedelta(minutes=59),
        "elapsed_seconds": 60,
        "progress": 1.5,
    }
    return await jobs.start_pending_job(**(values | fields))


async def end(jobs: SqlJobRepository, job: Job, status: JobStatus = JobStatus.COMPLETED) -> Job:
    """End ``job`` as the job service does."""
    return await jobs.update_job(job.id, status=status, end_time=T0 + timedelta(hours=2), end_reason="printer")


@pytest.fixture
def jobs(database: Database) -> SqlJobRepository:
    """The job repository on the test database."""
    return SqlJobRepository(database)


@pytest.fixture
async def two_processes(database_url: str) -> AsyncIterator[tuple[SqlJobRepository, SqlJobRepository]]:
    """Two repositories on two separately opened databases (own engines and pools) on one URL, like two processes."""
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(Database(database_url))
        second = await stack.enter_async_context(Database(database_url))
        yield SqlJobRepository(first), SqlJobRepository(second)


async def _row_count(database: Database) -> int:
    async with database.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(JobRow)) or 0)


def _times(job: Job) -> list[datetime]:
    moments = (job.created_at, job.start_time, job.end_time, job.printer_start_time)
    return [moment for moment in moments if moment is not None]


def test_sql_job_repository_implements_the_port(jobs: SqlJobRepository) -> None:
    port: JobRepository = jobs
    assert port is jobs


# --- round trips -------------------------------------------------------------------------------------------------


async def test_created_job_round_trips_every_field_with_aware_utc_times(jobs: SqlJobRepository) -> None:
    discovered = (T0 + timedelta(seconds=30)).astimezone(PLUS_TWO)  # any zone in, UTC out
    printer_start = (T0 - timedelta(minutes=12, microseconds=5)).astimezone(PLUS_TWO)
    customer_info = {"name": "Ada", "order": 4711, "paid": True, "tags": ["rush", None], "rate": {"eur": 0.25}}
    wanted = new_job(
        status=JobStatus.PAUSED,
        created_at=discovered,
        start_time=printer_start,
        progress=42.5,
        native_job_id="task-991",
        discovered_on_startup=True,
        printer_start_time=printer_start,
        elapsed_seconds=720,
        is_business=True,
        customer_info=customer_info,
        notes="two walls,\nthen infill",
        file_id="file-7",
    )

    created = await jobs.create_job(wanted)
    fetched = await jobs.get_job(created.id)

    assert fetched == created
    assert created == Job(
        id=created.id,
        printer_id="x1c-01",
        printer_type="bambu",
        job_name="benchy",
        filename="benchy.gcode.3mf",
        status=JobStatus.PAUSED,
        progress=42.5,
        created_at=discovered,
        start_time=printer_start,
        end_time=None,
        duration_seconds=None,
        is_business=True,
        customer_info=customer_info,
        file_id="file-7",
        native_job_id="task-991",
        end_reason=None,
        notes="two walls,\nthen infill",
        auto_created=True,
        discovered_on_startup=True,
        printer_start_time=printer_start,
        elapsed_seconds=720,
        deleted=False,
    )
    assert fetched is not None
    for moment in (*_times(created), *_times(fetched)):
        assert moment.tzinfo is UTC


async def test_minimal_manual_job_defaults_and_missing_job(jobs: SqlJobRepository) -> None:
    created = await jobs.create_job(manual_job(filename=None, start_time=None))

    assert await jobs.get_job(created.id) == created
    assert created.status is JobStatus.PENDING
    assert created.filename is None
    assert created.start_time is None
    assert created.customer_info == {}
    assert created.auto_created is False
    assert await jobs.get_job(created.id + 1) is None


async def test_update_job_sets_columns_and_returns_the_job(jobs: SqlJobRepository) -> None:
    job = await jobs.create_job(new_job())

    ended = await jobs.update_job(
        job.id,
        status=JobStatus.FAILED,
        progress=63.0,
        end_time=(T0 + timedelta(hours=1)).astimezone(PLUS_TWO),
        duration_seconds=3600,
        end_reason="nozzle clog",
        customer_info={"name": "Grace", "lines": [1, 2]},
    )

    assert ended == dataclasses.replace(
        job,
        status=JobStatus.FAILED,
        progress=63.0,
        end_time=T0 + timedelta(hours=1),
        duration_seconds=3600,
        end_reason="nozzle clog",
        customer_info={"name": "Grace", "lines": [1, 2]},
    )
    assert await jobs.get_job(job.id) == ended
    assert [moment.tzinfo for moment in _times(ended)] == [UTC, UTC, UTC]


async def test_update_job_accepts_status_strings_and_stamps_updated_at(database: Database) -> None:
    now = T0 + timedelta(days=1)
    jobs = SqlJobRepository(database, clock=lambda: now)
    job = await jobs.create_job(new_job())

    now = T0 + timedelta(days=2)
    paused = await jobs.update_job(job.id, status="paused")

    assert paused.status is JobStatus.PAUSED
    async with database.transaction() as session:
        assert await session.scalar(select(JobRow.updated_at).where(JobRow.id == job.id)) == T0 + timedelta(days=2)


@pytest.mark.parametrize("column", ["id", "created_at", "deleted_at", "updated_at", "colour"])
async def test_update_job_refuses_columns_it_does_not_own(jobs: SqlJobRepository, column: str) -> None:
    job = await jobs.create_job(new_job())

    with pytest.raises(ValueError, match=column):
        await jobs.update_job(job.id, progress=99.0, **{column: None})

    assert await jobs.get_job(job.id) == job  # nothing applied, not even the valid column


async def test_update_job_refuses_an_unknown_status(jobs: SqlJobRepository) -> None:
    job = await jobs.create_job(new_job())

    with pytest.raises(ValueError, match="printing"):
        await jobs.update_job(job.id, status="printing")
    assert await jobs.get_job(job.id) == job


async def test_update_of_a_missing_job_raises_job_not_found(jobs: SqlJobRepository) -> None:
    with pytest.raises(JobNotFound):
        await jobs.update_job(12345, progress=1.0)


# --- one active job per printer ------------------------------------------------------------------------------------


async def test_second_active_job_on_a_printer_raises_active_job_exists(jobs: SqlJobRepository) -> None:
    first = await jobs.create_job(new_job())

    for status in (JobStatus.RUNNING, JobStatus.PAUSED):
        with pytest.raises(ActiveJobExists) as raised:
            await jobs.create_job(new_job(status=status, filename="other.3mf"))
        assert raised.value.printer_id == "x1c-01"

    assert await jobs.active_job("x1c-01") == first
    assert (await jobs.list_jobs(JobFilter()))[1] == 1


async def test_another_printer_and_pending_jobs_are_not_limited(jobs: SqlJobRepository) -> None:
    x1c = await jobs.create_job(new_job("x1c-01"))
    p1s = await jobs.create_job(new_job("p1s-01", status=JobStatus.PAUSED))
    pending = [await jobs.create_job(manual_job("x1c-01", job_name=f"part {n}")) for n in range(3)]

    assert await jobs.active_job("x1c-01") == x1c
    assert await jobs.active_job("p1s-01") == p1s
    assert await jobs.active_job("mk4-01") is None
    assert await jobs.active_jobs() == [p1s, x1c]
    assert all(job.status is JobStatus.PENDING for job in pending)


@pytest.mark.parametrize("ended", [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.UNKNOWN])
async def test_ended_jobs_do_not_hold_the_printer(jobs: SqlJobRepository, ended: JobStatus) -> None:
    first = await jobs.create_job(new_job())
    await end(jobs, first, ended)
    assert await jobs.active_job("x1c-01") is None

    second = await jobs.create_job(new_job(filename="second.3mf"))

    assert await jobs.active_job("x1c-01") == second
    assert (await jobs.get_job(first.id) or first).status is ended


async def test_resuming_an_ended_job_beside_a_new_active_one_is_refused(jobs: SqlJobRepository) -> None:
    first = await jobs.create_job(new_job())
    await end(jobs, first, JobStatus.UNKNOWN)
    second = await jobs.create_job(new_job(filename="second.3mf"))

    with pytest.raises(ActiveJobExists):
        await jobs.update_job(first.id, status=JobStatus.RUNNING)

    assert await jobs.active_job("x1c-01") == second


async def test_two_processes_creating_at_once_only_one_wins(
    two_processes: tuple[SqlJobRepository, SqlJobRepository], database: Database
) -> None:
    first, second = two_processes
    printer_ids = [f"x1c-{n:02}" for n in range(10)]

    for printer_id in printer_ids:
        outcomes = await asyncio.gather(
            first.create_job(new_job(printer_id, job_name="from process 1")),
            second.create_job(new_job(printer_id, job_name="from process 2")),
            return_exceptions=True,
        )
        winners = [outcome for outcome in outcomes if isinstance(outcome, Job)]
        losers = [outcome for outcome in outcomes if isinstance(outcome, ActiveJobExists)]
        assert len(winners) == 1, outcomes
        assert len(losers) == 1, outcomes
        assert await first.active_job(printer_id) == winners[0]
        assert await second.active_job(printer_id) == winners[0]

    assert await _row_count(database) == len(printer_ids)


# --- manual jobs ---------------------------------------------------------------------------------------------------


async def test_start_pending_job_turns_the_oldest_matching_manual_job_running(jobs: SqlJobRepository) -> None:
    newer = await jobs.create_job(manual_job(created_at=T0 + timedelta(minutes=5)))
    oldest = await jobs.create_job(manual_job(created_at=T0, customer_info={"name": "Ada"}))
    await jobs.create_job(manual_job(job_name="other", filename="other.bgcode", created_at=T0 - timedelta(days=1)))
    await jobs.create_job(manual_job("mk4-02", created_at=T0 - timedelta(days=1)))

    started = await start(jobs)

    assert started == dataclasses.replace(
        oldest,
        status=JobStatus.RUNNING,
        start_time=T0 + timedelta(hours=1),
        native_job_id="417",
        printer_start_time=T0 + timedelta(minutes=59),
        elapsed_seconds=60,
        progress=1.5,
    )
    assert await jobs.active_job("mk4-01") == started
    assert await jobs.get_job(newer.id) == newer  # still pending


async def test_start_pending_job_matches_by_job_name_and_takes_the_printers_file(jobs: SqlJobRepository) -> None:
    await jobs.create_job(manual_job(filename=None))

    started = await start(jobs, filename="USB/bracket_v2.bgcode")

    assert started is not None
    assert started.job_name == "bracket"
    assert started.filename == "USB/bracket_v2.bgcode"  # identifies the print from now on


async def test_start_pending_job_finds_nothing_to_start(jobs: SqlJobRepository) -> None:
    deleted = await jobs.create_job(manual_job())
    await jobs.delete_job(deleted.id)
    ended = await jobs.create_job(manual_job())
    await jobs.update_job(ended.id, status=JobStatus.CANCELLED)
    await jobs.create_job(manual_job("mk4-02"))
    auto = await jobs.create_job(new_job("mk4-01", filename="bracket.bgcode", job_name="bracket"))
    await end(jobs, auto)

    assert await start(jobs, filename="", job_name="another") is None
    assert await start(jobs) is None
    assert await jobs.active_job("mk4-01") is None


async def test_start_pending_job_while_the_printer_has_an_active_job_raises(jobs: SqlJobRepository) -> None:
    pending = await jobs.create_job(manual_job())
    running = await jobs.create_job(new_job("mk4-01", filename="other.bgcode", job_name="other"))

    with pytest.raises(ActiveJobExists):
        await start(jobs)
    with pytest.raises(ActiveJobExists):
        await start(jobs, filename="nothing.bgcode", job_name="nothing")

    assert await jobs.get_job(pending.id) == pending
    assert await jobs.active_job("mk4-01") == running


@pytest.mark.parametrize("pending_jobs", [1, 2], ids=["one-pending", "two-pending"])
async def test_two_processes_starting_one_print_only_one_wins(
    two_processes: tuple[SqlJobRepository, SqlJobRepository], jobs: SqlJobRepository, pending_jobs: int
) -> None:
    first, second = two_processes
    printer_ids = [f"mk4-{n:02}" for n in range(5)]
    for printer_id in printer_ids:
        for n in range(pending_jobs):
            await jobs.create_job(manual_job(printer_id, created_at=T0 + timedelta(minutes=n)))

    for printer_id in printer_ids:
        outcomes = await asyncio.gather(start(first, printer_id), start(second, printer_id), return_exceptions=True)
        winners = [outcome for outcome in outcomes if isinstance(outcome, Job)]
        assert len(winners) == 1, outcomes
        assert isinstance(next(o for o in outcomes if o is not winners[0]), ActiveJobExists), outcomes
        assert winners[0].created_at == T0  # the oldest
        assert await jobs.active_job(printer_id) == winners[0]

    pending, total = await jobs.list_jobs(JobFilter(status=JobStatus.PENDING))
    assert total == len(printer_ids) * (pending_jobs - 1)
    assert all(job.created_at == T0 + timedelta(minutes=1) for job in pending)


# --- soft delete ---------------------------------------------------------------------------------------------------


async def test_deleted_job_is_hidden_but_still_holds_its_print(jobs: SqlJobRepository) -> None:
    job = await jobs.create_job(new_job())
    kept = await jobs.create_job(new_job("p1s-01"))

    before = await jobs.delete_job(job.id)

    assert before == job
    assert await jobs.get_job(job.id) is None
    assert await jobs.list_jobs(JobFilter()) == ([kept], 1)
    assert await jobs.list_jobs(JobFilter(printer_id="x1c-01")) == ([], 0)
    held = await jobs.active_job("x1c-01")
    assert held == dataclasses.replace(job, deleted=True)
    assert held in await jobs.active_jobs()
    with pytest.raises(ActiveJobExists):
        await jobs.create_job(new_job())


async def test_deleted_active_job_can_still_end_and_free_the_printer(jobs: SqlJobRepository) -> None:
    job = await jobs.create_job(new_job())
    await jobs.delete_job(job.id)

    ended = await end(jobs, job)

    assert ended.deleted
    assert ended.status is JobStatus.COMPLETED
    assert await jobs.active_job("x1c-01") is None
    assert (await jobs.create_job(new_job(filename="next.3mf"))).status is JobStatus.RUNNING


async def test_deleting_a_missing_or_deleted_job_raises_job_not_found(jobs: SqlJobRepository) -> None:
    job = await jobs.create_job(manual_job())
    await jobs.delete_job(job.id)

    with pytest.raises(JobNotFound):
        await jobs.delete_job(job.id)
    with pytest.raises(JobNotFound):
        await jobs.delete_job(job.id + 1)


# --- listing -------------------------------------------------------------------------------------------------------


@pytest.fixture
async def history(jobs: SqlJobRepository) -> list[Job]:
    """Six jobs on three printers, created in a shuffled order; returned newest first."""
    created = [
        await jobs.create_job(new_job("x1c-01", created_at=T0 + timedelta(hours=2), status=JobStatus.COMPLETED)),
        await jobs.create_job(manual_job("mk4-01", created_at=T0 + timedelta(hours=5))),
        await jobs.create_job(new_job("x1c-01", created_at=T0 + timedelta(hours=1), status=JobStatus.FAILED)),
        await jobs.create_job(new_job("p1s-01", created_at=T0 + timedelta(hours=3))),
        # Same instant as the next one: the later id is listed first.
        await jobs.create_job(new_job("x1c-01", created_at=T0 + timedelta(hours=4))),
        await jobs.create_job(manual_job("x1c-01", created_at=T0 + timedelta(hours=4))),
    ]
    return sorted(created, key=lambda job: (job.created_at, job.id), reverse=True)


async def test_list_jobs_newest_first_with_ties_by_id_and_a_total(jobs: SqlJobRepository, history: list[Job]) -> None:
    listed, total = await jobs.list_jobs(JobFilter())

    assert listed == history
    assert total == 6
    assert [job.created_at for job in listed][:3] == [
        T0 + timedelta(hours=5),
        T0 + timedelta(hours=4),
        T0 + timedelta(hours=4),
    ]
    assert listed[1].id > listed[2].id


async def test_list_jobs_pages_with_limit_and_offset(jobs: SqlJobRepository, history: list[Job]) -> None:
    assert await jobs.list_jobs(JobFilter(limit=2)) == (history[:2], 6)
    assert await jobs.list_jobs(JobFilter(limit=2, offset=2)) == (history[2:4], 6)
    assert await jobs.list_jobs(JobFilter(limit=4, offset=4)) == (history[4:], 6)
    assert await jobs.list_jobs(JobFilter(offset=10)) == ([], 6)


@pytest.mark.parametrize(
    ("job_filter", "total"),
    [
        pytest.param(JobFilter(printer_id="x1c-01"), 4, id="printer"),
        pytest.param(JobFilter(printer_id="nobody"), 0, id="unknown-printer"),
        pytest.param(JobFilter(status=JobStatus.PENDING), 2, id="pending"),
        pytest.param(JobFilter(status=JobStatus.RUNNING), 2, id="running"),
        pytest.param(JobFilter(auto_created=True), 4, id="auto"),
        pytest.param(JobFilter(auto_created=False), 2, id="manual"),
        pytest.param(JobFilter(since=T0 + timedelta(hours=3)), 4, id="since-inclusive"),
        pytest.param(JobFilter(until=T0 + timedelta(hours=3)), 2, id="until-exclusive"),
        pytest.param(JobFilter(since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=4)), 2, id="window"),
        pytest.param(JobFilter(since=(T0 + timedelta(hours=2)).astimezone(PLUS_TWO)), 5, id="since-other-zone"),
        pytest.param(
            JobFilter(printer_id="x1c-01", auto_created=True, since=T0 + timedelta(hours=2), limit=1),
            2,
            id="combined-paged",
        ),
    ],
)
async def test_list_jobs_filters(jobs: SqlJobRepository, history: list[Job], job_filter: JobFilter, total: int) -> None:
    def matches(job: Job) -> bool:
        return (
            job_filter.printer_id in (None, job.printer_id)
            and job_filter.status in (None, job.status)
            and job_filter.auto_created in (None, job.auto_created)
            and (job_filter.since is None or job.created_at >= job_filter.since)
            and (job_filter.until is None or job.created_at < job_filter.until)
        )

    expected = [job for job in history if matches(job)]
    assert len(expected) == total  # the spelled-out count keeps this reference filter honest

    assert await jobs.list_jobs(job_filter) == (
        expected[job_filter.offset : job_filter.offset + job_filter.limit],
        total,
    )


async def test_list_jobs_searches_job_and_file_names_ignoring_case(jobs: SqlJobRepository) -> None:
    gear = await jobs.create_job(new_job("x1c-01", created_at=T0, job_name="Gear 50% scale", filename="gear_v2.3mf"))
    hook = await jobs.create_job(manual_job("mk4-01", created_at=T0 + timedelta(hours=1), job_name="Wall hook"))
    await jobs.create_job(new_job("p1s-01", created_at=T0 + timedelta(hours=2), job_name="gear_v20", filename="x.3mf"))

    async def found(text: str) -> list[int]:
        listed, total = await jobs.list_jobs(JobFilter(search=text))
        assert total == len(listed)
        assert all(JobFilter(search=text).matches(job) for job in listed)  # the live list agrees with the store
        return sorted(job.id for job in listed)

    assert await found("GEAR_V2.") == [gear.id]  # the file name, any case
    assert await found("hook") == [hook.id]
    assert await found("bracket") == [hook.id]  # the manual job's file, bracket.bgcode
    assert await found("50%") == [gear.id]  # % and _ are plain characters, not wildcards
    assert len(await found("gear_v2")) == 2
    assert await found("nothing like it") == []
