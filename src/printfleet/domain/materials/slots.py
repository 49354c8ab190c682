"""Material slots: every place a printer holds a filament, in one shape for every kind of printer.

- **Bambu Lab**: each AMS unit's trays (``AMS0-T0`` … ``AMS3-T3``; the global tray id ``unit * 4 + tray`` that
  ``tray_now`` and print ``ams_mapping`` use), the single tray of an AMS HT (units 128-135, global id = unit), the
  AMS Lite of the A2L (unit 16, global ids 24-27, Bambuddy's numbering) and the external spool: ``vt_tray`` (id 254)
  on single-nozzle printers; on the H2 series two external spools in ``vir_slot``, **255 = right (main) nozzle,
  254 = left** (HMS ``18FF8011``/``18FE8011``; research materials-notifications.md §1.5).
- **PrusaLink / OctoPrint / Moonraker**: tool ``T0`` … ``Tn`` (:func:`tool_slots`); what is loaded is said by a person.

:func:`bambu_slots` reads a merged material state (:mod:`printfleet.domain.materials.ams`) into
:class:`MaterialSlots`: presence from ``tray_exist_bits``; ``remain`` -1 (or a slot without a tagged label weight,
where the AMS estimate means nothing) as unknown; ``tray_weight`` ``"0"`` (an untagged spool) as unknown; all-zero
RFID ids as none; AMS ``humidity`` as the index 1-5 where **5 is driest** (other values unknown), ``humidity_raw``
as %. Which slot feeds: ``ams.tray_now`` (``"255"`` none, ``"254"`` external); on dual-nozzle printers the active
extruder's ``snow`` = ``(unit << 8) | tray`` (``0xFFFF`` none, ``0xFF..`` right external, ``0xFE..`` left external),
because ``tray_now`` is only the local tray there (research §1.6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from printfleet.domain.materials.ams import exist_bit, hex_bits, wire_int

ZERO_TAG = "0" * 16
ZERO_UUID = "0" * 32


class SlotKind(StrEnum):
    """What holds the filament."""

    AMS = "ams"
    AMS_HT = "ams_ht"
    EXTERNAL = "external"
    TOOL = "tool"


class Nozzle(StrEnum):
    """The nozzle of a dual-nozzle printer (H2D): right is the main one (extruder 0), left the deputy (1)."""

    RIGHT = "right"
    LEFT = "left"


@dataclass(frozen=True, slots=True, order=True)
class SlotId:
    """Where a slot is: ``unit`` is the AMS unit id (0-7, 16, 128-135), the external spool's wire id (254/255) or 0
    for tools; ``index`` the tray in the unit or the tool number."""

    kind: SlotKind
    unit: int
    index: int

    @property
    def global_id(self) -> int:
        """The number Bambu's ``tray_now`` and ``ams_mapping`` use: ``unit * 4 + tray`` (AMS), the unit id (AMS HT),
        ``24 + tray`` (AMS Lite on the A2L), 254/255 (external); the tool number for tools."""
        if self.kind is SlotKind.AMS:
            return 24 + self.index if self.unit == 16 else self.unit * 4 + self.index
        if self.kind in (SlotKind.AMS_HT, SlotKind.EXTERNAL):
            return self.unit
        return self.index

    @property
    def label(self) -> str:
        """A short name: ``AMS0-T2``, ``AMS128-T0`` (AMS HT), ``EXT254``/``EXT255``, ``T1``."""
        if self.kind is SlotKind.TOOL:
            return f"T{self.index}"
        if self.kind is SlotKind.EXTERNAL:
            return f"EXT{self.unit}"
        return f"AMS{self.unit}-T{self.index}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Slot:
    """One slot and what the printer says is in it. ``material`` (``tray_type``), ``sub_brand``
    (``tray_sub_brands``), ``preset_id`` (``tray_info_idx``), ``color`` ``RRGGBBAA``, ``colors`` for multi-colour
    spools, ``tray_uuid`` the RFID spool id (None: untagged), ``label_weight_g`` the tag's net weight (grams),
    ``remain_pct`` the AMS estimate (%, None: unknown), ``diameter_mm``, nozzle temperature range (°C), ``nozzle``
    (dual-nozzle printers). An absent slot carries nothing but its id."""

    id: SlotId
    present: bool = False
    material: str | None = None
    sub_brand: str | None = None
    preset_id: str | None = None
    color: str | None = None
    colors: tuple[str, ...] = ()
    tray_uuid: str | None = None
    tag_uid: str | None = None
    label_weight_g: int | None = None
    remain_pct: int | None = None
    diameter_mm: float | None = None
    nozzle_temp_min_c: int | None = None
    nozzle_temp_max_c: int | None = None
    nozzle: Nozzle | None = None

    @property
    def rfid(self) -> bool:
        """True for a Bambu spool read by its tag."""
        return self.tray_uuid is not None

    @property
    def approx_remaining_g(self) -> float | None:
        """``remain_pct`` of the tag's net weight, grams (coarse: whole %); None when either is unknown."""
        if self.remain_pct is None or self.label_weight_g is None:
            return None
        return self.label_weight_g * self.remain_pct / 100


@dataclass(frozen=True, slots=True, kw_only=True)
class AmsUnit:
    """One AMS unit's environment: ``humidity_index`` 1-5 (5 driest), ``humidity_pct`` %, ``temp_c`` °C,
    ``dry_time_min`` minutes of drying left, ``nozzle`` it feeds (dual-nozzle printers)."""

    id: int
    kind: SlotKind
    humidity_index: int | None = None
    humidity_pct: int | None = None
    temp_c: float | None = None
    dry_time_min: int | None = None
    nozzle: Nozzle | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MaterialSlots:
    """A printer's slots in a stable order, its AMS units, the slot feeding the printing nozzle (``active``) and the
    one fed before (``previous``, Bambu ``tray_pre``), None when none or unknown."""

    slots: tuple[Slot, ...] = ()
    units: tuple[AmsUnit, ...] = ()
    active: SlotId | None = None
    previous: SlotId | None = None

    def slot(self, slot_id: SlotId) -> Slot | None:
        """The slot with this id, or None."""
        return next((slot for slot in self.slots if slot.id == slot_id), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotSpool:
    """What printfleet knows is in a slot, for display: the inventory spool's ``name`` (vendor, product line,
    material; None: no spool known) and ``grams_left`` (None: unknown)."""

    spool_id: int | None = None
    name: str | None = None
    grams_left: float | None = None


@lru_cache(maxsize=16)
def tool_slots(count: int) -> MaterialSlots:
    """``count`` tool slots ``T0`` … (PrusaLink, OctoPrint, Moonraker); their contents are unknown until assigned.
    The same object for the same count (adapters call it on every poll; a new object would read as a change)."""
    return MaterialSlots(slots=tuple(Slot(id=SlotId(SlotKind.TOOL, 0, n)) for n in range(max(count, 0))))


def _text(value: Any) -> str | None:
    return value.strip() or None if type(value) is str else None


def _number(value: Any) -> float | None:
    if type(value) in (int, float):
        return float(value)
    if type(value) is str:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _tray(slot_id: SlotId, raw: Mapping[str, Any], *, present: bool, nozzle: Nozzle | None) -> Slot:
    material = _text(raw.get("tray_type"))
    if not present or material is None:
        return Slot(id=slot_id, present=present, nozzle=nozzle)
    uuid = _text(raw.get("tray_uuid"))
    tag = _text(raw.get("tag_uid"))
    weight = wire_int(raw.get("tray_weight"))
    label_weight = weight if weight is not None and weight > 0 else None
    remain = wire_int(raw.get("remain"))
    diameter = _number(raw.get("tray_diameter"))
    colors = raw.get("cols")
    color = _text(raw.get("tray_color"))
    return Slot(
        id=slot_id,
        present=True,
        material=material,
        sub_brand=_text(raw.get("tray_sub_brands")),
        preset_id=_text(raw.get("tray_info_idx")),
        color=color.upper() if color else None,
        colors=tuple(c.upper() for c in colors if type(c) is str) if type(colors) is list else (),
        tray_uuid=uuid.upper() if uuid and uuid != ZERO_UUID else None,
        tag_uid=tag.upper() if tag and tag != ZERO_TAG else None,
        label_weight_g=label_weight,
        remain_pct=remain if label_weight is not None and remain is not None and 0 <= remain <= 100 else None,
        diameter_mm=diameter if diameter is not None and diameter > 0 else None,
        nozzle_temp_min_c=wire_int(raw.get("nozzle_temp_min")) or None,
        nozzle_temp_max_c=wire_int(raw.get("nozzle_temp_max")) or None,
        nozzle=nozzle,
    )


def _unit_nozzle(info: Any, dual: bool) -> Nozzle | None:
    bits = hex_bits(info)
    if not dual or bits is None:
        return None
    return {0: Nozzle.RIGHT, 1: Nozzle.LEFT}.get(bits >> 8 & 0xF)


def _unit(ams_id: int, kind: SlotKind, raw: Mapping[str, Any], nozzle: Nozzle | None) -> AmsUnit:
    humidity = wire_int(raw.get("humidity"))
    humidity_raw = wire_int(raw.get("humidity_raw"))
    temp = _number(raw.get("temp"))
    return AmsUnit(
        id=ams_id,
        kind=kind,
        humidity_index=humidity if humidity is not None and 1 <= humidity <= 5 else None,
        humidity_pct=humidity_raw if humidity_raw is not None and 0 <= humidity_raw <= 100 else None,
        temp_c=temp if temp is not None and 0 < temp <= 100 else None,
        dry_time_min=wire_int(raw.get("dry_time")),
        nozzle=nozzle,
    )


def _ams_slot_id(ams_id: int, tray_id: int) -> SlotId:
    return SlotId(SlotKind.AMS_HT if 128 <= ams_id <= 135 else SlotKind.AMS, ams_id, tray_id)


def _from_tray_now(value: Any) -> SlotId | None:
    number = wire_int(value)
    if number is None or number == 255:
        return None
    if number in (254,):
        return SlotId(SlotKind.EXTERNAL, 254, 0)
    if 128 <= number <= 135:
        return SlotId(SlotKind.AMS_HT, number, 0)
    if 24 <= number <= 27:
        return SlotId(SlotKind.AMS, 16, number - 24)
    if 0 <= number < 32:
        return SlotId(SlotKind.AMS, number // 4, number % 4)
    return None


def _from_snow(value: Any) -> SlotId | None:
    """A dual-nozzle extruder's slot pointer ``(unit << 8) | tray`` (research §1.6)."""
    number = wire_int(value)
    if number is None or number == 0xFFFF:
        return None
    unit, tray = number >> 8, number & 0xFF
    if unit == 0xFF:
        return SlotId(SlotKind.EXTERNAL, 255, 0)
    if unit == 0xFE:
        return SlotId(SlotKind.EXTERNAL, 254, 0)
    return _ams_slot_id(unit, tray)


def print_mapping(values: Any) -> tuple[int, ...]:
    """A Bambu report's ``print.mapping`` as global tray ids per slicer filament (the ``ams_mapping`` form; -1:
    unmapped). Each entry is a slot pointer ``(unit << 8) | tray`` like ``snow``, ``65535`` unmapped (research
    materials-notifications.md §1.6; Bambuddy ``_decode_mqtt_mapping``); () when the field is not a list of them."""
    if type(values) is not list or len(values) > 32:
        return ()
    trays: list[int] = []
    for value in values:
        number = wire_int(value)
        if number is None or not 0 <= number <= 0xFFFF:
            return ()
        slot = _from_snow(number)
        trays.append(slot.global_id if slot is not None else -1)
    return tuple(trays)


def _extruders(state: Mapping[str, Any]) -> tuple[int | None, dict[int, Mapping[str, Any]]]:
    extruder = state.get("extruder")
    if type(extruder) is not dict or type(extruder.get("info")) is not list:
        return None, {}
    info = {wire_int(entry.get("id")): entry for entry in extruder["info"] if type(entry) is dict}
    state_bits = wire_int(extruder.get("state"))
    active = state_bits >> 4 & 0xF if state_bits is not None else None
    return active, {key: value for key, value in info.items() if key is not None}


SlotMemo = dict[int, tuple[Any, ...]]
"""A caller-owned memo for :func:`bambu_slots`: by the identity of a raw object (a unit, a unit's tray list, a tray,
the external spools' object or list), that object, what else its reading depended on, and what was read from it;
key 0 holds the feeding pointers last read."""


def _unit_trays(
    ams_id: int, trays: Any, bits: int | None, nozzle: Nozzle | None, memo: SlotMemo | None, seen: SlotMemo
) -> tuple[Slot, ...]:
    if type(trays) is not list:
        return ()
    known = memo.get(id(trays)) if memo is not None else None
    if known is not None and known[0] is trays and known[1] == (ams_id, bits, nozzle):
        read: tuple[Slot, ...] = known[2]
        if len(read) == len(trays):
            for raw, slot in zip(trays, read, strict=True):
                seen[id(raw)] = (raw, (ams_id, slot.present, nozzle), slot)
    else:
        slots: list[Slot] = []
        for raw in trays:
            tray_id = wire_int(raw.get("id")) if type(raw) is dict else None
            if tray_id is None:
                continue
            bit = exist_bit(ams_id, tray_id)
            present = bool(bits >> bit & 1) if bits is not None and bit is not None else len(raw) > 1
            depends = (ams_id, present, nozzle)
            same = memo.get(id(raw)) if memo is not None else None
            if same is not None and same[0] is raw and same[1] == depends:
                slot = same[2]
            else:
                slot = _tray(_ams_slot_id(ams_id, tray_id), raw, present=present, nozzle=nozzle)
            seen[id(raw)] = (raw, depends, slot)
            slots.append(slot)
        read = tuple(slots)
    seen[id(trays)] = (trays, (ams_id, bits, nozzle), read)
    return read


def bambu_slots(state: Mapping[str, Any], memo: SlotMemo | None = None) -> MaterialSlots:
    """The slots of a Bambu printer from its merged material state (see the module for the rules). Units and trays
    keep the printer's order; external spools come last.

    ``memo`` (optional, kept by the caller between calls and replaced by each) reuses what was read from a raw
    object that is the very same object as last time: the merge keeps an unchanged unit's tray list and the external
    spools as they were, so a report changing one unit re-reads that unit only."""
    seen: SlotMemo = {}
    active_extruder, extruders = _extruders(state)
    dual = len(extruders) >= 2 or type(state.get("vir_slot")) is list
    raw_ams = state.get("ams")
    ams: Mapping[str, Any] = raw_ams if type(raw_ams) is dict else {}
    bits = hex_bits(ams.get("tray_exist_bits"))
    slots: list[Slot] = []
    units: list[AmsUnit] = []
    for raw_unit in ams.get("ams") or ():
        ams_id = wire_int(raw_unit.get("id")) if type(raw_unit) is dict else None
        if ams_id is None:
            continue
        kind = SlotKind.AMS_HT if 128 <= ams_id <= 135 else SlotKind.AMS
        nozzle = _unit_nozzle(raw_unit.get("info"), dual)
        known_unit = memo.get(id(raw_unit)) if memo is not None else None
        if known_unit is not None and known_unit[0] is raw_unit and known_unit[1] == (ams_id, nozzle):
            unit = known_unit[2]
        else:
            unit = _unit(ams_id, kind, raw_unit, nozzle)
        seen[id(raw_unit)] = (raw_unit, (ams_id, nozzle), unit)
        units.append(unit)
        slots.extend(_unit_trays(ams_id, raw_unit.get("tray"), bits, nozzle, memo, seen))
    external = state.get("vir_slot")
    if type(external) is not list:
        external = state.get("vt_tray")
    known = memo.get(id(external)) if memo is not None and external is not None else None
    if known is not None and known[0] is external and known[1] == dual:
        outside: list[Slot] = known[2]
    else:
        outside = _external_slots(state, dual)
    if external is not None:
        seen[id(external)] = (external, dual, outside)
    slots.extend(outside)
    pointers = (ams.get("tray_now"), ams.get("tray_pre"), active_extruder, id(state.get("extruder")))
    known_feed = memo.get(0) if memo is not None else None
    if known_feed is not None and known_feed[0] == pointers and known_feed[1] is state.get("extruder"):
        active, previous = known_feed[2]
    else:
        active, previous = _feeding(ams, active_extruder, extruders)
    seen[0] = (pointers, state.get("extruder"), (active, previous))
    if memo is not None:
        memo.clear()
        memo.update(seen)
    return MaterialSlots(slots=tuple(slots), units=tuple(units), active=active, previous=previous)


def _external_slots(state: Mapping[str, Any], dual: bool) -> list[Slot]:
    virtual = state.get("vir_slot")
    if type(virtual) is list:
        raws = [raw for raw in virtual if type(raw) is dict]
    elif type(state.get("vt_tray")) is dict:
        raws = [state["vt_tray"]]
    else:
        return []
    slots: list[Slot] = []
    for raw in raws:
        wire_id = wire_int(raw.get("id"))
        if wire_id not in (254, 255):
            continue
        nozzle = (Nozzle.RIGHT if wire_id == 255 else Nozzle.LEFT) if dual else None
        present = _text(raw.get("tray_type")) is not None
        slots.append(_tray(SlotId(SlotKind.EXTERNAL, wire_id, 0), raw, present=present, nozzle=nozzle))
    return sorted(slots, key=lambda slot: -slot.id.unit)


def _feeding(
    ams: Mapping[str, Any], active_extruder: int | None, extruders: Mapping[int, Mapping[str, Any]]
) -> tuple[SlotId | None, SlotId | None]:
    if active_extruder is not None and active_extruder in extruders:
        pointer = extruders[active_extruder]
        return _from_snow(pointer.get("snow")), _from_snow(pointer.get("spre"))
    return _from_tray_now(ams.get("tray_now")), _from_tray_now(ams.get("tray_pre"))
