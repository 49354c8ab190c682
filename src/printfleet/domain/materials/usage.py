"""Filament used by one print: which slots, which spools, how many grams (research materials-notifications.md §2).

When a print starts, printfleet records a :class:`~printfleet.domain.materials.tracking.UsageTracking`: the printed
plate's per-filament estimate (the slicer's ``slice_info.config`` of a Bambu 3MF, the header of a G-code file; one
plate only, never the file's sum: Bambuddy#1697), the print's AMS mapping (``ams_mapping`` of our own
``project_file``: one global tray id per project filament, -1 unused), and what was in every slot (spool, material,
colour, AMS ``remain`` %). While it runs, the slots seen feeding the nozzle (``tray_now``) and the last non-zero
progress and layer are added (the firmware resets them to 0 on a cancel). When it ends, :func:`compute_usage` turns
that into :class:`UsageLine` values, best source first:

1. on a one-tool printer that measures what it extruded (Moonraker ``print_stats.filament_used``), that length, in
   grams through the tool's spool (``high``; research §2.4: actual, not estimated);
2. the file's estimate (the library file, else the printer's own: OctoPrint's analysis per tool), each filament
   mapped to a slot by the print's mapping — our own start command's ``ams_mapping``, else the one the printer
   reports (Bambu ``print.mapping``, for prints started anywhere) — (``high``); without a mapping, a
   single-filament print goes to the one slot seen feeding (or feeding at the start), a multi-filament print to the
   slot whose material and colour match it alone (``medium``); a filament no slot can be found for is kept with no
   slot and no spool (priced at the default, deducted from nothing): **a slot the print did not use is never
   charged** (Bambuddy#1269, #3081);
3. without any estimate, the fall in AMS ``remain`` % × the tag's weight, only for slots seen feeding (``low``; RFID
   spools only, whole %: coarse).

A print that did not complete is charged for what it printed: layers printed ÷ layers of the plate when both are
known, else the last non-zero progress, × the plate's estimate (never the whole plate). Grams are canonical; metres
become grams through the spool's filament, else the material's typical density (:mod:`.units`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from printfleet.domain.materials.slot_records import parse_slot
from printfleet.domain.materials.tracking import FilamentEstimate, SlotState, UsageSource, UsageTracking
from printfleet.domain.materials.units import default_density, grams_from_length

UNUSED_TRAY = -1
"""An ``ams_mapping`` entry for a project filament the plate does not use."""


class Confidence(StrEnum):
    """How sure the grams and the slot are."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageLine:
    """Filament one print used from one slot: ``slot`` label (None: no slot could be found), ``spool_id`` the
    inventory spool charged (None: none known, nothing deducted), ``grams`` (≥ 0), ``metres`` (None: unknown),
    ``material``, ``color``, where the figure comes from and how sure it is."""

    slot: str | None
    spool_id: int | None
    grams: float
    metres: float | None = None
    material: str | None = None
    color: str | None = None
    source: UsageSource = UsageSource.FILE
    confidence: Confidence = Confidence.HIGH


@dataclass(frozen=True, slots=True, kw_only=True)
class PrintOutcome:
    """How the print ended: ``completed`` True when it finished (charged in full); otherwise ``progress`` (%) and
    ``layer`` as last reported at the end (0 or None: unknown; the tracking's last non-zero values count)."""

    completed: bool
    progress: float | None = None
    layer: int | None = None


def printed_fraction(tracking: UsageTracking, outcome: PrintOutcome) -> tuple[float, bool]:
    """The share of the plate printed, 0-1, and whether it is exact (completed, or counted in layers): 1 when
    completed; else layers printed ÷ the plate's layers when both are known; else the last non-zero progress ÷ 100;
    else 0 (nothing known is charged as nothing)."""
    if outcome.completed:
        return 1.0, True
    layer = outcome.layer or tracking.last_layer
    if layer and tracking.total_layers:
        # the layer being printed when it stopped counts as half done
        return min(max((layer - 0.5) / tracking.total_layers, 0.0), 1.0), True
    progress = outcome.progress or tracking.last_progress
    if progress:
        return min(max(progress / 100.0, 0.0), 1.0), False
    return 0.0, False


def _slot_for_tray(tray: int, slots: Sequence[SlotState]) -> SlotState | None:
    for state in slots:
        slot_id = parse_slot(state.slot)
        if slot_id is not None and slot_id.global_id == tray and slot_id.kind.value != "tool":
            return state
    return None


def _rgb(color: str | None) -> str | None:
    if not color:
        return None
    text = color.strip().lstrip("#").upper()
    return text[:6] if len(text) in (6, 8) else None


def _matches(estimate: FilamentEstimate, state: SlotState) -> bool:
    if not state.present or estimate.material is None or state.material is None:
        return False
    if estimate.material.strip().upper() != state.material.strip().upper():
        return False
    want, have = _rgb(estimate.color), _rgb(state.color)
    return want is None or have is None or want == have


def _is_tool_printer(slots: Sequence[SlotState]) -> bool:
    return bool(slots) and all(state.slot.startswith("T") for state in slots)


def map_filaments(tracking: UsageTracking) -> dict[int, tuple[SlotState | None, Confidence]]:
    """Each estimated filament's slot (None: none found) and how sure the mapping is (see the module)."""
    slots = tracking.slots
    by_label = {state.slot: state for state in slots}
    result: dict[int, tuple[SlotState | None, Confidence]] = {}
    used = [by_label[label] for label in tracking.used_slots if label in by_label]
    for estimate in tracking.estimate:
        if tracking.mapping:
            tray = tracking.mapping[estimate.index - 1] if 0 < estimate.index <= len(tracking.mapping) else UNUSED_TRAY
            if tray != UNUSED_TRAY:
                result[estimate.index] = (_slot_for_tray(tray, slots), Confidence.HIGH)
                continue
        if _is_tool_printer(slots):
            tool = by_label.get(f"T{estimate.index - 1}")
            result[estimate.index] = (tool, Confidence.HIGH if tool is not None else Confidence.LOW)
            continue
        if len(tracking.estimate) == 1:
            if len(used) == 1:
                result[estimate.index] = (used[0], Confidence.MEDIUM)
                continue
            start = by_label.get(tracking.active_at_start or "")
            if not used and start is not None:
                result[estimate.index] = (start, Confidence.MEDIUM)
                continue
        candidates = [state for state in (used or slots) if _matches(estimate, state)]
        if len(candidates) == 1:
            result[estimate.index] = (candidates[0], Confidence.MEDIUM)
        else:
            result[estimate.index] = (None, Confidence.LOW)
    return result


def _grams(estimate: FilamentEstimate, state: SlotState | None) -> float | None:
    if estimate.grams is not None:
        return estimate.grams
    if estimate.metres is None:
        return None
    density = state.density_g_cm3 if state is not None and state.density_g_cm3 else None
    if density is None:
        density = default_density(estimate.material or (state.material if state is not None else None) or "PLA")
    diameter = state.diameter_mm if state is not None and state.diameter_mm else 1.75
    return grams_from_length(estimate.metres * 1000.0, density_g_cm3=density, diameter_mm=diameter)


def compute_usage(
    tracking: UsageTracking, outcome: PrintOutcome, *, slots_now: Mapping[str, SlotState] | None = None
) -> list[UsageLine]:
    """The usage lines of a print that ended (see the module). ``slots_now``: the slots as they are at the end, by
    label (for the ``remain`` fall when there is no estimate). Lines of the same slot are added together; grams are
    rounded to 0.01 g; a line of 0 g is left out."""
    fraction, exact = printed_fraction(tracking, outcome)
    lines: dict[str | None, UsageLine] = {}
    measured = _measured(tracking)
    if measured is not None:
        _add(lines, measured)
    elif tracking.estimate:
        source = tracking.source or UsageSource.FILE
        mapped = map_filaments(tracking)
        for estimate in tracking.estimate:
            state, confidence = mapped[estimate.index]
            whole = _grams(estimate, state)
            if whole is None:
                continue
            if not exact and confidence is Confidence.HIGH:
                confidence = Confidence.MEDIUM
            line = UsageLine(
                slot=state.slot if state is not None else None,
                spool_id=state.spool_id if state is not None else None,
                grams=whole * fraction,
                metres=estimate.metres * fraction if estimate.metres is not None else None,
                material=estimate.material or (state.material if state is not None else None),
                color=estimate.color or (state.color if state is not None else None),
                source=source,
                confidence=confidence,
            )
            _add(lines, line)
    else:
        now = slots_now or {}
        by_label = {state.slot: state for state in tracking.slots}
        for label in tracking.used_slots:
            start, end = by_label.get(label), now.get(label)
            if start is None or end is None or start.spool_id != end.spool_id:
                continue  # the spool was changed meanwhile: its remain says nothing about this print
            if start.remain_pct is None or end.remain_pct is None or not start.label_weight_g:
                continue
            fall = start.remain_pct - end.remain_pct
            if fall <= 0:
                continue
            _add(
                lines,
                UsageLine(
                    slot=label,
                    spool_id=start.spool_id,
                    grams=start.label_weight_g * fall / 100.0,
                    material=start.material,
                    color=start.color,
                    source=UsageSource.RFID_REMAIN,
                    confidence=Confidence.LOW,
                ),
            )
    return [
        replace(line, grams=round(line.grams, 2), metres=round(line.metres, 3) if line.metres is not None else None)
        for line in lines.values()
        if round(line.grams, 2) > 0
    ]


def _measured(tracking: UsageTracking) -> UsageLine | None:
    """The printer's measured length as one line, for a printer with one tool (Klipper counts one total for all
    extruders), on its tool; None when the printer measured nothing or has several tools."""
    tools = [state for state in tracking.slots if state.slot.startswith("T")]
    if not tracking.printer_used_mm or len(tools) != 1 or len(tracking.slots) != 1:
        return None
    tool = tools[0]
    material = tool.material or (tracking.estimate[0].material if len(tracking.estimate) == 1 else None)
    density = tool.density_g_cm3 or default_density(material or "PLA")
    grams = grams_from_length(tracking.printer_used_mm, density_g_cm3=density, diameter_mm=tool.diameter_mm or 1.75)
    return UsageLine(
        slot=tool.slot,
        spool_id=tool.spool_id,
        grams=grams,
        metres=tracking.printer_used_mm / 1000.0,
        material=material,
        color=tool.color,
        source=UsageSource.PRINTER,
        confidence=Confidence.HIGH,
    )


def _add(lines: dict[str | None, UsageLine], line: UsageLine) -> None:
    before = lines.get(line.slot)
    if before is None:
        lines[line.slot] = line
        return
    metres = None if before.metres is None or line.metres is None else before.metres + line.metres
    worse = max(before.confidence, line.confidence, key=list(Confidence).index)
    lines[line.slot] = replace(before, grams=before.grams + line.grams, metres=metres, confidence=worse)
