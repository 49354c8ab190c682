"""Job filters as the live jobs page applies them to a job it was not shown yet."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from printfleet.domain.jobs import Job, JobFilter, JobStatus

NOON = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def job(**changes: object) -> Job:
    base = Job(
        id=7,
        printer_id="x1c-1",
        printer_type="bambu",
        job_name="benchy",
        filename="benchy.gcode.3mf",
        status=JobStatus.RUNNING,
        progress=10.0,
        created_at=NOON,
        start_time=NOON,
        end_time=None,
        duration_seconds=None,
        auto_created=True,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_filter_matches_the_same_jobs_the_store_lists() -> None:
    assert JobFilter().matches(job())
    assert JobFilter(printer_id="x1c-1", status=JobStatus.RUNNING, auto_created=True).matches(job())
    assert not JobFilter(printer_id="mk4-1").matches(job())
    assert not JobFilter(status=JobStatus.COMPLETED).matches(job())
    assert not JobFilter(auto_created=False).matches(job())
    assert JobFilter(auto_created=False).matches(job(auto_created=False))


def test_search_finds_part_of_the_job_or_file_name_in_any_case() -> None:
    named = job(job_name="Raspberry Pi case", filename="/usb/raspberry_pi_case.bgcode")
    assert JobFilter(search="PI CASE").matches(named)
    assert JobFilter(search="pi_case.bg").matches(named)
    assert not JobFilter(search="benchy").matches(named)
    assert JobFilter(search="straße").matches(job(job_name="STRASSE sign")) is True  # casefold


def test_since_is_inclusive_and_until_exclusive() -> None:
    assert JobFilter(since=NOON).matches(job())
    assert not JobFilter(since=NOON + timedelta(seconds=1)).matches(job())
    assert JobFilter(until=NOON + timedelta(seconds=1)).matches(job())
    assert not JobFilter(until=NOON).matches(job())


def test_a_deleted_job_never_matches() -> None:
    assert not JobFilter().matches(job(deleted=True))
