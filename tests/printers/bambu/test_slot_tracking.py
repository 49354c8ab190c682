"""The Bambu adapter keeps each printer's material slots from its reports: the samples' pushall and partial reports
fed as the connection feeds them (``apply_report`` then the slot tracker then ``normalise``) give the slots the
pure merge gives, the same object while nothing changed (a repeated pushall), and the events the sample expects."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from printfleet.domain.materials.ams import merge_material_report
from printfleet.domain.materials.slot_events import SlotEventKind, slot_events
from printfleet.domain.materials.slots import MaterialSlots, SlotId, SlotKind, bambu_slots
from printfleet.printers.bambu.protocol import apply_report, normalise
from printfleet.printers.bambu.slots import SlotTracker
from printfleet.printers.base import utcnow

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "bambu_ams"


def _sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return data


class _Adapter:
    """The per-message path of ``BambuConnection._handle`` without the network."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}
        self.tracker = SlotTracker()

    def feed(self, payload: dict[str, Any]) -> MaterialSlots | None:
        payload = copy.deepcopy(payload)  # the adapter owns what it decoded
        self.state, changed = apply_report(self.state, payload)
        slots = self.tracker.take(payload, changed)
        if changed:
            status = normalise(self.state, last_seen=utcnow(), material_slots=slots)
            assert status.material_slots is slots
        return slots


def test_a_pushall_gives_the_slots_and_repeating_it_keeps_the_same_object() -> None:
    adapter = _Adapter()
    pushall = _sample("ams_full_pushall_x1c.json")["payload"]
    first = adapter.feed(pushall)

    assert first is not None
    assert first == bambu_slots(merge_material_report(None, pushall["print"]))
    tray0 = first.slot(SlotId(SlotKind.AMS, 0, 0))
    assert tray0 is not None
    assert (tray0.rfid, tray0.remain_pct, tray0.label_weight_g) == (True, 82, 1000)
    untagged = first.slot(SlotId(SlotKind.AMS, 0, 1))
    assert untagged is not None
    assert (untagged.present, untagged.rfid, untagged.remain_pct) == (True, False, None)
    assert first.units[0].humidity_index == 4
    assert adapter.feed(pushall) is first


def test_partial_reports_through_the_adapter_match_the_pure_merge_and_the_sample_events() -> None:
    sample = _sample("ams_partial_updates_p1s.json")
    pushall = _sample("ams_full_pushall_x1c.json")["payload"]
    adapter = _Adapter()
    before = adapter.feed(pushall)
    pure = merge_material_report(None, pushall["print"])
    kinds: list[SlotEventKind] = []
    for message in sample["messages"]:
        after = adapter.feed(message["payload"])
        pure = merge_material_report(pure, message["payload"]["print"])
        assert after == bambu_slots(pure)
        assert after is not None
        kinds.extend(event.kind for event in slot_events(before, after))
        before = after

    assert adapter.tracker.state["ams"] == sample["expected_ams_after_all"]
    assert kinds == [SlotEventKind(event["event"]) for event in sample["expected_slot_events"]]


def test_the_memo_reads_the_same_slots_as_a_fresh_reading() -> None:
    sample = _sample("ams_h2d_dual_nozzle.json")
    payload = sample["payload"]
    memo: dict[int, tuple[Any, ...]] = {}
    state = merge_material_report(None, payload["print"])
    assert bambu_slots(state, memo) == bambu_slots(state)
    changed = merge_material_report(state, {"ams": {"ams": [{"id": "1", "tray": [{"id": "3", "remain": 5}]}]}})
    assert bambu_slots(changed, memo) == bambu_slots(changed)
    assert bambu_slots(changed, memo) == bambu_slots(changed)
