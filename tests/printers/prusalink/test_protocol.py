"""PrusaLink bodies → PrinterStatus: both firmware shapes, 204, every state word, unreadable bodies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from printfleet.domain.printer import PrinterState
from printfleet.printers.prusalink.protocol import (
    PrusaLinkPayloadError,
    StorageInfo,
    decode_body,
    file_path_of,
    parse_status,
    parse_storage,
    thumbnail_ref,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

BUDDY_STATUS = {
    "storage": {"path": "/usb/", "name": "usb", "read_only": False},
    "printer": {
        "state": "PRINTING",
        "temp_nozzle": 214.9,
        "target_nozzle": 215.0,
        "temp_bed": 59.6,
        "target_bed": 60.0,
        "axis_z": 2.4,
        "flow": 100,
        "speed": 100,
    },
    "job": {"id": 17, "progress": 42, "time_remaining": 520, "time_printing": 526},
}
BUDDY_JOB = {
    "id": 17,
    "state": "PRINTING",
    "progress": 42,
    "time_remaining": 520,
    "time_printing": 526,
    "file": {
        "name": "BENCHY~1.BGC",
        "display_name": "benchy_0.4n_0.2mm_PLA_MK4_1h2m.bgcode",
        "path": "/usb",
        "size": 1048576,
        "m_timestamp": 1717430400,
    },
}
PI_STATUS = {
    "storage": [
        {"path": "/local", "read_only": False, "name": "PrusaLink gcodes", "free_space": 28248391680},
        {"path": "/sdcard", "read_only": True},
    ],
    "printer": {"state": "PAUSED", "temp_nozzle": 180.2, "target_nozzle": 215.0, "temp_bed": 60.1},
    "job": {"id": 4, "progress": 12.5, "time_remaining": 3600},
}
PI_JOB = {
    "id": 4,
    "state": "PAUSED",
    "progress": 12.5,
    "time_remaining": 3600,
    "time_printing": 610,
    "file": {
        "name": "benchy.gcode",
        "display_name": "benchy.gcode",
        "path": "/local/examples/benchy.gcode",
        "display_path": "/local/examples/benchy.gcode",
        "m_timestamp": 1717430400,
    },
}


def test_buddy_print_reports_job_id_file_times_and_temperatures() -> None:
    status = parse_status(BUDDY_STATUS, BUDDY_JOB, now=NOW)

    assert status.state is PrinterState.PRINTING
    assert status.raw_state == "PRINTING"
    assert status.native_job_id == "17"
    assert status.file_name == "/usb/benchy_0.4n_0.2mm_PLA_MK4_1h2m.bgcode"  # the long name, not BENCHY~1.BGC
    assert status.job_name == "benchy_0.4n_0.2mm_PLA_MK4_1h2m.bgcode"
    assert status.progress == 42.0
    assert status.remaining_seconds == 520
    assert status.elapsed_seconds == 526
    assert status.print_start_time is None  # the tracker derives it once from elapsed_seconds
    assert (status.nozzle_temp, status.nozzle_target, status.bed_temp, status.bed_target) == (214.9, 215.0, 59.6, 60.0)
    assert status.last_seen == NOW
    assert status.extra["storage"] == "/usb/"


def test_pi_storage_list_and_full_file_path_are_read() -> None:
    status = parse_status(PI_STATUS, PI_JOB, now=NOW)

    assert status.state is PrinterState.PAUSED
    assert status.native_job_id == "4"
    assert status.file_name == "/local/examples/benchy.gcode"
    assert status.progress == 12.5
    assert status.elapsed_seconds == 610
    assert status.bed_target is None
    assert status.extra["storage"] == "/local"


def test_no_job_204_gives_an_idle_printer_without_job_fields() -> None:
    body = {"storage": {"path": "/usb/", "name": "usb", "read_only": False}, "printer": {"state": "IDLE"}}

    status = parse_status(body, None, now=NOW)

    assert status.state is PrinterState.IDLE
    assert (status.native_job_id, status.file_name, status.job_name, status.progress) == (None, None, None, None)


def test_status_job_numbers_are_used_when_job_endpoint_raced_to_204() -> None:
    status = parse_status(BUDDY_STATUS, None, now=NOW)

    assert status.state is PrinterState.PRINTING
    assert status.native_job_id == "17"
    assert status.remaining_seconds == 520
    assert status.file_name is None


@pytest.mark.parametrize(
    ("word", "with_job", "state", "stage"),
    [
        ("IDLE", False, PrinterState.IDLE, None),
        ("READY", False, PrinterState.IDLE, "ready"),
        ("BUSY", True, PrinterState.PREPARING, None),
        ("BUSY", False, PrinterState.IDLE, "busy"),
        ("PRINTING", True, PrinterState.PRINTING, None),
        ("PAUSED", True, PrinterState.PAUSED, None),
        ("FINISHED", True, PrinterState.FINISHED, None),
        ("FINISHED", False, PrinterState.FINISHED, None),  # the Pi drops the job at once, keeps the state
        ("STOPPED", True, PrinterState.CANCELLED, None),
        ("ERROR", True, PrinterState.ERROR, None),
        ("ATTENTION", True, PrinterState.PAUSED, "attention"),
        ("ATTENTION", False, PrinterState.IDLE, "attention"),
    ],
)
def test_state_words_map_to_normalised_states(
    word: str, with_job: bool, state: PrinterState, stage: str | None
) -> None:
    body: dict[str, object] = {"printer": {"state": word}}
    job = {**BUDDY_JOB, "state": word} if with_job else None

    status = parse_status(body, job, now=NOW)

    assert (status.state, status.stage, status.raw_state) == (state, stage, word)


def test_attention_mid_print_keeps_the_same_print_identity() -> None:
    printing = parse_status(BUDDY_STATUS, BUDDY_JOB, now=NOW)
    attention = parse_status(
        {**BUDDY_STATUS, "printer": {"state": "ATTENTION"}}, {**BUDDY_JOB, "state": "PRINTING"}, now=NOW
    )

    assert attention.state.is_active
    assert (attention.native_job_id, attention.file_name) == (printing.native_job_id, printing.file_name)


def test_negative_remaining_time_means_unknown() -> None:
    status = parse_status(BUDDY_STATUS, {**BUDDY_JOB, "time_remaining": -1}, now=NOW)

    assert status.remaining_seconds is None


def test_unhealthy_printer_message_is_kept_for_display() -> None:
    body = {"printer": {"state": "IDLE", "status_printer": {"ok": False, "message": "Printer not connected"}}}

    assert parse_status(body, None, now=NOW).extra["printer_message"] == "Printer not connected"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"path": "/usb/", "name": "usb", "read_only": False}, (StorageInfo("/usb/", "usb", False, None),)),
        (
            [{"path": "/local", "read_only": False, "free_space": 10}, {"path": "/sdcard", "read_only": True}],
            (StorageInfo("/local", None, False, 10), StorageInfo("/sdcard", None, True, None)),
        ),
        (None, ()),
        ("usb", ()),
        ([{"name": "no path"}], ()),
    ],
)
def test_storage_is_an_object_on_buddy_and_a_list_on_the_pi(value: object, expected: tuple[StorageInfo, ...]) -> None:
    assert parse_storage(value) == expected


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ({"name": "BENCHY~1.BGC", "path": "/usb"}, "/usb/BENCHY~1.BGC"),
        ({"name": "BENCHY~1.BGC", "path": "/usb/"}, "/usb/BENCHY~1.BGC"),
        (
            {"name": "RASPBE~1.BGC", "display_name": "raspberry_pi_case.bgcode", "path": "/usb"},
            "/usb/raspberry_pi_case.bgcode",
        ),
        (
            {"name": "RASPBE~1.BGC", "display_name": "raspberry_pi_case.bgcode", "path": "/usb/RASPBE~1.BGC"},
            "/usb/raspberry_pi_case.bgcode",
        ),
        (
            {"name": "GRIDFI~12.BGC", "display_name": "gridfinity bin 2x3.bgcode", "path": "/usb/bins"},
            "/usb/bins/gridfinity bin 2x3.bgcode",
        ),
        ({"name": "RASPBE~1.BGC", "display_name": "", "path": "/usb"}, "/usb/RASPBE~1.BGC"),
        ({"name": "RASPBE~1.BGC", "display_name": "../etc/x.bgcode", "path": "/usb"}, "/usb/RASPBE~1.BGC"),
        ({"name": "benchy.bgcode", "display_name": "Benchy (copy).bgcode", "path": "/local"}, "/local/benchy.bgcode"),
        ({"name": "benchy.gcode", "path": "/local/examples/benchy.gcode"}, "/local/examples/benchy.gcode"),
        ({"name": "benchy.gcode"}, "benchy.gcode"),
        ({}, None),
    ],
)
def test_file_path_joins_folder_and_the_long_name_once(file: dict[str, object], expected: str | None) -> None:
    assert file_path_of(file) == expected


@pytest.mark.parametrize(
    "raw",
    [b'{"printer": {"state": "PRINT', b"<html>Not found</html>", b"[1, 2]", b"\xff\xfe"],
)
def test_unreadable_bodies_raise_payload_error(raw: bytes) -> None:
    with pytest.raises(PrusaLinkPayloadError):
        decode_body(raw)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"printer": "PRINTING"},
        {"printer": {"temp_bed": 20.0}},
        {"printer": {"state": "LEVITATING"}},
        {"printer": {"state": "IDLE", "temp_bed": "hot"}},
    ],
)
def test_bodies_without_a_known_state_or_with_wrong_types_raise_payload_error(body: dict[str, object]) -> None:
    with pytest.raises(PrusaLinkPayloadError):
        parse_status(body, None, now=NOW)


def test_a_body_nested_too_deep_is_a_payload_error() -> None:
    with pytest.raises(PrusaLinkPayloadError, match="nested too deep"):
        decode_body(b'{"printer": ' + b"[" * 50_000 + b"]" * 50_000 + b"}")


@pytest.mark.parametrize("value", [10**400, 1e300], ids=["400-digit-int", "1e300-job-id"])
def test_a_number_out_of_range_is_a_payload_error(value: float) -> None:
    status = {**BUDDY_STATUS, "job": {**BUDDY_STATUS["job"], "id": value}}
    with pytest.raises(PrusaLinkPayloadError, match="out of range"):
        parse_status(status, None, now=NOW)


def test_printer_supplied_names_are_cut() -> None:
    job = {**BUDDY_JOB, "file": {"name": "A" * 10_000, "display_name": "b" * 1_000_000, "path": "/usb"}}
    status = parse_status(BUDDY_STATUS, job, now=NOW)
    assert status.job_name == "b" * 500
    assert status.file_name is not None
    assert len(status.file_name) == 500


def test_the_files_filament_estimate_comes_from_its_meta_per_tool_or_in_all() -> None:
    def with_meta(meta: object) -> dict[str, object]:
        job: dict[str, object] = dict(PI_JOB)
        file = job["file"]
        assert isinstance(file, dict)
        job["file"] = {**file, "meta": meta}
        return job

    per_tool = parse_status(PI_STATUS, with_meta({"filament used [g] per tool": [14.42, 0, 3.5]}), now=NOW)
    assert per_tool.filament_estimate_g == (14.42, 0.0, 3.5)
    one = parse_status(PI_STATUS, with_meta({"filament used [g]": 15.42, "filament_type": "PLA"}), now=NOW)
    assert one.filament_estimate_g == (15.42,)
    assert parse_status(PI_STATUS, with_meta({"filament used [g]": "lots"}), now=NOW).filament_estimate_g == ()
    assert parse_status(BUDDY_STATUS, BUDDY_JOB, now=NOW).filament_estimate_g == ()  # no meta: no estimate


@pytest.mark.parametrize(
    ("refs", "expected"),
    [
        ({"thumbnail": "/thumb/l/usb/BENCHY~1.BGC"}, "/thumb/l/usb/BENCHY~1.BGC"),
        ({"thumbnail": "/api/thumbnails/local/a.gcode.orig.png"}, "/api/thumbnails/local/a.gcode.orig.png"),
        ({"thumbnail": "//elsewhere.example/x.png"}, None),  # never another host
        ({"thumbnail": "http://elsewhere.example/x.png"}, None),
        ({"icon": "/thumb/s/usb/X.BGC"}, None),
        ("not an object", None),
    ],
)
def test_the_preview_a_job_file_names_is_a_path_on_the_printer_only(refs: object, expected: str | None) -> None:
    assert thumbnail_ref({"name": "X.BGC", "refs": refs}) == expected
