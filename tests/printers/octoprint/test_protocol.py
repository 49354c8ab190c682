"""OctoPrint payloads → PrinterStatus: the mapping and the finished/cancelled/failed rules of protocol.py.

Payload shapes follow OctoPrint 1.11 docs (api/printer.rst, api/job.rst, api/push.rst, events/index.rst) and
what 1.11.8 serves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from printfleet.domain.printer import OfflineReason, PrinterState
from printfleet.domain.printer_errors import known_error
from printfleet.printers.octoprint.protocol import (
    EVENT_AUTHORITY_S,
    OctoPrintPayloadError,
    OctoPrintState,
    apply_current,
    apply_event,
    apply_poll,
    decode_body,
    to_status,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
FLAG_NAMES = (
    "operational",
    "printing",
    "paused",
    "pausing",
    "cancelling",
    "resuming",
    "finishing",
    "ready",
    "error",
    "closedOrError",
    "sdReady",
)


def printer_body(*true_flags: str, text: str = "Operational", tool0: float = 214.8) -> dict[str, object]:
    """A ``/api/printer`` body with the named flags true (``operational`` always)."""
    flags = {name: name in true_flags or name == "operational" for name in FLAG_NAMES}
    return {
        "state": {"text": text, "error": "", "flags": flags},
        "temperature": {
            "tool0": {"actual": tool0, "target": 215.0, "offset": 0},
            "bed": {"actual": 59.9, "target": 60.0, "offset": 0},
        },
        "sd": {"ready": True},
    }


def job_body(
    name: str | None = "whistle_v2.gcode",
    *,
    completion: float | None = 22.98,
    print_time: int | None = 276,
    left: int | None = 912,
    state: str = "Printing",
) -> dict[str, object]:
    """A ``/api/job`` body (the docs' example, with ``path``)."""
    return {
        "job": {
            "file": {"name": name, "path": name, "origin": "local" if name else None, "size": 1468987, "date": 1},
            "estimatedPrintTime": 8811,
            "filament": {"length": 810, "volume": 5.36},
        },
        "progress": {"completion": completion, "filepos": 337942, "printTime": print_time, "printTimeLeft": left},
        "state": state,
    }


IDLE_JOB = job_body(None, completion=None, print_time=None, left=None, state="Operational")


def poll(
    state: OctoPrintState, printer: dict[str, object] | None, job: dict[str, object], at: float = 100.0
) -> OctoPrintState:
    """One poll sent at monotonic ``at`` seconds."""
    return apply_poll(state, printer, job, observed_at=at, now=NOW)


def event(state: OctoPrintState, kind: str, at: float = 100.0, **payload: object) -> OctoPrintState:
    body = {"name": "whistle_v2.gcode", "path": "whistle_v2.gcode", "origin": "local", **payload}
    return apply_event(state, {"type": kind, "payload": body}, observed_at=at, now=NOW)


def printing_state() -> OctoPrintState:
    return poll(OctoPrintState(), printer_body("printing", text="Printing"), job_body())


def test_printing_poll_maps_file_progress_times_and_temperatures() -> None:
    status = to_status(printing_state(), now=NOW)

    assert status.state is PrinterState.PRINTING
    assert status.raw_state == "Printing"
    assert status.file_name == "whistle_v2.gcode"
    assert status.progress == pytest.approx(22.98)
    assert status.elapsed_seconds == 276
    assert status.remaining_seconds == 912
    assert status.print_start_time == NOW - timedelta(seconds=276)
    assert (status.nozzle_temp, status.nozzle_target, status.bed_temp, status.bed_target) == (214.8, 215.0, 59.9, 60.0)
    assert status.native_job_id is None
    assert status.last_seen == NOW
    assert status.extra == {"origin": "local"}


def test_start_time_stays_put_while_the_same_print_goes_on() -> None:
    state = printing_state()
    later = apply_poll(state, printer_body("printing"), job_body(print_time=300), observed_at=105.0, now=NOW)
    assert later.print_started_at == state.print_started_at


@pytest.mark.parametrize(
    ("flags", "expected", "stage"),
    [
        (("printing",), PrinterState.PRINTING, None),
        (("printing", "pausing"), PrinterState.PAUSED, "pausing"),
        (("paused",), PrinterState.PAUSED, None),
        (("printing", "resuming"), PrinterState.PRINTING, "resuming"),
        (("printing", "cancelling"), PrinterState.PRINTING, "cancelling"),
        (("printing", "finishing"), PrinterState.PRINTING, "finishing"),
        (("ready",), PrinterState.IDLE, None),
        (("error",), PrinterState.ERROR, None),
    ],
)
def test_flags_decide_the_state_not_the_text(flags: tuple[str, ...], expected: PrinterState, stage: str | None) -> None:
    state = poll(OctoPrintState(), printer_body(*flags, text="Some text OctoPrint may translate"), job_body())
    status = to_status(state, now=NOW)
    assert status.state is expected
    assert status.stage == stage


def test_idle_with_nothing_selected_has_no_file() -> None:
    status = to_status(poll(OctoPrintState(), printer_body("ready"), IDLE_JOB), now=NOW)
    assert status.state is PrinterState.IDLE
    assert status.file_name is None
    assert status.progress is None


def test_polled_print_back_to_operational_at_100_percent_is_finished() -> None:
    state = poll(printing_state(), printer_body("ready"), job_body(completion=100.0, print_time=1200, left=0))
    status = to_status(state, now=NOW)
    assert status.state is PrinterState.FINISHED
    assert status.file_name == "whistle_v2.gcode"
    assert status.progress == 100.0
    assert status.elapsed_seconds == 1200
    assert status.remaining_seconds is None


def test_polled_print_back_to_operational_with_progress_reset_is_cancelled_where_it_stopped() -> None:
    state = poll(printing_state(), printer_body("ready"), job_body(completion=None, print_time=None, left=None))
    status = to_status(state, now=NOW)
    assert status.state is PrinterState.CANCELLED
    assert status.file_name == "whistle_v2.gcode"
    assert status.progress == pytest.approx(22.98)
    assert status.elapsed_seconds == 276


def test_terminal_state_stays_while_the_file_stays_selected_and_ends_with_another_selection() -> None:
    finished = poll(printing_state(), printer_body("ready"), job_body(completion=100.0, print_time=1200))
    again = poll(finished, printer_body("ready"), job_body(completion=100.0, print_time=1200), at=200.0)
    assert to_status(again, now=NOW).state is PrinterState.FINISHED

    other = poll(again, printer_body("ready"), job_body("next.gcode", completion=None, print_time=None), at=300.0)
    status = to_status(other, now=NOW)
    assert status.state is PrinterState.IDLE
    assert status.file_name is None
    assert status.extra["selected_file"] == "next.gcode"


def test_adapter_started_after_a_print_finished_sees_it_finished() -> None:
    state = poll(OctoPrintState(), printer_body("ready"), job_body(completion=100.0, print_time=61, left=0))
    status = to_status(state, now=NOW)
    assert status.state is PrinterState.FINISHED
    assert status.print_start_time is None  # OctoPrint gives no start time after the fact


def test_adapter_started_after_a_cancel_cannot_tell_it_from_a_selected_file() -> None:
    state = poll(OctoPrintState(), printer_body("ready"), job_body(completion=None, print_time=None, left=None))
    assert to_status(state, now=NOW).state is PrinterState.IDLE


def test_print_whose_file_is_no_longer_selected_ended_unknown_and_shows_idle() -> None:
    # OctoPrint restarted while the adapter could not reach it: nothing is selected any more.
    state = poll(printing_state(), printer_body("ready"), IDLE_JOB, at=200.0)
    status = to_status(state, now=NOW)
    assert status.state is PrinterState.IDLE
    assert status.file_name is None


def test_409_is_offline_not_operational_with_the_job_state_text() -> None:
    state = poll(OctoPrintState(), None, job_body(None, completion=None, print_time=None, state="Offline"))
    status = to_status(state, now=NOW)
    assert status.state is PrinterState.OFFLINE
    assert status.offline_reason is OfflineReason.NOT_OPERATIONAL
    assert status.offline_detail is not None
    assert "Offline" in status.offline_detail


def test_print_whose_link_drops_is_failed_once_the_printer_is_back() -> None:
    down = poll(printing_state(), None, job_body(state="Offline after error"), at=105.0)
    assert to_status(down, now=NOW).offline_reason is OfflineReason.NOT_OPERATIONAL

    back = poll(down, printer_body("ready"), job_body(completion=None, print_time=None), at=110.0)
    status = to_status(back, now=NOW)
    assert status.state is PrinterState.FAILED
    assert status.progress == pytest.approx(22.98)


@pytest.mark.parametrize(
    ("text", "code", "meaning"),
    [
        ("Thermal Runaway, system stopped! Heater_ID: 0", "OCTOPRINT_THERMAL_RUNAWAY", "thermal_runaway"),
        ("MINTEMP triggered, system stopped! Heater_ID: bed", "OCTOPRINT_MINTEMP", "heater_too_cold"),
        ("Printer halted. kill() called!", "OCTOPRINT_HALTED", "firmware_halted"),
        ("Too many consecutive timeouts, printer still connected and alive?", "OCTOPRINT_LINK_LOST", "link_lost"),
        ("Something the firmware said", "OCTOPRINT_ERROR", "firmware_error"),
    ],
)
def test_a_failed_print_carries_the_error_octoprint_reported_as_a_code_with_a_meaning(
    text: str, code: str, meaning: str
) -> None:
    down = poll(printing_state(), None, job_body(state=f"Offline after error: {text}"), at=105.0)
    back = poll(down, printer_body("ready"), job_body(completion=None, print_time=None), at=110.0)

    status = to_status(back, now=NOW)
    assert status.state is PrinterState.FAILED
    assert status.error_codes == (code,)
    known = known_error(code)
    assert known is not None
    assert known.key == meaning
    started_again = poll(back, printer_body("printing"), job_body(), at=120.0)
    assert to_status(started_again, now=NOW).error_codes == ()  # the next print carries no old error


def test_a_print_failed_without_an_error_text_has_no_code() -> None:
    down = poll(printing_state(), None, job_body(state="Offline after error"), at=105.0)
    back = poll(down, printer_body("ready"), job_body(completion=None, print_time=None), at=110.0)
    assert to_status(back, now=NOW).error_codes == ()


def test_events_tell_start_done_and_survive_a_poll_answered_after_them() -> None:
    state = poll(OctoPrintState(), printer_body("ready"), IDLE_JOB, at=90.0)
    state = event(state, "PrintStarted", at=100.0)
    assert to_status(state, now=NOW).state is PrinterState.PRINTING
    assert state.print_started_at == NOW

    state = event(state, "PrintDone", at=101.0, time=1.2)
    # A poll sent before the event, answered after it, still says printing: it must not reopen the print.
    stale = poll(state, printer_body("printing"), job_body(completion=80.0), at=100.5)
    # One sent just after it sees the afterPrintDone script running ("Finishing").
    finishing = poll(stale, printer_body("printing", "finishing"), job_body(completion=100.0), at=101.5)
    status = to_status(finishing, now=NOW)
    assert status.state is PrinterState.FINISHED
    assert status.progress == 100.0
    assert status.elapsed_seconds == 1


def test_a_poll_after_the_event_window_wins_again() -> None:
    state = event(poll(OctoPrintState(), printer_body("ready"), IDLE_JOB, at=90.0), "PrintStarted", at=100.0)
    # The socket missed PrintPaused; the poll after the window corrects it.
    later = poll(state, printer_body("paused", text="Paused"), job_body(), at=100.0 + EVENT_AUTHORITY_S + 0.1)
    assert to_status(later, now=NOW).state is PrinterState.PAUSED


def test_cancel_events_are_cancelled_and_an_error_is_failed() -> None:
    printing = event(poll(OctoPrintState(), printer_body("ready"), IDLE_JOB, at=90.0), "PrintStarted")
    cancelled = event(event(printing, "PrintCancelled", time=5.0), "PrintFailed", reason="cancelled", time=5.0)
    assert to_status(cancelled, now=NOW).state is PrinterState.CANCELLED

    failed = event(printing, "PrintFailed", reason="error", time=5.0)
    assert to_status(failed, now=NOW).state is PrinterState.FAILED


def test_pause_and_resume_events() -> None:
    printing = event(poll(OctoPrintState(), printer_body("ready"), IDLE_JOB, at=90.0), "PrintStarted")
    paused = event(printing, "PrintPaused", at=101.0)
    assert to_status(paused, now=NOW).state is PrinterState.PAUSED
    assert to_status(event(paused, "PrintResumed", at=102.0), now=NOW).state is PrinterState.PRINTING


def test_other_events_change_nothing() -> None:
    state = printing_state()
    assert apply_event(state, {"type": "ZChange", "payload": {"new": 0.4}}, observed_at=1.0, now=NOW) is state


def current_message(*flags: str, completion: float | None, name: str = "whistle_v2.gcode") -> dict[str, object]:
    body = job_body(name, completion=completion)
    printer = printer_body(*flags)
    return {
        "state": printer["state"],
        "job": body["job"],
        "progress": body["progress"],
        "currentZ": 0.4,
        "temps": [{"time": 1, "tool0": {"actual": 200.0, "target": 215.0}, "bed": {"actual": 55.0, "target": 60.0}}],
        "logs": [],
        "messages": [],
    }


def test_current_brings_temperatures_and_progress_of_the_running_print() -> None:
    state = apply_current(printing_state(), current_message("printing", completion=50.0))
    status = to_status(state, now=NOW)
    assert status.state is PrinterState.PRINTING
    assert status.progress == 50.0
    assert status.nozzle_temp == 200.0
    assert status.bed_temp == 55.0


def test_each_extruder_that_reports_a_temperature_is_a_material_slot() -> None:
    one = to_status(printing_state(), now=NOW)
    assert [slot.id.label for slot in one.material_slots.slots] == ["T0"]

    message = current_message("printing", completion=50.0)
    message["temps"] = [
        {"time": 2, "tool0": {"actual": 200.0, "target": 215.0}, "tool1": {"actual": 24.0, "target": 0.0}, "bed": {}}
    ]
    two = to_status(apply_current(printing_state(), message), now=NOW)
    assert [slot.id.label for slot in two.material_slots.slots] == ["T0", "T1"]
    assert two.nozzle_temp == 200.0  # the first tool's, as before
    # A later sample without tool1 (OctoPrint sends what changed) keeps the printer's two tools.
    again = apply_current(apply_current(printing_state(), message), current_message("printing", completion=51.0))
    assert len(to_status(again, now=NOW).material_slots.slots) == 2


def test_a_late_current_after_print_done_does_not_reopen_the_print() -> None:
    done = event(printing_state(), "PrintDone", time=300.0)
    state = apply_current(done, current_message("printing", completion=97.0))
    status = to_status(state, now=NOW)
    assert status.state is PrinterState.FINISHED
    assert status.progress == 100.0


@pytest.mark.parametrize(
    ("printer", "message"),
    [
        ({"state": {"text": "Operational"}}, "state.flags"),
        ({"state": {"text": "x", "flags": {"printing": True}}}, "operational"),
        (
            {"state": {"text": "x", "flags": {"operational": True}}, "temperature": {"tool0": {"actual": "hot"}}},
            "tool0",
        ),
    ],
)
def test_a_body_of_the_wrong_shape_is_a_payload_error(printer: dict[str, object], message: str) -> None:
    with pytest.raises(OctoPrintPayloadError, match=message):
        poll(OctoPrintState(), printer, IDLE_JOB)


@pytest.mark.parametrize("raw", [b'{"state": {"text": "Print', b"[1, 2]", b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_a_payload_error(raw: bytes) -> None:
    with pytest.raises(OctoPrintPayloadError):
        decode_body(raw)


def test_a_body_nested_too_deep_is_a_payload_error() -> None:
    with pytest.raises(OctoPrintPayloadError, match="nested too deep"):
        decode_body(b'{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}")


@pytest.mark.parametrize(
    ("field", "value"),
    [("printTime", float("inf")), ("printTimeLeft", float("-inf")), ("printTime", 10**400)],
    ids=["inf-print-time", "minus-inf-time-left", "400-digit-print-time"],
)
def test_a_duration_that_is_not_a_finite_number_is_a_payload_error(field: str, value: float) -> None:
    job = job_body()
    job["progress"] = {**job["progress"], field: value}
    with pytest.raises(OctoPrintPayloadError):
        poll(OctoPrintState(), printer_body("printing"), job)


def test_non_finite_readings_are_unknown_and_long_paths_are_cut() -> None:
    state = poll(OctoPrintState(), printer_body("printing", tool0=float("nan")), job_body("x" * 100_000))
    status = to_status(state, now=NOW)
    assert status.nozzle_temp is None
    assert status.file_name == "x" * 500


def test_the_files_filament_estimate_per_tool_reaches_the_status_while_it_prints() -> None:
    old_shape = to_status(printing_state(), now=NOW)  # {"length", "volume"}: one tool
    assert old_shape.filament_estimate_mm == (810.0,)

    per_tool = job_body()
    per_tool["job"]["filament"] = {"tool0": {"length": 1200.5, "volume": 8.1}, "tool2": {"length": 30, "volume": 0.2}}  # type: ignore[index]
    status = to_status(poll(OctoPrintState(), printer_body("printing", text="Printing"), per_tool), now=NOW)
    assert status.filament_estimate_mm == (1200.5, 0.0, 30.0)

    unanalysed = job_body()
    unanalysed["job"]["filament"] = None  # type: ignore[index]
    status = to_status(poll(OctoPrintState(), printer_body("printing", text="Printing"), unanalysed), now=NOW)
    assert status.filament_estimate_mm == ()
    idle = to_status(poll(printing_state(), printer_body(), IDLE_JOB), now=NOW)
    assert idle.filament_estimate_mm == ()
