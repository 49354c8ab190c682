"""Bambu report merging and normalisation: what a user sees from a stream of full and partial reports."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from printfleet.domain.dispatch.sending import PrintOptions
from printfleet.domain.printer import PrinterState
from printfleet.printers.bambu.commands import MAX_TASK_ID
from printfleet.printers.bambu.protocol import (
    BambuCommands,
    BambuPayloadError,
    apply_report,
    encode_command,
    is_placeholder,
    normalise,
    parse_payload,
    stage_word,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _tray(tray_id: int, tray_type: str = "PLA", color: str = "FFFFFFFF", remain: int = 80) -> dict[str, Any]:
    return {"id": str(tray_id), "tray_type": tray_type, "tray_color": color, "remain": remain, "tag_uid": "00"}


def full_push(**overrides: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "command": "push_status",
        "sequence_id": "2021",
        "gcode_state": "RUNNING",
        "mc_percent": 37,
        "mc_remaining_time": 52,
        "layer_num": 41,
        "total_layer_num": 112,
        "gcode_file": "benchy.gcode.3mf",
        "subtask_name": "benchy",
        "stg_cur": 0,
        "print_error": 0,
        "print_type": "local",
        "task_id": "0",
        "subtask_id": "0",
        "nozzle_temper": 219.8,
        "nozzle_target_temper": 220.0,
        "bed_temper": 59.9,
        "bed_target_temper": 60.0,
        "chamber_temper": 31.0,
        "hms": [],
        "ams": {
            "ams": [
                {"id": "0", "humidity": "4", "tray": [_tray(0), _tray(1, color="000000FF"), _tray(2), {"id": "3"}]}
            ],
            "tray_now": "0",
        },
    }
    report.update(overrides)
    return {"print": report}


def merged(*reports: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for report in reports:
        state, _ = apply_report(state, copy.deepcopy(report))
    return state


def test_temperature_only_partial_keeps_file_and_progress() -> None:
    state = merged(full_push())
    state, changed = apply_report(
        state, {"print": {"command": "push_status", "sequence_id": "2022", "nozzle_temper": 221.5}}
    )
    status = normalise(state, last_seen=NOW)
    assert changed == {"nozzle_temper"}
    assert status.nozzle_temp == 221.5
    assert status.file_name == "benchy.gcode.3mf"
    assert status.job_name == "benchy"
    assert status.progress == 37.0
    assert status.state is PrinterState.PRINTING


def test_partial_ams_block_updates_only_the_named_tray() -> None:
    state = merged(full_push())
    before = normalise(state, last_seen=NOW).ams_trays
    state, changed = apply_report(
        state, {"print": {"ams": {"ams": [{"id": "0", "tray": [{"id": "1", "remain": 12, "tray_color": "00FF00FF"}]}]}}}
    )
    after = normalise(state, last_seen=NOW).ams_trays
    assert changed == {"ams"}
    assert [t.remain_percent for t in after] == [80, 12, 80, None]
    assert after[1].color == "00FF00FF"
    assert after[1].tray_type == "PLA"  # fields the partial did not name are kept
    assert (after[0], after[2], after[3]) == (before[0], before[2], before[3])


def test_tray_sent_as_only_its_id_is_an_empty_slot() -> None:
    state = merged(full_push())
    push = full_push()
    push["print"]["ams"]["ams"][0]["tray"][0] = {"id": "0"}
    state, changed = apply_report(state, push)
    tray = normalise(state, last_seen=NOW).ams_trays[0]
    assert "ams" in changed
    assert (tray.tray_type, tray.color, tray.remain_percent) == (None, None, None)


def test_ams_tray_fields_are_normalised() -> None:
    state = merged(
        full_push(), {"print": {"ams": {"tray_now": "255", "ams": [{"id": "0", "tray": [{"id": "2", "remain": -1}]}]}}}
    )
    status = normalise(state, last_seen=NOW)
    assert status.active_tray is None
    assert status.ams_trays[2].remain_percent is None
    assert status.ams_trays[1].color == "000000FF"
    assert [t.slot for t in status.ams_trays] == [0, 1, 2, 3]
    state, _ = apply_report(state, {"print": {"ams": {"tray_now": "2"}}})
    assert normalise(state, last_seen=NOW).active_tray == 2


def test_hms_list_is_replaced_not_merged() -> None:
    state = merged(full_push(hms=[{"attr": 0x03000200, "code": 0x0001000A}, {"attr": 1, "code": 2}]))
    assert normalise(state, last_seen=NOW).error_codes == ("HMS_0300_0200_0001_000A", "HMS_0000_0001_0000_0002")
    state, changed = apply_report(state, {"print": {"hms": []}})
    assert changed == {"hms"}
    assert normalise(state, last_seen=NOW).error_codes == ()


def test_report_repeating_known_values_changes_nothing() -> None:
    state = merged(full_push())
    _, changed = apply_report(state, full_push(sequence_id="2099"))
    assert changed == frozenset()


def test_command_replies_and_other_envelopes_are_not_state() -> None:
    state = merged(full_push())
    for payload in (
        {"print": {"command": "pause", "sequence_id": "5", "param": "", "result": "success"}},
        {"info": {"command": "get_version", "module": []}},
        {"mc_print": {"command": "push_info", "param": "[LINK] ok"}},
    ):
        state, changed = apply_report(state, payload)
        assert changed == frozenset()
    assert "param" not in state


@pytest.mark.parametrize(
    ("gcode_state", "expected"),
    [
        ("IDLE", PrinterState.IDLE),
        ("PREPARE", PrinterState.PREPARING),
        ("SLICING", PrinterState.PREPARING),
        ("INIT", PrinterState.PREPARING),
        ("RUNNING", PrinterState.PRINTING),
        ("PAUSE", PrinterState.PAUSED),
        ("FINISH", PrinterState.FINISHED),
        ("FAILED", PrinterState.FAILED),
    ],
)
def test_gcode_state_maps_to_printer_state(gcode_state: str, expected: PrinterState) -> None:
    status = normalise(merged(full_push(gcode_state=gcode_state)), last_seen=NOW)
    assert status.state is expected
    assert status.raw_state == gcode_state


def test_failed_with_user_stop_code_is_cancelled_without_an_error_code() -> None:
    cancelled = normalise(merged(full_push(gcode_state="FAILED", print_error=50348044)), last_seen=NOW)
    failed = normalise(merged(full_push(gcode_state="FAILED", print_error=0x0300800A)), last_seen=NOW)
    assert cancelled.state is PrinterState.CANCELLED
    assert cancelled.error_codes == ()
    assert failed.state is PrinterState.FAILED
    assert failed.error_codes == ("0300800A",)


def test_remaining_minutes_become_seconds_and_layers_pass_through() -> None:
    status = normalise(merged(full_push()), last_seen=NOW)
    assert status.remaining_seconds == 52 * 60
    assert (status.layer, status.total_layers) == (41, 112)
    assert status.stage == "printing"
    assert status.last_seen == NOW


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, None), ("0", None), ("1767225600", datetime(2026, 1, 1, tzinfo=UTC))]
)
def test_start_time_only_when_the_printer_gives_one(raw: str | None, expected: datetime | None) -> None:
    push = full_push() if raw is None else full_push(gcode_start_time=raw)
    assert normalise(merged(push), last_seen=NOW).print_start_time == expected


@pytest.mark.parametrize(
    ("task_id", "subtask_id", "expected"),
    [("0", "0", None), ("", "", None), ("0", "731", "731"), ("90412", "731", "90412"), (12, "0", "12")],
)
def test_native_job_id_only_when_non_zero(task_id: Any, subtask_id: Any, expected: str | None) -> None:
    status = normalise(merged(full_push(task_id=task_id, subtask_id=subtask_id)), last_seen=NOW)
    assert status.native_job_id == expected


def test_stage_words() -> None:
    assert stage_word(-1) == "idle"
    assert stage_word(255) == "idle"
    assert stage_word("2") == "heatbed_preheating"
    assert stage_word(16) == "paused_by_user"
    assert stage_word(99) == "stage_99"
    assert stage_word(None) is None


def test_placeholder_after_reconnect_does_not_overwrite_the_running_print() -> None:
    state = merged(full_push())
    for placeholder in (
        {"print": {"command": "push_status", "gcode_state": "", "subtask_name": "", "mc_percent": 0}},
        {"print": {"command": "push_status", "gcode_state": "UNKNOWN"}},
        {"print": {"command": "push_status", "subtask_name": ""}},
    ):
        state, changed = apply_report(state, placeholder)
        assert changed == frozenset()
    status = normalise(state, last_seen=NOW)
    assert (status.state, status.job_name, status.progress) == (PrinterState.PRINTING, "benchy", 37.0)
    assert not is_placeholder(state)


def test_state_without_a_known_gcode_state_is_a_placeholder() -> None:
    assert is_placeholder({})
    assert is_placeholder(merged({"print": {"nozzle_temper": 25.0}}))
    assert is_placeholder({"gcode_state": "RUNNING", "subtask_name": "", "gcode_file": ""})
    assert not is_placeholder({"gcode_state": "RUNNING", "subtask_name": "", "gcode_file": "a.gcode"})
    assert not is_placeholder({"gcode_state": "IDLE"})


def test_a_new_print_with_empty_subtask_name_is_not_a_placeholder() -> None:
    state = merged(full_push(gcode_state="FINISH"))
    state, changed = apply_report(
        state, {"print": {"gcode_state": "PREPARE", "gcode_file": "/sdcard/cube.gcode", "subtask_name": ""}}
    )
    assert {"gcode_state", "gcode_file", "subtask_name"} <= changed
    status = normalise(state, last_seen=NOW)
    assert (status.state, status.file_name, status.job_name) == (PrinterState.PREPARING, "/sdcard/cube.gcode", None)


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b"[1, 2]", b'"text"', b"42", b""])
def test_malformed_payloads_raise_payload_error(raw: bytes) -> None:
    with pytest.raises(BambuPayloadError):
        parse_payload(raw)


def test_print_member_that_is_not_an_object_is_a_payload_error() -> None:
    with pytest.raises(BambuPayloadError):
        apply_report({}, {"print": ["RUNNING"]})
    with pytest.raises(BambuPayloadError):
        apply_report({}, ["print"])  # type: ignore[arg-type]


def test_commands_carry_increasing_sequence_ids() -> None:
    commands = BambuCommands()
    payloads = [commands.pushall(), commands.pause(), commands.resume(), commands.stop(), commands.get_version()]
    ids = [int(next(iter(p.values()))["sequence_id"]) for p in payloads]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert payloads[0] == {"pushing": {"sequence_id": "1", "command": "pushall"}}
    assert payloads[1]["print"] == {"sequence_id": "2", "command": "pause", "param": ""}
    assert payloads[3]["print"]["command"] == "stop"


def test_project_file_starts_a_3mf_from_the_sd_card() -> None:
    body = BambuCommands().project_file("jobs/bracket.gcode.3mf", plate=2)["print"]
    assert body["command"] == "project_file"
    assert body["param"] == "Metadata/plate_2.gcode"
    assert body["url"] == "ftp:///jobs/bracket.gcode.3mf"
    assert body["subtask_name"] == "bracket"
    assert body["md5"] == ""
    assert body["profile_id"] == "0"
    assert body["task_id"] == body["subtask_id"] == body["project_id"] != "0"
    with pytest.raises(ValueError, match="1-based"):
        BambuCommands().project_file("x.3mf", plate=0)


def test_project_file_carries_the_job_name_and_every_option() -> None:
    options = PrintOptions(
        ams_mapping=(2, -1, 5),
        bed_leveling=False,
        flow_cali=True,
        vibration_cali=True,
        timelapse=True,
        bed_type="textured_plate",
    )
    body = BambuCommands().project_file("/bracket.gcode.3mf", subtask_name="Bracket for Ann", options=options)
    wire = json.loads(encode_command(body))["print"]
    assert wire["subtask_name"] == "Bracket for Ann"
    assert wire["url"] == "ftp:///bracket.gcode.3mf"
    assert wire["use_ams"] is True  # a JSON bool, never 1 (H2D reads an int as a nozzle index)
    assert wire["ams_mapping"] == [2, -1, 5]
    assert (wire["bed_leveling"], wire["auto_bed_leveling"]) == (False, 0)
    assert (wire["flow_cali"], wire["vibration_cali"], wire["timelapse"]) == (True, True, True)
    assert wire["bed_type"] == "textured_plate"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (PrintOptions(), False),
        (PrintOptions(ams_mapping=(-1, 254)), False),  # unused slot and the external spool: no AMS
        (PrintOptions(ams_mapping=(254, 3)), True),
        (PrintOptions(ams_mapping=(3,), use_ams=False), False),  # the caller's choice wins
        (PrintOptions(use_ams=True), True),
    ],
)
def test_use_ams_follows_the_mapping_unless_given(options: PrintOptions, expected: bool) -> None:
    assert BambuCommands().project_file("a.gcode.3mf", options=options)["print"]["use_ams"] is expected


def test_every_start_gets_a_fresh_task_id_within_the_printers_range() -> None:
    frozen = BambuCommands(clock=lambda: 1_780_000_000.123)  # same millisecond for every call
    ids = [int(frozen.project_file("a.gcode.3mf")["print"]["task_id"]) for _ in range(3)]
    assert len(set(ids)) == 3
    assert all(1 <= task_id <= MAX_TASK_ID for task_id in ids)
    assert ids[0] == 1_780_000_000_123 % MAX_TASK_ID  # epoch ms folded into 2^31-1, not clamped to its top

    wrapping = BambuCommands(clock=lambda: MAX_TASK_ID / 1000)  # epoch ms ≡ 0 (mod 2^31-1): never "0"
    assert wrapping.next_task_id() == "1"


def test_gcode_file_takes_the_absolute_path_on_the_sd_card() -> None:
    body = BambuCommands().gcode_file("/cube.gcode")["print"]
    assert body["command"] == "gcode_file"
    assert body["param"] == "/sdcard/cube.gcode"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gcode_start_time", "99999999999999"),
        ("mc_percent", 10**400),
        ("mc_percent", float("nan")),
        ("nozzle_temper", float("inf")),
        ("layer_num", float("-inf")),
        ("mc_remaining_time", 2**70),
    ],
    ids=["start-time-past-9999", "400-digit-percent", "nan-percent", "inf-nozzle", "minus-inf-layer", "2**70-minutes"],
)
def test_an_unusable_number_is_left_out_named_and_dropped_from_the_kept_state(field: str, value: Any) -> None:
    state = merged(full_push(**{field: value}))
    rejected: list[str] = []
    status = normalise(state, last_seen=NOW, rejected=rejected)
    assert rejected == [field]
    assert field not in state
    assert status.state is PrinterState.PRINTING
    assert status.file_name == "benchy.gcode.3mf"
    again: list[str] = []
    normalise(state, last_seen=NOW, rejected=again)
    assert again == []


def test_unusable_nested_numbers_read_as_unknown() -> None:
    ams = {"ams": [{"id": "0", "tray": [_tray(0) | {"remain": float("inf")}]}], "tray_now": float("nan")}
    hms = [{"attr": float("inf"), "code": 1}, {"attr": 0x03000200, "code": 0x0001000A}]
    status = normalise(merged(full_push(ams=ams, hms=hms)), last_seen=NOW)
    assert status.ams_trays[0].remain_percent is None
    assert status.active_tray is None
    assert status.error_codes == ("HMS_0300_0200_0001_000A",)


def test_printer_texts_are_cut_and_wrong_types_dropped() -> None:
    status = normalise(
        merged(full_push(gcode_file="x" * 1_000_000, subtask_name=["not", "text"], task_id={"a": 1})), last_seen=NOW
    )
    assert status.file_name == "x" * 500
    assert status.job_name is None
    assert status.native_job_id is None


def test_nesting_too_deep_for_the_decoder_is_a_payload_error() -> None:
    with pytest.raises(BambuPayloadError, match="nested too deep"):
        parse_payload(b'{"print":{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}}")


def test_the_print_mapping_is_read_and_follows_a_report_that_changes_it() -> None:
    state = merged(full_push(mapping=[259, 65535]))
    assert normalise(state, last_seen=NOW).ams_mapping == (7, -1)
    state, _ = apply_report(state, {"print": {"command": "push_status", "nozzle_temper": 220.0}})
    assert normalise(state, last_seen=NOW).ams_mapping == (7, -1)  # kept across partial reports
    state, _ = apply_report(state, {"print": {"command": "push_status", "mapping": [2]}})
    assert normalise(state, last_seen=NOW).ams_mapping == (2,)
    assert normalise(merged(full_push()), last_seen=NOW).ams_mapping == ()
