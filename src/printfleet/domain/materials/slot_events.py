"""What changed in a printer's material slots between two readings, as events.

Computed from two :class:`~printfleet.domain.materials.slots.MaterialSlots` (after merging, never from a raw partial
report, which would fire falsely or miss changes; Bambuddy #2670), so each real change yields one event and a repeated
``pushall`` yields none (research materials-notifications.md §1.7-1.8):

- ``spool_inserted`` / ``spool_removed``: a slot's presence changed (Bambu: its ``tray_exist_bits`` bit);
- ``spool_changed``: a present slot now holds another spool: another RFID ``tray_uuid``, or for untagged spools another
  material, preset or colour;
- ``remain_changed``: the same spool's known ``remain`` estimate moved (%, with the grams it stands for);
- ``active_slot_changed``: another slot feeds the nozzle; ``from_slot`` is the printer's own "previous" pointer
  (``tray_pre``/``spre``) when it names one, else the slot active before; ``layer`` the layer printing then (to split
  a print's use across spools, Bambuddy ``tray_change_log``).

The first reading (``before`` None) is a baseline and yields no events.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from printfleet.domain.materials.slots import MaterialSlots, Slot, SlotId


class SlotEventKind(StrEnum):
    """What happened to a slot."""

    SPOOL_INSERTED = "spool_inserted"
    SPOOL_REMOVED = "spool_removed"
    SPOOL_CHANGED = "spool_changed"
    REMAIN_CHANGED = "remain_changed"
    ACTIVE_SLOT_CHANGED = "active_slot_changed"


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotEvent:
    """One change. ``slot``: the slot concerned (for ``active_slot_changed`` the slot now feeding, None when none);
    ``spool``: what the slot holds now (for ``spool_removed``: what it held); ``replaced``: what it held before a
    ``spool_changed``; ``from_slot`` and ``layer`` for ``active_slot_changed``."""

    kind: SlotEventKind
    slot: SlotId | None
    spool: Slot | None = None
    replaced: Slot | None = None
    from_slot: SlotId | None = None
    layer: int | None = None


def _identity(slot: Slot) -> tuple[object, ...]:
    if slot.tray_uuid is not None:
        return ("rfid", slot.tray_uuid)
    return ("plain", slot.material, slot.preset_id, slot.color)


def _slot_events(before: Slot | None, after: Slot) -> list[SlotEvent]:
    was = before is not None and before.present
    if not was and after.present:
        return [SlotEvent(kind=SlotEventKind.SPOOL_INSERTED, slot=after.id, spool=after)]
    if was and not after.present:
        return [SlotEvent(kind=SlotEventKind.SPOOL_REMOVED, slot=after.id, spool=before)]
    if not was or before is None:
        return []
    if _identity(before) != _identity(after):
        return [SlotEvent(kind=SlotEventKind.SPOOL_CHANGED, slot=after.id, spool=after, replaced=before)]
    if after.remain_pct is not None and after.remain_pct != before.remain_pct:
        return [SlotEvent(kind=SlotEventKind.REMAIN_CHANGED, slot=after.id, spool=after)]
    return []


def slot_events(before: MaterialSlots | None, after: MaterialSlots, *, layer: int | None = None) -> list[SlotEvent]:
    """The events that lead from ``before`` to ``after``, slot by slot in ``after``'s order, then the active slot's
    change; ``layer`` is the printer's current layer (None when not printing). A slot that disappears from the
    reading altogether (an AMS unit unplugged) counts as removed."""
    if before is None:
        return []
    events: list[SlotEvent] = []
    previous = {slot.id: slot for slot in before.slots}
    for slot in after.slots:
        events.extend(_slot_events(previous.pop(slot.id, None), slot))
    for gone in previous.values():
        if gone.present:
            events.append(SlotEvent(kind=SlotEventKind.SPOOL_REMOVED, slot=gone.id, spool=gone))
    if after.active != before.active:
        origin = after.previous if after.previous is not None and after.previous != after.active else before.active
        events.append(
            SlotEvent(kind=SlotEventKind.ACTIVE_SLOT_CHANGED, slot=after.active, from_slot=origin, layer=layer)
        )
    return events
