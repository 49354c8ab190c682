"""Slot labels and what a reading changes in the stored slot records (pure): a baseline announces nothing, a
reading equal to the records announces nothing, a new spool resets the assignment, a person's tool assignment
stays, and spool_low fires once per crossing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from printfleet.domain.materials.slot_events import SlotEventKind
from printfleet.domain.materials.slot_records import SlotRecord, low_stock_crossing, parse_slot, plan_sync
from printfleet.domain.materials.slots import MaterialSlots, Slot, SlotId, SlotKind, tool_slots

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
T0 = SlotId(SlotKind.AMS, 0, 0)
T1 = SlotId(SlotKind.AMS, 0, 1)
PLA = Slot(
    id=T0, present=True, material="PLA", color="000000FF", tray_uuid="A" * 32, label_weight_g=1000, remain_pct=80
)
PETG = Slot(id=T1, present=True, material="PETG", color="FF6A13FF")


def _stored(reading: MaterialSlots) -> dict[str, SlotRecord]:
    return {record.slot: record for record in plan_sync("x1c", {}, reading, now=NOW).records}


def test_labels_round_trip() -> None:
    for slot_id in (
        T0,
        SlotId(SlotKind.AMS_HT, 128, 0),
        SlotId(SlotKind.EXTERNAL, 255, 0),
        SlotId(SlotKind.TOOL, 0, 1),
    ):
        assert parse_slot(slot_id.label.lower()) == slot_id
    for bad in ("AMS8-T0", "AMS0-T4", "EXT253", "AMS129-T1", "tray1", ""):
        assert parse_slot(bad) is None


def test_a_baseline_is_written_and_announces_nothing_and_the_same_reading_changes_nothing() -> None:
    reading = MaterialSlots(slots=(PLA, PETG), active=T0)
    first = plan_sync("x1c", {}, reading, now=NOW)
    assert first.events == ()
    assert [record.slot for record in first.records] == ["AMS0-T0", "AMS0-T1"]
    assert first.rfid == (PLA,)
    stored = {
        record.slot: replace(record, spool_id=7 if record.slot == "AMS0-T0" else None) for record in first.records
    }
    again = plan_sync("x1c", stored, reading, now=NOW)
    assert again.events == ()
    assert {r.slot: r.spool_id for r in again.records} == {"AMS0-T0": 7, "AMS0-T1": None}


def test_another_spool_clears_the_assignment_and_is_announced_once() -> None:
    stored = _stored(MaterialSlots(slots=(PLA, PETG)))
    stored["AMS0-T1"] = replace(stored["AMS0-T1"], spool_id=3)
    swapped = replace(PETG, color="00AE42FF")
    plan = plan_sync("x1c", stored, MaterialSlots(slots=(PLA, swapped)), now=NOW)
    assert [(e.kind, e.slot) for e in plan.events] == [(SlotEventKind.SPOOL_CHANGED, T1)]
    record = {r.slot: r for r in plan.records}["AMS0-T1"]
    assert (record.spool_id, record.color, record.loaded_at) == (None, "00AE42FF", NOW)


def test_a_tool_keeps_what_a_person_assigned() -> None:
    stored = _stored(tool_slots(1))
    assert list(stored) == ["T0"]
    assigned = {"T0": replace(stored["T0"], present=True, spool_id=5, material_type="PETG")}
    plan = plan_sync("mk4", assigned, tool_slots(1), now=NOW)
    assert plan.events == ()
    assert plan.records == ()  # nothing for the printer to say about a tool


def test_low_stock_fires_once_per_crossing() -> None:
    record = SlotRecord(printer_id="x1c", slot="AMS0-T0", present=True)
    assert low_stock_crossing(record, 50, 100) is True
    alerted = replace(record, low_alerted=True)
    assert low_stock_crossing(alerted, 40, 100) is None
    assert low_stock_crossing(alerted, 900, 100) is False  # a full spool went in: armed again
    assert low_stock_crossing(record, None, 100) is None
