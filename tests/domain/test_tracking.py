"""Print tracking rules: which snapshot starts, continues or ends a job."""

from __future__ import annotations

import pytest

from printfleet.domain.jobs import JobStatus, can_transition, clean_job_name
from printfleet.domain.printer import OfflineReason, PrinterState, PrinterStatus
from printfleet.domain.tracking import ActiveJob, EndJob, StartJob, UpdateJob, decide, first_layer_done

RUNNING_JOB = ActiveJob(
    job_id=1, filename="benchy.gcode.3mf", native_job_id=None, status=JobStatus.RUNNING, progress=40
)


def snapshot(state: PrinterState, **fields: object) -> PrinterStatus:
    return PrinterStatus(state=state, **fields)  # type: ignore[arg-type]


def test_a_print_starting_creates_a_job() -> None:
    status = snapshot(PrinterState.PREPARING, file_name="benchy.gcode.3mf")
    assert decide(None, status, first_sight=False) == [StartJob(discovered=False)]


def test_a_print_found_running_at_start_up_is_discovered() -> None:
    status = snapshot(PrinterState.PRINTING, file_name="benchy.gcode.3mf", progress=55)
    assert decide(None, status, first_sight=True) == [StartJob(discovered=True)]


def test_the_same_print_seen_again_after_a_restart_adopts_the_job_however_long_after() -> None:
    status = snapshot(PrinterState.PRINTING, file_name="benchy.gcode.3mf", progress=97)
    assert decide(RUNNING_JOB, status, first_sight=True) == [UpdateJob(JobStatus.RUNNING)]


def test_pause_and_resume_keep_the_job() -> None:
    assert decide(
        RUNNING_JOB, snapshot(PrinterState.PAUSED, file_name="benchy.gcode.3mf", progress=41), first_sight=False
    ) == [UpdateJob(JobStatus.PAUSED)]


@pytest.mark.parametrize(
    ("state", "ending"),
    [
        (PrinterState.FINISHED, JobStatus.COMPLETED),
        (PrinterState.FAILED, JobStatus.FAILED),
        (PrinterState.CANCELLED, JobStatus.CANCELLED),
    ],
)
def test_printer_reported_endings(state: PrinterState, ending: JobStatus) -> None:
    status = snapshot(state, file_name="benchy.gcode.3mf", progress=100)
    assert decide(RUNNING_JOB, status, first_sight=False) == [EndJob(ending)]


def test_finish_still_shown_after_a_restart_creates_nothing() -> None:
    assert decide(None, snapshot(PrinterState.FINISHED, file_name="benchy.gcode.3mf"), first_sight=True) == []


def test_idle_with_an_active_job_closes_it_as_unknown() -> None:
    [decision] = decide(RUNNING_JOB, snapshot(PrinterState.IDLE), first_sight=True)
    assert isinstance(decision, EndJob)
    assert decision.status is JobStatus.UNKNOWN
    assert decision.reason


def test_another_file_closes_the_old_job_as_unknown_and_starts_a_new_one() -> None:
    status = snapshot(PrinterState.PRINTING, file_name="other.gcode.3mf", progress=5)
    end, start = decide(RUNNING_JOB, status, first_sight=True)
    assert end == EndJob(JobStatus.UNKNOWN, end.reason)  # type: ignore[union-attr]
    assert start == StartJob(discovered=False)


def test_same_file_with_progress_gone_backwards_is_a_new_print() -> None:
    status = snapshot(PrinterState.PRINTING, file_name="benchy.gcode.3mf", progress=3)
    assert [type(d) for d in decide(RUNNING_JOB, status, first_sight=True)] == [EndJob, StartJob]


def test_native_job_ids_decide_identity_over_file_names() -> None:
    job = ActiveJob(job_id=1, filename="a.bgcode", native_job_id="7", status=JobStatus.RUNNING, progress=10)
    again = snapshot(PrinterState.PRINTING, file_name="a.bgcode", native_job_id="8", progress=50)
    assert [type(d) for d in decide(job, again, first_sight=False)] == [EndJob, StartJob]


@pytest.mark.parametrize(
    "status",
    [
        PrinterStatus.offline(OfflineReason.UNREACHABLE),
        snapshot(PrinterState.PRINTING, file_name=None, progress=0),  # placeholder after a reconnect
        snapshot(PrinterState.PREPARING, file_name=""),
    ],
)
def test_offline_and_placeholder_reports_decide_nothing(status: PrinterStatus) -> None:
    assert decide(RUNNING_JOB, status, first_sight=True) == []
    assert decide(None, status, first_sight=True) == []


def test_ended_jobs_never_change_again() -> None:
    assert can_transition(JobStatus.RUNNING, JobStatus.PAUSED)
    assert can_transition(JobStatus.PENDING, JobStatus.RUNNING)
    assert not can_transition(JobStatus.COMPLETED, JobStatus.RUNNING)
    assert not can_transition(JobStatus.UNKNOWN, JobStatus.COMPLETED)


@pytest.mark.parametrize(
    ("file_name", "subtask", "expected"),
    [
        ("/data/Metadata/plate_1.gcode", "Benchy", "Benchy"),
        ("cache/gridfinity_bin.gcode.3mf", None, "gridfinity_bin"),
        ("lamp.3mf", None, "lamp"),
        ("/usb/BOX~1.BGC", None, "BOX~1.BGC"),
        ("/usb/box.bgcode", None, "box"),
        ("part.STL", None, "part"),
        ("plain.gcode", None, "plain"),
        (None, None, "Unnamed print"),
    ],
)
def test_job_names_are_cleaned_file_names(file_name: str | None, subtask: str | None, expected: str) -> None:
    assert clean_job_name(file_name, subtask) == expected


def test_the_first_layer_is_done_when_the_layer_counter_crosses_two_while_printing() -> None:
    printing = PrinterStatus(state=PrinterState.PRINTING, file_name="vase.gcode", layer=1)
    assert first_layer_done(printing, printing.replace(layer=2))
    assert first_layer_done(printing, printing.replace(layer=5))  # a fast first layer seen between reports
    assert not first_layer_done(printing.replace(layer=2), printing.replace(layer=3))  # already past it
    assert not first_layer_done(None, printing.replace(layer=2))  # first seen after a restart
    assert not first_layer_done(printing.replace(layer=None), printing.replace(layer=2))  # no layer known before
    paused = PrinterStatus(state=PrinterState.PAUSED, file_name="vase.gcode", layer=2)
    assert not first_layer_done(printing, paused)
