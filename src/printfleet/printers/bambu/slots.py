"""A Bambu printer's material slots kept current from its reports.

Each report's material parts (``ams``, ``vt_tray``, ``vir_slot``, ``device.extruder``) go through the pure merge
(:func:`printfleet.domain.materials.ams.merge_material_report`: per unit and tray, presence from
``tray_exist_bits``, zero RFID ids not wiping a tag read at ``pushall``) and, only when the merged state changed,
are read into :class:`~printfleet.domain.materials.slots.MaterialSlots` (``remain`` -1 unknown, humidity index 1-5,
``RRGGBBAA`` colours, ``tray_weight`` ``"0"`` untagged). An X1 repeats its whole ``ams`` block in every report; the
kept raw state then does not change, and the merge is not even run (``apply_report`` says which keys changed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from printfleet.domain.materials.ams import MaterialState, merge_material_report
from printfleet.domain.materials.slots import MaterialSlots, SlotMemo, bambu_slots

MATERIAL_KEYS: Final = frozenset({"ams", "vt_tray", "vir_slot", "device"})
"""Top-level ``print`` keys that can change a slot."""


class SlotTracker:
    """The merged material state of one printer and the slots read from it (None until a report names any)."""

    __slots__ = ("_memo", "slots", "state")

    def __init__(self) -> None:
        self.state: MaterialState = {}
        self.slots: MaterialSlots | None = None
        self._memo: SlotMemo = {}

    def take(self, payload: Mapping[str, Any], changed: frozenset[str]) -> MaterialSlots | None:
        """Fold the ``print`` object of ``payload`` in when ``changed`` (the keys :func:`apply_report` said changed)
        names a material key; return the slots, the same object as before when nothing in them changed."""
        if not changed or MATERIAL_KEYS.isdisjoint(changed):
            return self.slots
        report = payload.get("print")
        if type(report) is not dict:
            return self.slots
        merged = merge_material_report(self.state, report)
        if merged is self.state and self.slots is not None:
            return self.slots
        self.state = merged
        slots = bambu_slots(merged, self._memo)
        known = self.slots
        if (slots.slots or slots.units or known is not None) and (known is None or slots != known):
            self.slots = slots
        return self.slots

    def reset(self) -> None:
        """Forget everything (a printer whose configuration changed)."""
        self.state = {}
        self.slots = None
        self._memo.clear()
