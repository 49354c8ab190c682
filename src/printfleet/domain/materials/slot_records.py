"""What printfleet keeps of each printer slot (one ``material_slots`` row), and how a live reading updates it.

A :class:`SlotRecord` is the stored view of a slot: what the printer last said is in it (material, colour, RFID
``tray_uuid``, AMS ``remain`` %), which inventory spool it holds, since when, and whether a ``spool_low`` was sent for
the spool now in it. Because the events are computed between the *stored* records and the new reading
(:func:`plan_sync`), a restart, a reconnect or a repeated ``pushall`` finds nothing new and announces nothing; a change
that happened while printfleet was down is announced once when it first sees the printer again.

Tool slots (PrusaLink, OctoPrint, Moonraker) carry nothing the printer reports: their record says what a person
assigned, and a reading never changes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from printfleet.domain.materials.slot_events import SlotEvent, slot_events
from printfleet.domain.materials.slots import MaterialSlots, Slot, SlotId, SlotKind

_LABEL = re.compile(r"^(?:AMS(?P<unit>\d{1,3})-T(?P<tray>\d)|EXT(?P<ext>25[45])|T(?P<tool>\d{1,2}))$")


def parse_slot(label: str) -> SlotId | None:
    """The slot a label names (``AMS0-T2``, ``AMS128-T0``, ``EXT254``, ``T1``; any case), or None when it names
    none (inverse of :attr:`SlotId.label`)."""
    found = _LABEL.match(label.strip().upper())
    if found is None:
        return None
    if found["tool"] is not None:
        return SlotId(SlotKind.TOOL, 0, int(found["tool"]))
    if found["ext"] is not None:
        return SlotId(SlotKind.EXTERNAL, int(found["ext"]), 0)
    unit, tray = int(found["unit"]), int(found["tray"])
    if 128 <= unit <= 135 and tray == 0:
        return SlotId(SlotKind.AMS_HT, unit, 0)
    if (0 <= unit <= 7 or unit == 16) and tray <= 3:
        return SlotId(SlotKind.AMS, unit, tray)
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotRecord:
    """One stored slot. ``slot`` its label; ``present`` whether a spool is in it (for a tool: assigned);
    ``material_type``/``color`` (``RRGGBBAA``)/``preset_id``/``tray_uuid`` as last reported (for a tool: from the
    assigned spool's filament); ``remaining_pct`` the AMS estimate (%, None unknown); ``label_weight_g`` the RFID
    tag's net weight (grams); ``spool_id`` the inventory spool in it (None: not known); ``active`` whether it feeds
    the nozzle; ``low_alerted`` whether ``spool_low`` was sent for what is in it; ``loaded_at`` when its spool went
    in (or was assigned), ``last_synced`` when the printer last said what is in it (aware UTC)."""

    printer_id: str
    slot: str
    present: bool = False
    spool_id: int | None = None
    material_type: str | None = None
    color: str | None = None
    preset_id: str | None = None
    tray_uuid: str | None = None
    remaining_pct: int | None = None
    label_weight_g: int | None = None
    active: bool = False
    low_alerted: bool = False
    loaded_at: datetime | None = None
    last_synced: datetime | None = None
    id: int | None = None

    @property
    def slot_id(self) -> SlotId | None:
        """The slot's id, parsed from its label."""
        return parse_slot(self.slot)

    @property
    def approx_remaining_g(self) -> float | None:
        """``remaining_pct`` of the tag's net weight, grams; None when either is unknown."""
        if self.remaining_pct is None or self.label_weight_g is None:
            return None
        return self.label_weight_g * self.remaining_pct / 100

    def as_slot(self) -> Slot | None:
        """The record as a reading (for comparing with a new one); None when its label is not a slot."""
        slot_id = self.slot_id
        if slot_id is None:
            return None
        return Slot(
            id=slot_id,
            present=self.present,
            material=self.material_type,
            preset_id=self.preset_id,
            color=self.color,
            tray_uuid=self.tray_uuid,
            label_weight_g=self.label_weight_g,
            remain_pct=self.remaining_pct,
        )


def _stored(slot: Slot) -> Slot:
    """A reading reduced to what a record keeps, so a reading and a record compare alike."""
    if not slot.present:
        return Slot(id=slot.id)
    return Slot(
        id=slot.id,
        present=True,
        material=slot.material,
        preset_id=slot.preset_id,
        color=slot.color,
        tray_uuid=slot.tray_uuid,
        label_weight_g=slot.label_weight_g,
        remain_pct=slot.remain_pct,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotSync:
    """What a reading changes: the ``records`` to write (every reported slot, in the reading's order), the
    ``events`` to announce once written, and the ``rfid`` slots whose inventory spool must be found or made (their
    record's ``spool_id`` is then filled in by the caller)."""

    records: tuple[SlotRecord, ...]
    events: tuple[SlotEvent, ...]
    rfid: tuple[Slot, ...]


def plan_sync(
    printer_id: str,
    stored: Mapping[str, SlotRecord],
    reading: MaterialSlots,
    *,
    now: datetime,
    layer: int | None = None,
) -> SlotSync:
    """Compare ``reading`` (the printer's slots now) with the ``stored`` records (by label) and say what to write and
    announce. No records at all is a baseline: written, nothing announced. Rules per slot:

    - a spool that went in, or another spool (another ``tray_uuid``; untagged: another material, preset or colour):
      ``loaded_at`` now, ``spool_id`` cleared (an RFID spool's is found again by the caller), ``low_alerted`` reset;
    - a spool taken out: the record empties (``spool_id`` None);
    - the same spool: the person-assigned ``spool_id`` and ``low_alerted`` stay;
    - tool slots: the stored record stays as it is (a person says what is loaded).
    """
    live = tuple(slot for slot in reading.slots if slot.id.kind is not SlotKind.TOOL)
    before_slots = []
    for record in stored.values():
        as_slot = record.as_slot()
        if as_slot is not None and as_slot.id.kind is not SlotKind.TOOL:
            before_slots.append(as_slot)
    active_before = next((r.slot_id for r in stored.values() if r.active), None)
    before = MaterialSlots(slots=tuple(before_slots), active=active_before) if stored else None
    after = MaterialSlots(slots=tuple(_stored(slot) for slot in live), active=reading.active, previous=reading.previous)
    events = tuple(slot_events(before, after, layer=layer))
    changed = {event.slot for event in events if event.kind.value in ("spool_inserted", "spool_changed")}
    records: list[SlotRecord] = []
    rfid: list[Slot] = []
    for slot in live:
        label = slot.id.label
        old = stored.get(label)
        view = _stored(slot)
        new_spool = old is None or slot.id in changed or (not old.present and slot.present)
        if old is None:
            old = SlotRecord(printer_id=printer_id, slot=label)
        record = replace(
            old,
            present=view.present,
            material_type=view.material,
            color=view.color,
            preset_id=view.preset_id,
            tray_uuid=view.tray_uuid,
            remaining_pct=view.remain_pct,
            label_weight_g=view.label_weight_g,
            active=reading.active == slot.id,
            last_synced=now,
        )
        if not slot.present:
            record = replace(record, spool_id=None, low_alerted=False, loaded_at=None)
        elif new_spool:
            record = replace(record, spool_id=None, low_alerted=False, loaded_at=now)
        if slot.present and slot.tray_uuid is not None:
            rfid.append(slot)
        records.append(record)
    for slot in reading.slots:
        if slot.id.kind is SlotKind.TOOL and slot.id.label not in stored:
            records.append(SlotRecord(printer_id=printer_id, slot=slot.id.label, last_synced=now))
    return SlotSync(records=tuple(records), events=events, rfid=tuple(rfid))


def low_stock_crossing(record: SlotRecord, grams_left: float | None, threshold_g: float) -> bool | None:
    """Whether ``spool_low`` is due for what ``record`` holds with ``grams_left`` (grams; None unknown): True when it
    is now below ``threshold_g`` and was not announced yet, False when it is back at or above it (re-arms), None when
    nothing changes."""
    if not record.present or grams_left is None:
        return None
    if grams_left < threshold_g and not record.low_alerted:
        return True
    if grams_left >= threshold_g and record.low_alerted:
        return False
    return None
