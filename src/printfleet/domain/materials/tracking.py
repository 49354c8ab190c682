"""What a print's filament use is computed from, recorded when it starts and grown while it runs
(:class:`UsageTracking`), so that a restart mid-print still closes it right (research materials-notifications.md §7
M6); :mod:`printfleet.domain.materials.usage` computes the usage from it when the print ends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


class UsageSource(StrEnum):
    """Where a usage line's grams come from."""

    FILE = "file"  # the slicer's estimate for the printed plate (library file or the printer's copy)
    PRINTER = "printer"  # the printer's own figure (Moonraker filament_used, OctoPrint job.filament)
    RFID_REMAIN = "rfid_remain"  # the fall in the AMS remain % of an RFID spool


@dataclass(frozen=True, slots=True, kw_only=True)
class FilamentEstimate:
    """One filament of the printed plate: ``index`` its 1-based number in the project (Bambu: the position in
    ``ams_mapping``; G-code: tool + 1), ``grams`` and ``metres`` for the whole plate (None: not given),
    ``material`` (``PLA``), ``color`` ``RRGGBBAA`` or ``#RRGGBB``."""

    index: int
    grams: float | None = None
    metres: float | None = None
    material: str | None = None
    color: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotState:
    """What was in a slot: its label (``AMS0-T1``, ``EXT254``, ``T0``), the inventory spool (None: unknown), the
    material and colour the printer reported, the AMS ``remain`` % (None: unknown), the RFID tag's net weight (grams),
    and the spool filament's density (g/cm³) and diameter (mm) when known."""

    slot: str
    present: bool = True
    spool_id: int | None = None
    material: str | None = None
    color: str | None = None
    remain_pct: int | None = None
    label_weight_g: int | None = None
    density_g_cm3: float | None = None
    diameter_mm: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "slot": self.slot,
            "present": self.present,
            "spool_id": self.spool_id,
            "material": self.material,
            "color": self.color,
            "remain_pct": self.remain_pct,
            "label_weight_g": self.label_weight_g,
            "density_g_cm3": self.density_g_cm3,
            "diameter_mm": self.diameter_mm,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SlotState:
        """The value stored by :meth:`to_json`."""
        return cls(
            slot=str(data["slot"]),
            present=bool(data.get("present", True)),
            spool_id=data.get("spool_id"),
            material=data.get("material"),
            color=data.get("color"),
            remain_pct=data.get("remain_pct"),
            label_weight_g=data.get("label_weight_g"),
            density_g_cm3=data.get("density_g_cm3"),
            diameter_mm=data.get("diameter_mm"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageTracking:
    """What is recorded when a print starts (and grows while it runs) so that its usage closes right even after a
    restart. ``estimate``: the plate's filaments (empty: unknown), ``source`` where they came from, ``plate`` the
    plate number, ``total_layers`` the plate's layers; ``mapping`` the print's AMS mapping (global tray ids, -1
    unused; empty: none); ``slots`` what was in each slot at the start; ``active_at_start`` the slot feeding then;
    ``used_slots`` every slot seen feeding while it ran; ``last_progress`` (%) and ``last_layer`` the last non-zero
    values seen; ``printer_used_mm`` the last non-zero length the printer said the print extruded (Moonraker's
    ``print_stats.filament_used``, mm: measured, not estimated)."""

    estimate: tuple[FilamentEstimate, ...] = ()
    source: UsageSource | None = None
    plate: int | None = None
    total_layers: int | None = None
    mapping: tuple[int, ...] = ()
    slots: tuple[SlotState, ...] = ()
    active_at_start: str | None = None
    used_slots: tuple[str, ...] = ()
    last_progress: float | None = None
    last_layer: int | None = None
    printer_used_mm: float | None = None

    def seen(
        self,
        *,
        active: str | None,
        progress: float | None,
        layer: int | None,
        used_mm: float | None = None,
        estimate_mm: tuple[float, ...] = (),
        estimate_g: tuple[float, ...] = (),
        mapping: tuple[int, ...] = (),
    ) -> UsageTracking:
        """This tracking after a report of the running print: ``active`` the slot feeding (None: none), ``progress``
        %, ``layer``, ``used_mm`` extruded so far (mm); zeros never replace what was seen (firmware resets them on a
        cancel). ``estimate_mm`` or ``estimate_g``, the printer's own estimate per tool (mm or grams), becomes the
        estimate when there is no other; ``mapping``, the printer's own AMS mapping (Bambu ``print.mapping``),
        becomes the mapping when there is none (our own start command's comes first)."""
        used = self.used_slots if active is None or active in self.used_slots else (*self.used_slots, active)
        changed = replace(
            self,
            used_slots=used,
            last_progress=progress if progress else self.last_progress,
            last_layer=layer if layer else self.last_layer,
            printer_used_mm=used_mm if used_mm else self.printer_used_mm,
            mapping=self.mapping or (mapping if any(tray >= 0 for tray in mapping) else ()),
        )
        if estimate_g and not self.estimate and any(estimate_g):
            return replace(
                changed,
                estimate=tuple(
                    FilamentEstimate(index=n + 1, grams=grams) for n, grams in enumerate(estimate_g) if grams > 0
                ),
                source=UsageSource.PRINTER,
            )
        if estimate_mm and not self.estimate and any(estimate_mm):
            changed = replace(
                changed,
                estimate=tuple(
                    FilamentEstimate(index=n + 1, metres=length / 1000.0)
                    for n, length in enumerate(estimate_mm)
                    if length > 0
                ),
                source=UsageSource.PRINTER,
            )
        return changed

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "estimate": [
                {"index": f.index, "grams": f.grams, "metres": f.metres, "material": f.material, "color": f.color}
                for f in self.estimate
            ],
            "source": self.source.value if self.source is not None else None,
            "plate": self.plate,
            "total_layers": self.total_layers,
            "mapping": list(self.mapping),
            "slots": [slot.to_json() for slot in self.slots],
            "active_at_start": self.active_at_start,
            "used_slots": list(self.used_slots),
            "last_progress": self.last_progress,
            "last_layer": self.last_layer,
            "printer_used_mm": self.printer_used_mm,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UsageTracking:
        """The value stored by :meth:`to_json`."""
        source = data.get("source")
        return cls(
            estimate=tuple(
                FilamentEstimate(
                    index=int(f["index"]),
                    grams=f.get("grams"),
                    metres=f.get("metres"),
                    material=f.get("material"),
                    color=f.get("color"),
                )
                for f in data.get("estimate", ())
            ),
            source=UsageSource(source) if source else None,
            plate=data.get("plate"),
            total_layers=data.get("total_layers"),
            mapping=tuple(int(v) for v in data.get("mapping", ())),
            slots=tuple(SlotState.from_json(s) for s in data.get("slots", ())),
            active_at_start=data.get("active_at_start"),
            used_slots=tuple(str(s) for s in data.get("used_slots", ())),
            last_progress=data.get("last_progress"),
            last_layer=data.get("last_layer"),
            printer_used_mm=data.get("printer_used_mm"),
        )
