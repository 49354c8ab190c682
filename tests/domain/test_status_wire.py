"""A printer's status in its wire form (what one process of a farm hands the others) comes back the same, field for
field, for real shapes: an X1C's and an H2D's AMS reports from the research samples, a print under way with its
spools, and an offline printer; an idle status is small; a malformed one is refused naming the field."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from printfleet.domain.materials.ams import merge_material_report
from printfleet.domain.materials.slots import SlotSpool, bambu_slots, tool_slots
from printfleet.domain.printer import AmsTray, OfflineReason, PrinterState, PrinterStatus, UpNext
from printfleet.domain.status_wire import status_from_wire, status_to_wire
from tests.domain.test_material_slots import _sample


def roundtrip(status: PrinterStatus) -> PrinterStatus:
    """Through JSON text, as the store and the announcements carry it."""
    return status_from_wire(json.loads(json.dumps(status_to_wire(status))))


def assert_same(back: PrinterStatus, status: PrinterStatus) -> None:
    for field in dataclasses.fields(PrinterStatus):  # the fields == ignores too
        assert getattr(back, field.name) == getattr(status, field.name), field.name


@pytest.mark.parametrize("sample", ["ams_full_pushall_x1c.json", "ams_h2d_dual_nozzle.json"])
def test_a_printing_status_with_its_ams_comes_back_the_same(sample: str) -> None:
    slots = bambu_slots(merge_material_report(None, _sample(sample)["payload"]["print"]))
    assert slots.slots, "the sample has slots"
    status = PrinterStatus(
        state=PrinterState.PRINTING,
        raw_state="RUNNING",
        file_name="/data/Metadata/plate_1.gcode",
        job_name="Benchy",
        progress=42.0,
        remaining_seconds=3600,
        print_start_time=datetime(2026, 12, 5, 5, 0, tzinfo=UTC),
        nozzle_temp=219.5,
        bed_temp=55.0,
        layer=12,
        total_layers=240,
        ams_trays=(AmsTray(ams_id=0, tray_id=2, tray_type="PLA", color="FF6A13FF", remain_percent=80),),
        active_tray=2,
        error_codes=("0300-0100-0001-0007",),
        last_seen=datetime(2026, 12, 5, 6, 0, 1, 250000, tzinfo=timezone(timedelta(hours=1))),
        material_slots=slots,
        ams_mapping=(2, -1),
        filament_estimate_g=(12.5, 3.0),
        slot_spools={slots.slots[0].id.label: SlotSpool(spool_id=7, name="Bambu PLA Basic Orange", grams_left=812.5)},
        extra={"thumbnail": "/thumb.png"},
        next_print=UpNext(print_id=3, job_name="Gear", start=None),
        thumbnail_url="/api/v1/jobs/9/preview",
        plate_needs_clearing=True,
        sending="uploading",
    )
    back = roundtrip(status)
    assert_same(back, status)
    assert back.last_seen is not None
    assert back.last_seen.utcoffset() == timedelta(hours=1)


def test_an_idle_status_is_small_and_an_offline_one_keeps_its_reason() -> None:
    idle = PrinterStatus(state=PrinterState.IDLE, nozzle_temp=24.0, material_slots=tool_slots(1))
    assert_same(roundtrip(idle), idle)
    assert len(json.dumps(status_to_wire(idle))) < 120
    offline = PrinterStatus.offline(OfflineReason.AUTH_FAILED, detail="the access code was refused")
    back = roundtrip(offline)
    assert_same(back, offline)
    assert back.offline_reason is OfflineReason.AUTH_FAILED


@pytest.mark.parametrize(
    ("wire", "named"),
    [
        ({}, "state"),
        ({"state": "melting"}, "status.state"),
        ({"state": "idle", "progress": "12"}, "status.progress"),
        ({"state": "idle", "last_seen": "2026-12-05T06:00:00"}, "no UTC offset"),
        ({"state": "idle", "ams_trays": [{"ams_id": 0}]}, "status.ams_trays[0]"),
        ({"state": "idle", "colour": "red"}, "colour"),
    ],
)
def test_a_malformed_wire_status_is_refused_naming_the_field(wire: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named.replace("[", r"\[").replace("]", r"\]")):
        status_from_wire(wire)
