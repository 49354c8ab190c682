"""Bambu AMS reports merged field by field into slots, and slot events, against the written samples
(tests/fixtures/bambu_ams: an X1C pushall, six P1S partial reports with the expected merged state and events, an H2D
with two nozzles)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from printfleet.domain.materials.ams import exist_bit, merge_material_report
from printfleet.domain.materials.rfid import rfid_draft
from printfleet.domain.materials.slot_events import SlotEvent, SlotEventKind, slot_events
from printfleet.domain.materials.slots import Nozzle, SlotId, SlotKind, bambu_slots, print_mapping, tool_slots

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "bambu_ams"


def _sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return data


def _pushall() -> dict[str, Any]:
    report: dict[str, Any] = _sample("ams_full_pushall_x1c.json")["payload"]["print"]
    return report


def _event_view(event: SlotEvent) -> dict[str, Any]:
    """An event in the sample's own words."""
    view: dict[str, Any] = {"event": event.kind.value}
    if event.kind is SlotEventKind.ACTIVE_SLOT_CHANGED:
        view["to"] = event.slot.label if event.slot else None
        if event.from_slot is not None:
            view["from"] = event.from_slot.label
        if event.layer is not None:
            view["layer"] = event.layer
        return view
    assert event.slot is not None
    assert event.spool is not None
    view["slot"] = event.slot.label
    if event.kind is SlotEventKind.REMAIN_CHANGED:
        view["remain_pct"] = event.spool.remain_pct
        view["approx_remaining_g"] = event.spool.approx_remaining_g
    if event.kind is SlotEventKind.SPOOL_INSERTED:
        view.update(rfid=event.spool.rfid, material=event.spool.material, color=event.spool.color)
    return view


def test_exist_bits_layout_for_ams_ams_ht_and_ams_lite() -> None:
    assert [exist_bit(1, tray) for tray in range(4)] == [4, 5, 6, 7]
    assert (exist_bit(128, 0), exist_bit(129, 0), exist_bit(16, 2)) == (16, 17, 26)
    assert exist_bit(200, 0) is None


def test_a_pushall_reads_into_slots() -> None:
    slots = bambu_slots(merge_material_report(None, _pushall()))

    assert [slot.id.label for slot in slots.slots] == ["AMS0-T0", "AMS0-T1", "AMS0-T2", "AMS0-T3", "EXT254"]
    rfid, plain, nearly_empty, empty, external = slots.slots
    assert (rfid.material, rfid.color, rfid.remain_pct, rfid.label_weight_g) == ("PLA", "000000FF", 82, 1000)
    assert rfid.tray_uuid == "3F6B2E8C1D4A4B7E9C0D11223344AA01"
    assert rfid.rfid
    assert rfid.approx_remaining_g == 820
    assert (rfid.id.global_id, rfid.diameter_mm, rfid.nozzle_temp_min_c, rfid.nozzle_temp_max_c) == (0, 1.75, 190, 230)
    # a hand-set third-party spool: no tag, no label weight, remain -1 -> unknown
    assert (plain.material, plain.rfid, plain.tag_uid, plain.label_weight_g, plain.remain_pct) == (
        "PETG",
        False,
        None,
        None,
        None,
    )
    assert nearly_empty.remain_pct == 6
    assert not empty.present
    assert empty.material is None
    # the external spool reports remain 0 with no label weight: unknown, not empty
    assert (external.id.global_id, external.material, external.remain_pct, external.nozzle) == (254, "TPU", None, None)
    assert slots.active is None
    unit = slots.units[0]
    assert (unit.humidity_index, unit.humidity_pct, unit.temp_c, unit.nozzle) == (4, 23, 24.6, None)


def test_partial_reports_merge_to_the_expected_state_and_events() -> None:
    sample = _sample("ams_partial_updates_p1s.json")
    state = merge_material_report(None, _pushall())
    before = bambu_slots(state)
    events: list[dict[str, Any]] = []
    for message in sample["messages"]:
        report = message["payload"]["print"]
        state = merge_material_report(state, report)
        after = bambu_slots(state)
        for event in slot_events(before, after, layer=report.get("layer_num")):
            events.append({"after": message["note"][:3], **_event_view(event)})
        before = after

    assert state["ams"] == sample["expected_ams_after_all"]
    expected = []
    for event in sample["expected_slot_events"]:
        event = dict(event)
        if "printer_slot" in event:  # the sample's name for the slot an active change moves to
            event["to"] = event.pop("printer_slot")
        expected.append(event)
    assert events == expected


def test_merging_leaves_the_kept_state_untouched_and_a_repeated_pushall_yields_nothing() -> None:
    first = merge_material_report(None, _pushall())
    snapshot = json.dumps(first, sort_keys=True)
    second = merge_material_report(first, _pushall())

    assert json.dumps(first, sort_keys=True) == snapshot
    assert second == first
    assert slot_events(bambu_slots(first), bambu_slots(second)) == []
    assert slot_events(None, bambu_slots(first)) == []  # the first reading is a baseline


def test_a_removal_shown_only_by_the_exist_bits_empties_the_slot() -> None:
    state = merge_material_report(None, _pushall())
    # slot 0's bit clears while no tray object is sent at all
    after = merge_material_report(state, {"ams": {"tray_exist_bits": "6"}})
    assert after["ams"]["ams"][0]["tray"][0] == {"id": "0"}
    events = slot_events(bambu_slots(state), bambu_slots(after))
    assert [(event.kind, event.slot) for event in events] == [(SlotEventKind.SPOOL_REMOVED, SlotId(SlotKind.AMS, 0, 0))]
    assert events[0].spool is not None
    assert events[0].spool.material == "PLA"


def test_a_shutdown_report_clears_nothing() -> None:
    state = merge_material_report(None, _pushall())
    shutdown = merge_material_report(state, {"ams": {"tray_exist_bits": "0", "power_on_flag": False}})
    assert [slot.present for slot in bambu_slots(shutdown).slots] == [True, True, True, False, True]
    assert slot_events(bambu_slots(state), bambu_slots(shutdown)) == []


def test_zero_rfid_ids_in_a_periodic_report_keep_the_tag_but_a_new_material_takes_them() -> None:
    state = merge_material_report(None, _pushall())
    periodic = {"ams": {"ams": [{"id": "0", "tray": [{"id": "0", "remain": 80, "tray_uuid": "0" * 32}]}]}}
    kept = bambu_slots(merge_material_report(state, periodic)).slots[0]
    assert (kept.tray_uuid, kept.remain_pct) == ("3F6B2E8C1D4A4B7E9C0D11223344AA01", 80)

    swapped = {
        "ams": {
            "ams": [
                {
                    "id": "0",
                    "tray": [
                        {"id": "0", "tray_type": "ABS", "tray_color": "FF0000FF", "tray_uuid": "0" * 32, "remain": -1}
                    ],
                }
            ]
        }
    }
    before, after = bambu_slots(state), bambu_slots(merge_material_report(state, swapped))
    assert (after.slots[0].tray_uuid, after.slots[0].material) == (None, "ABS")
    events = slot_events(before, after)
    assert [event.kind for event in events] == [SlotEventKind.SPOOL_CHANGED]
    assert events[0].replaced is not None
    assert events[0].replaced.rfid


def test_h2d_two_nozzles_ams_ht_and_two_external_spools() -> None:
    sample = _sample("ams_h2d_dual_nozzle.json")
    slots = bambu_slots(merge_material_report(None, sample["payload"]["print"]))

    labels = [slot.id.label for slot in slots.slots]
    assert labels == [
        *(f"AMS0-T{n}" for n in range(4)),
        *(f"AMS1-T{n}" for n in range(4)),
        "AMS128-T0",
        "EXT255",
        "EXT254",
    ]
    by_label = {slot.id.label: slot for slot in slots.slots}
    # presence from tray_exist_bits 0x100bf: AMS1 tray 2 is empty
    assert [by_label[f"AMS1-T{n}"].present for n in range(4)] == [True, True, False, True]
    # AMS 0 feeds the left nozzle, AMS 1 and the AMS HT the right one
    assert {unit.id: unit.nozzle for unit in slots.units} == {0: Nozzle.LEFT, 1: Nozzle.RIGHT, 128: Nozzle.RIGHT}
    ht = by_label["AMS128-T0"]
    assert (ht.id.kind, ht.id.global_id, ht.material, ht.present) == (SlotKind.AMS_HT, 128, "PA-CF", True)
    assert {unit.id: unit.humidity_index for unit in slots.units} == {0: 5, 1: 4, 128: None}  # HT sends "0"
    # 255 is the right nozzle's external spool (loaded with TPU), 254 the left one (empty)
    right, left = by_label["EXT255"], by_label["EXT254"]
    assert (right.nozzle, right.material, right.present) == (Nozzle.RIGHT, "TPU", True)
    assert (left.nozzle, left.present) == (Nozzle.LEFT, False)
    # tray_now "3" is local; the active (right) extruder's snow 259 = AMS 1 tray 3
    assert slots.active == SlotId(SlotKind.AMS, 1, 3)
    assert slots.active.global_id == 7


def test_h2d_switching_nozzles_moves_the_active_slot() -> None:
    report = _sample("ams_h2d_dual_nozzle.json")["payload"]["print"]
    state = merge_material_report(None, report)
    left = {"device": {"extruder": {"state": 0x12, "info": [{"id": 1, "snow": 0x0002, "spre": 65535}]}}}
    after = merge_material_report(state, left)
    assert bambu_slots(after).active == SlotId(SlotKind.AMS, 0, 2)
    events = slot_events(bambu_slots(state), bambu_slots(after), layer=90)
    assert [(e.kind, e.from_slot, e.slot, e.layer) for e in events] == [
        (SlotEventKind.ACTIVE_SLOT_CHANGED, SlotId(SlotKind.AMS, 1, 3), SlotId(SlotKind.AMS, 0, 2), 90)
    ]
    # the extruder not named keeps its pointer
    assert merge_material_report(state, left)["extruder"]["info"][0]["snow"] == 259


def test_tools_are_slots_without_known_contents() -> None:
    slots = tool_slots(2)
    assert [(slot.id.label, slot.id.global_id, slot.present) for slot in slots.slots] == [
        ("T0", 0, False),
        ("T1", 1, False),
    ]


def test_an_rfid_draft_needs_a_tag_a_material_and_a_label_weight() -> None:
    rfid, plain, nearly_empty, empty, _ = bambu_slots(merge_material_report(None, _pushall())).slots
    draft = rfid_draft(nearly_empty)
    assert draft is not None
    assert (draft.vendor_name, draft.filament.name, draft.filament.net_weight_g) == ("Bambu Lab", "PLA Matte", 1000)
    assert draft.spool_values == {
        "initial_weight_g": 1000,
        "tray_uuid": "8E0F5C7A2B3D4E5F60718293A4B5C6D7",
        "remaining_weight_g": 60,
    }
    assert rfid_draft(plain) is None
    assert rfid_draft(empty) is None
    assert rfid_draft(replace(rfid, label_weight_g=None, remain_pct=None)) is None
    inverted = rfid_draft(replace(rfid, nozzle_temp_min_c=250, nozzle_temp_max_c=200))
    assert inverted is not None
    assert (inverted.filament.nozzle_temp_min_c, inverted.filament.nozzle_temp_max_c) == (None, None)


def test_the_print_mapping_decodes_slot_pointers_to_global_tray_ids() -> None:
    # research samples/ams_h2d_dual_nozzle.json: 259 = AMS 1 tray 3, 32768 = AMS-HT 128; 65535 unmapped
    assert print_mapping([259, 32768, 65535, 0xFF00]) == (7, 128, -1, 255)
    assert print_mapping([3]) == (3,)
    assert print_mapping("3") == ()
    assert print_mapping([70000]) == ()
