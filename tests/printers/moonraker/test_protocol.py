"""The Moonraker mapping on frames captured from a real Moonraker 0.11.0 + Klippy (research samples)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from printfleet.domain.printer import PrinterState, PrinterStatus
from printfleet.printers.moonraker.protocol import (
    MoonrakerPayloadError,
    MoonrakerState,
    apply_history,
    apply_objects,
    decode_frame,
    extruder_count,
    objects_of,
    to_status,
    update_params,
)

FRAMES = Path(__file__).resolve().parents[2] / "fixtures" / "moonraker" / "frames_print.jsonl"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _printing() -> MoonrakerState:
    full = {
        "print_stats": {
            "filename": "benchy.gcode",
            "total_duration": 30.0,
            "print_duration": 25.0,
            "state": "printing",
            "message": "",
            "info": {"total_layer": 20, "current_layer": 6},
        },
        "virtual_sdcard": {"progress": 0.25, "is_active": True},
        "extruder": {"temperature": 214.5, "target": 215.0},
        "heater_bed": {"temperature": 60.1, "target": 60.0},
        "webhooks": {"state": "ready", "state_message": "Printer is ready"},
    }
    return apply_objects(MoonrakerState(), full, now=NOW, replace=True)


def test_a_delta_with_only_total_duration_keeps_the_state_and_the_rest_of_print_stats() -> None:
    state = apply_objects(_printing(), {"print_stats": {"total_duration": 31.0}}, now=NOW)
    state = apply_objects(state, {"print_stats": {"info": {"current_layer": 7}}}, now=NOW)
    status = to_status(state, now=NOW)
    assert status.state is PrinterState.PRINTING
    assert status.file_name == "benchy.gcode"
    assert (status.layer, status.total_layers) == (7, 20)
    assert status.progress == 25.0
    assert status.elapsed_seconds == 25
    assert (status.nozzle_temp, status.nozzle_target, status.bed_temp, status.bed_target) == (214.5, 215.0, 60.1, 60.0)
    assert status.print_start_time == NOW - timedelta(seconds=30)


def test_a_print_reset_to_standby_is_cancelled_and_klippy_shutdown_is_an_error() -> None:
    reset = apply_objects(_printing(), {"print_stats": {"state": "standby", "filename": ""}}, now=NOW)
    status = to_status(reset, now=NOW)
    assert (status.state, status.file_name) == (PrinterState.CANCELLED, "benchy.gcode")
    shutdown = apply_objects(_printing(), {"webhooks": {"state": "shutdown"}}, now=NOW)
    assert to_status(shutdown, now=NOW).state is PrinterState.ERROR


def test_a_print_that_started_and_ended_between_two_updates_is_an_inferred_start() -> None:
    ended = apply_objects(_printing(), {"print_stats": {"state": "complete"}}, now=NOW)
    assert not ended.inferred_start  # seen printing: an ordinary end
    again = apply_objects(ended, {"print_stats": {"total_duration": 2.0, "filename": "next.gcode"}}, now=NOW)
    assert again.inferred_start
    assert to_status(again, now=NOW).file_name == "next.gcode"
    quiet = apply_objects(again, {"extruder": {"temperature": 30.0}}, now=NOW)
    assert not quiet.inferred_start  # nothing about the print changed: no new print
    fresh = apply_objects(MoonrakerState(), {"print_stats": {"state": "complete", "filename": "x.gcode"}}, now=NOW)
    assert not fresh.inferred_start  # the first sight of an ended print is not a print starting


def test_a_long_pause_keeps_the_print_and_its_name_but_a_rewound_total_is_another_print() -> None:
    start = (NOW - timedelta(seconds=30)).timestamp()
    named = apply_history(_printing(), {"job_id": "00002A", "filename": "benchy.gcode", "start_time": start})
    paused = apply_objects(named, {"print_stats": {"state": "paused"}}, now=NOW)
    later = NOW + timedelta(hours=2)  # no total_duration update for two hours, then a temperature change
    still = to_status(apply_objects(paused, {"extruder": {"temperature": 180.0}}, now=later), now=later)
    assert (still.state, still.native_job_id, still.print_start_time) == (
        PrinterState.PAUSED,
        f"00002A@{int(start)}",
        NOW - timedelta(seconds=30),
    )
    again = apply_objects(named, {"print_stats": {"total_duration": 1.0}}, now=later)
    status = to_status(again, now=later)
    assert status.native_job_id is None
    assert status.print_start_time == later - timedelta(seconds=1)


def test_a_history_entry_names_the_print_only_when_file_and_start_agree() -> None:
    state = _printing()
    start = (NOW - timedelta(seconds=30)).timestamp()
    assert apply_history(state, {"job_id": "000001", "filename": "other.gcode", "start_time": start}) is state
    assert apply_history(state, {"job_id": "000001", "filename": "benchy.gcode", "start_time": start - 3600}) is state
    named = apply_history(state, {"job_id": "000001", "filename": "benchy.gcode", "start_time": start})
    assert to_status(named, now=NOW).native_job_id == f"000001@{int(start)}"


def test_replaying_a_captured_session_gives_each_print_its_states_and_one_key() -> None:
    """frames1.jsonl: a print paused and completed, two prints cancelled, then SDCARD_RESET_FILE."""
    state = MoonrakerState()
    seen: list[PrinterStatus] = []
    lines = [json.loads(line) for line in FRAMES.read_text().splitlines()]
    # The capture's wall clock: the first history entry started when its print's first update came.
    first_start = next(
        line["msg"]["params"][0]["job"]["start_time"]
        for line in lines
        if line["msg"].get("method") == "notify_history_changed"
    )
    first_update_t = next(
        line["t"]
        for line in lines
        if line["msg"].get("method") == "notify_status_update"
        and line["msg"]["params"][0].get("print_stats", {}).get("state") == "printing"
    )
    for line in lines:
        message, now = line["msg"], datetime.fromtimestamp(first_start - first_update_t + line["t"], UTC)
        result = message.get("result")
        if isinstance(result, dict) and "status" in result:
            state = apply_objects(state, objects_of(result["status"]), now=now, replace=True)
        elif message.get("method") == "notify_status_update":
            state = apply_objects(state, update_params(message["params"]), now=now)
        elif message.get("method") == "notify_history_changed":
            state = apply_history(state, message["params"][0]["job"])
        else:
            continue
        status = to_status(state, now=now)
        if not seen or seen[-1].lifecycle_key() != status.lifecycle_key():
            seen.append(status)
    states = [status.state for status in seen]
    assert [s for i, s in enumerate(states) if i == 0 or s is not states[i - 1]] == [
        PrinterState.IDLE,
        PrinterState.PRINTING,
        PrinterState.PAUSED,
        PrinterState.FINISHED,
        PrinterState.PRINTING,
        PrinterState.CANCELLED,
        PrinterState.PRINTING,
        PrinterState.CANCELLED,
        PrinterState.IDLE,
    ]
    keys = [status.native_job_id for status in seen if status.native_job_id]
    assert len(set(keys)) == 3, keys  # each print named by its own history entry, never re-keyed within a print
    assert all("@" in key for key in keys)


@pytest.mark.parametrize(
    "frame",
    ['{"method": "notify_status_update"', "[1, 2]", '{"params": ' * 5000 + "1" + "}" * 5000],
)
def test_frames_that_are_no_json_object_are_refused_with_the_protocol_error(frame: str) -> None:
    with pytest.raises(MoonrakerPayloadError):
        decode_frame(frame)


def test_an_update_without_its_object_array_is_refused() -> None:
    for params in (None, [], {"print_stats": {}}, [["print_stats"]], [{"print_stats": 3}]):
        with pytest.raises(MoonrakerPayloadError):
            update_params(params)


def test_the_length_extruded_by_the_current_print_is_reported_only_while_it_prints() -> None:
    state = apply_objects(_printing(), {"print_stats": {"filament_used": 1234.5}}, now=NOW)
    assert to_status(state, now=NOW).filament_used_mm == 1234.5
    ended = apply_objects(state, {"print_stats": {"state": "complete"}}, now=NOW)
    assert to_status(ended, now=NOW).filament_used_mm is None


def test_each_extruder_klipper_lists_is_a_material_slot() -> None:
    listed = {"objects": ["webhooks", "heater_bed", "extruder", "extruder1", "extruder_stepper belt", "extruder2"]}
    assert extruder_count(listed) == 3
    assert extruder_count({"objects": ["webhooks", "extruder"]}) == 1
    assert extruder_count({"objects": "nonsense"}) == 1
    assert extruder_count(None) == 1
    status = to_status(_printing().replace(tools=3), now=NOW)
    assert [slot.id.label for slot in status.material_slots.slots] == ["T0", "T1", "T2"]
