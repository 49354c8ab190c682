"""A Bambu RFID spool in an AMS slot, as inventory: the vendor, filament and spool its tag describes.

The tag gives the material (``tray_type``), the product line (``tray_sub_brands``, e.g. ``PLA Basic``), the colour,
the diameter, the nozzle temperature range, the net weight of a full spool (``tray_weight``, grams) and the stable
spool id ``tray_uuid`` (the same on both tags of a spool, unlike ``tag_uid``; Spoolman#217, research
materials-notifications.md §1.4). The AMS ``remain`` estimate, when known, gives the grams left. Density is the
material's typical one (the tag carries none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from printfleet.domain.materials.model import Filament, FilamentFields
from printfleet.domain.materials.slots import Slot
from printfleet.domain.materials.units import default_density

BAMBU_VENDOR = "Bambu Lab"
"""The vendor of spools made from an RFID tag."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RfidSpoolDraft:
    """What to add for an unknown RFID spool: its vendor's name, its filament (without ``vendor_id``) and the spool's
    values for :func:`~printfleet.domain.materials.spools.new_spool` (``initial_weight_g``, ``remaining_weight_g``
    when the AMS knows it, ``tray_uuid``)."""

    vendor_name: str
    filament: FilamentFields
    spool_values: dict[str, Any]


def rfid_draft(slot: Slot) -> RfidSpoolDraft | None:
    """The inventory ``slot``'s tag describes, or None when it is not a present RFID spool with a material and a
    label weight (then a person assigns the spool)."""
    if not slot.present or slot.tray_uuid is None or slot.material is None or slot.label_weight_g is None:
        return None
    low, high = slot.nozzle_temp_min_c, slot.nozzle_temp_max_c
    filament = FilamentFields(
        material=slot.material,
        name=slot.sub_brand,
        color_hex=slot.color,
        density_g_cm3=default_density(slot.material),
        diameter_mm=slot.diameter_mm or 1.75,
        net_weight_g=float(slot.label_weight_g),
        nozzle_temp_min_c=low if low is not None and (high is None or low <= high) else None,
        nozzle_temp_max_c=high if high is not None and (low is None or low <= high) else None,
    ).checked()
    values: dict[str, Any] = {"initial_weight_g": float(slot.label_weight_g), "tray_uuid": slot.tray_uuid}
    if slot.approx_remaining_g is not None:
        values["remaining_weight_g"] = slot.approx_remaining_g
    return RfidSpoolDraft(vendor_name=BAMBU_VENDOR, filament=filament, spool_values=values)


def same_filament(filament: Filament, draft: FilamentFields) -> bool:
    """True when ``filament`` is the one ``draft`` describes: same material and name (any case), colour and
    diameter."""
    return (
        filament.material.lower() == draft.material.lower()
        and (filament.name or "").lower() == (draft.name or "").lower()
        and filament.color_hex == draft.color_hex
        and abs(filament.diameter_mm - draft.diameter_mm) < 0.01
    )
