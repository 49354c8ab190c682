"""Bambu Lab material reports merged field by field: the ``print.ams`` block, the external spool(s) and, on dual-nozzle
printers, the extruders' slot pointers.

P1/A1 (and newer) firmware sends only what changed; X1 sends everything every time; ``pushall`` asks for everything
(research materials-notifications.md §1.7; OpenBambuAPI mqtt.md). :func:`merge_material_report` folds one report's
``print`` object into the kept material state without ever dropping what the report does not name:

- ``ams`` top-level fields (``tray_now``, ``tray_exist_bits``, ...) overwrite; the ``ams.ams`` unit list merges by unit
  ``id`` (a unit not named keeps everything); a unit without ``tray`` keeps its trays; trays merge by ``id``, field by
  field. A tray sent as only ``{"id": ...}`` is an empty slot (the full push's form), so its old fields go.
- **Presence comes from ``tray_exist_bits``** (:func:`exist_bit`): after merging, a tray whose bit is clear is reduced
  to ``{"id": ...}`` even when it still echoes its old fields (Bambuddy #2670). All bits clear with
  ``power_on_flag`` false is the printer shutting down: those bits are not taken, and nothing is cleared
  (Bambuddy #765).
- An all-zero ``tray_uuid``/``tag_uid`` in a report that does not also change the tray's material (``tray_type``,
  ``tray_info_idx``, ``tray_color``) is ignored: periodic reports may send zeros that would wipe the RFID id read at
  ``pushall`` (Bambuddy ``_handle_ams_data``); with a new material it is a new, untagged spool and is taken.
- ``vt_tray`` (one external spool) merges field by field; ``vir_slot`` (H2 series, two external spools) and
  ``device.extruder.info`` (per-nozzle slot pointers) merge by ``id``; ``device.extruder.state`` overwrites.

The function is pure: the state passed in is not changed; the result shares unchanged parts with it and shares
nothing mutable with the report (a caller may keep changing the report's objects). A report that changes nothing
returns the very state passed in (``merged is state``), so a caller can skip re-reading the slots at no cost: an X1
repeats its whole ``ams`` block in every report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

MaterialState = dict[str, Any]
"""The kept material state: ``{"ams": {...}, "vt_tray": {...}, "vir_slot": [...], "extruder": {...}}`` (each key only
once reported), in the wire's own shapes."""

_ZERO_IDS = {"tag_uid": "0" * 16, "tray_uuid": "0" * 32}
_IDENTITY = ("tray_type", "tray_info_idx", "tray_color")
_Merge = Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]


def exist_bit(ams_id: int, tray_id: int) -> int | None:
    """The bit of ``tray_exist_bits`` for tray ``tray_id`` of unit ``ams_id``: regular AMS (ids 0-7)
    ``ams_id * 4 + tray_id``; AMS HT (ids 128-135, one tray) ``16 + (ams_id - 128)``; AMS Lite on the A2L (id 16)
    ``24 + tray_id``; None for another id (its presence is then not read from the bits). Source: Bambuddy
    ``apply_tray_exist_bits`` citing OrcaSlicer ``DevFilaSystem.cpp`` (research §1.2)."""
    if 0 <= ams_id <= 7 and 0 <= tray_id <= 3:
        return ams_id * 4 + tray_id
    if 128 <= ams_id <= 135 and tray_id == 0:
        return 16 + ams_id - 128
    if ams_id == 16 and 0 <= tray_id <= 3:
        return 24 + tray_id
    return None


def hex_bits(value: Any) -> int | None:
    """A hex string of bits (``"1f"``) as an int; None when absent or unreadable."""
    if type(value) is not str:
        return None
    try:
        return int(value, 16)
    except ValueError:
        return None


def wire_int(value: Any) -> int | None:
    """A wire integer that may come as a string (``"3"``); None when absent or unreadable."""
    if type(value) is int:
        return value
    if type(value) is str:
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _merge_tray(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    if len(new) == 1 and "id" in new:
        return old if len(old) == 1 and old.get("id") == new["id"] else {"id": new["id"]}  # type: ignore[return-value]
    if old and new.items() <= old.items():
        return old  # type: ignore[return-value]
    merged = dict(old)
    identity_changes = any(key in new and new[key] != old.get(key) for key in _IDENTITY)
    for key, value in new.items():
        if key in _ZERO_IDS and value == _ZERO_IDS[key] and not identity_changes and old.get(key):
            continue
        merged[key] = _copy(value)
    return merged


def _merge_by_id(old: list[Any], new: list[Any], merge: _Merge | None = None) -> list[Any]:
    """Entries of ``new`` merged into ``old`` by ``id`` (``merge(old_entry, new_entry)``, default field by field);
    entries only in ``old`` stay, new ids are appended."""
    result = list(old)
    index = {entry.get("id"): position for position, entry in enumerate(result) if type(entry) is dict}
    changed = False
    for entry in new:
        if type(entry) is not dict:
            continue
        position = index.get(entry.get("id"))
        if position is None:
            index[entry.get("id")] = len(result)
            result.append(merge({}, entry) if merge is not None else _copy(entry))
            changed = True
        else:
            current = result[position]
            merged = merge(current, entry) if merge is not None else {**current, **_copy(entry)}
            if merged is not current and merged != current:
                result[position] = merged
                changed = True
    return result if changed else old


def _copy(value: Any) -> Any:
    """A copy of a wire value (lists and objects copied all the way down), so the report can be changed later."""
    if type(value) is dict:
        return {key: _copy(item) for key, item in value.items()}
    if type(value) is list:
        return [_copy(item) for item in value]
    return value


def _merge_unit(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    changed = False
    for key, value in new.items():
        if key == "tray" and type(value) is list:
            trays = old.get("tray")
            value = _merge_by_id(trays if type(trays) is list else [], value, _merge_tray)
        if key not in old or (old[key] is not value and old[key] != value):
            merged[key] = value
            changed = True
    return merged if changed else old  # type: ignore[return-value]


def _apply_exist_bits(ams: dict[str, Any]) -> None:
    bits = hex_bits(ams.get("tray_exist_bits"))
    if bits is None:
        return
    units = ams.get("ams")
    if type(units) is not list:
        return
    for position, unit in enumerate(units):
        if type(unit) is not dict or type(unit.get("tray")) is not list:
            continue
        ams_id = wire_int(unit.get("id"))
        if ams_id is None:
            continue
        trays = unit["tray"]
        cleared: list[Any] | None = None
        for index, tray in enumerate(trays):
            if type(tray) is not dict or len(tray) <= 1:
                continue
            tray_id = wire_int(tray.get("id"))
            bit = exist_bit(ams_id, tray_id) if tray_id is not None else None
            if bit is not None and not bits >> bit & 1:
                if cleared is None:
                    cleared = list(trays)
                cleared[index] = {"id": tray["id"]}
        if cleared is not None:
            units[position] = {**unit, "tray": cleared}


def _merge_ams(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    changed = False
    for key, value in new.items():
        if key == "ams" and type(value) is list:
            current = old.get("ams")
            value = _merge_by_id(current if type(current) is list else [], value, _merge_unit)
        elif type(value) in (list, dict):
            value = _copy(value)
        if key not in old or (old[key] is not value and old[key] != value):
            merged[key] = value
            changed = True
    if not changed:
        return old  # type: ignore[return-value]
    if hex_bits(new.get("tray_exist_bits")) == 0 and merged.get("power_on_flag") is False:
        # the printer shutting down: keep the slots as they were
        for key in ("tray_exist_bits", "tray_is_bbl_bits", "tray_read_done_bits"):
            if key in old:
                merged[key] = old[key]
    units = new.get("ams")
    trays_named = type(units) is list and any(type(unit) is dict and "tray" in unit for unit in units)
    if type(merged.get("ams")) is list and ("tray_exist_bits" in new or trays_named):
        merged["ams"] = list(merged["ams"])
        _apply_exist_bits(merged)
    return merged


def merge_material_report(state: Mapping[str, Any] | None, report: Mapping[str, Any]) -> MaterialState:
    """``state`` with the material parts of ``report`` (one report's ``print`` object) merged as the module describes.
    Other fields of ``report`` are ignored; malformed parts (a non-object ``ams``, a non-list ``vir_slot``) are
    skipped. ``state`` None is the empty state. When nothing changes, ``state`` itself is returned."""
    kept: Mapping[str, Any] = state if state is not None else {}
    merged: MaterialState = dict(kept)
    ams = report.get("ams")
    if type(ams) is dict:
        current = kept.get("ams")
        merged["ams"] = _merge_ams(current if type(current) is dict else {}, ams)
    external = report.get("vt_tray")
    if type(external) is dict:
        current = kept.get("vt_tray")
        merged["vt_tray"] = _merge_tray(current if type(current) is dict else {}, external)
    virtual = report.get("vir_slot")
    if type(virtual) is list:
        current = kept.get("vir_slot")
        merged["vir_slot"] = _merge_by_id(current if type(current) is list else [], virtual, _merge_tray)
    device = report.get("device")
    extruder = device.get("extruder") if type(device) is dict else None
    if type(extruder) is dict:
        current = kept.get("extruder")
        before = dict(current) if type(current) is dict else {}
        after = dict(before)
        for key, value in extruder.items():
            if key == "info" and type(value) is list:
                info = after.get("info")
                after["info"] = _merge_by_id(info if type(info) is list else [], value)
            else:
                after[key] = _copy(value)
        merged["extruder"] = current if after == before and type(current) is dict else after
    if state is not None and len(merged) == len(kept) and all(merged[key] is kept[key] for key in kept):
        return state  # type: ignore[return-value]
    return merged
