"""Moonraker wire format → :class:`~printfleet.domain.printer.PrinterStatus`. Pure: no I/O, no clock.

Sources: Moonraker docs ``docs/external_api/introduction.md`` (JSON-RPC 2.0 over ``/websocket``; notifications carry
no ``id`` and their ``params`` is always an array), ``printer.md`` (``printer.objects.subscribe``: the response holds
the full current values), ``jsonrpc_notifications.md`` (``notify_status_update`` params ``[{object: {changed fields
only}}, eventtime]``; ``notify_history_changed`` params ``[{"action": "added"|"finished", "job": {...}}]``),
``docs/printer_objects.md`` (``print_stats``, ``virtual_sdcard``, ``display_status``, ``webhooks``, ``extruder``,
``heater_bed``); checked against Moonraker 0.11.0 with a batch-mode Klippy (research moonraker-auth-scale.md A1).

**Deltas are deep-merged.** A status update holds only the fields that changed, nested objects included
(``{"print_stats": {"total_duration": 1.05}}`` and ``{"print_stats": {"info": {"current_layer": 7}}}``); every
other field keeps its value. A shallow merge per object would wipe ``print_stats.state`` on such an update.

**States.** ``print_stats.state``: ``standby`` → idle, ``printing`` → printing, ``paused`` → paused, ``complete``
→ finished, ``cancelled`` → cancelled, ``error`` → failed (the print ended with an error; ``message`` says why).
Moonraker's own job tracker counts a change from an active print to ``standby`` (``SDCARD_RESET_FILE``) as a
cancel (research A3), and so does this module: the ended print's file is kept as the file name. Klippy in
``shutdown`` or ``error`` (``webhooks.state``) is the printer state ``error``. ``print_stats`` values persist after a
print ends until the next one, like Bambu's ``FINISH``.

**Identity.** Moonraker's history ``job_id`` is an SQLite row id, reused once history is deleted (research A3), so
the native job id is ``<job_id>@<start_time>`` (start as whole Unix seconds), taken only from a history entry for
the same file whose start agrees with the printer's own ``total_duration``; never the id alone.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from printfleet.domain.materials.slots import tool_slots
from printfleet.domain.printer import PrinterState, PrinterStatus
from printfleet.printers.limits import INT_RANGE, short_text

SUBSCRIBED_OBJECTS: dict[str, list[str] | None] = {
    "print_stats": None,
    "virtual_sdcard": ["progress", "is_active", "file_path"],
    "display_status": None,
    "webhooks": None,
    "pause_resume": None,
    "idle_timeout": ["state"],
    "extruder": ["temperature", "target"],
    "heater_bed": ["temperature", "target"],
}
"""``printer.objects.subscribe`` params ``objects``: ``None`` means every field (printer.md)."""

HISTORY_START_TOLERANCE_S = 30.0
"""Largest gap, in seconds, between a history entry's ``start_time`` and ``now - print_stats.total_duration`` for the
entry to name the print under way."""

_STATES = {
    "standby": PrinterState.IDLE,
    "printing": PrinterState.PRINTING,
    "paused": PrinterState.PAUSED,
    "complete": PrinterState.FINISHED,
    "cancelled": PrinterState.CANCELLED,
    "error": PrinterState.FAILED,
}
_ACTIVE = frozenset({"printing", "paused"})
_ENDED = frozenset({"complete", "cancelled", "error"})


class MoonrakerPayloadError(ValueError):
    """A Moonraker frame that cannot be read (not JSON, not an object, or not the documented shape)."""


def decode_frame(frame: str | bytes) -> dict[str, object]:
    """One websocket text frame as a JSON object; MoonrakerPayloadError when it is not one."""
    try:
        value = json.loads(frame)
    except (ValueError, RecursionError) as exc:
        raise MoonrakerPayloadError(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(value, dict):
        raise MoonrakerPayloadError(f"frame is {type(value).__name__}, expected an object")
    return value


def deep_merge(base: Mapping[str, object], delta: Mapping[str, object]) -> dict[str, object]:
    """``base`` with ``delta`` applied: nested objects merged field by field, anything else replaced. Pure."""
    merged = dict(base)
    for key, value in delta.items():
        old = merged.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryKey:
    """A Moonraker history entry that names a print: ``job_id`` (hex text) and ``start_time`` (Unix seconds)."""

    job_id: str
    start_time: float

    @property
    def native_id(self) -> str:
        """``<job_id>@<whole start seconds>``: the id alone is reused after history is deleted."""
        return f"{self.job_id}@{int(self.start_time)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class MoonrakerState:
    """What the adapter knows about one Moonraker: the subscribed printer ``objects`` (deep-merged), whether
    Klippy is ready, the print under way or last ended (``print_file``, ``print_started_at`` aware UTC,
    ``history``), ``reset_after`` (the file of a print that went back to ``standby``: a cancel), and
    ``inferred_start``: the last delta showed a print that started and ended between two updates (Klipper's batch
    of 250 ms, or a print that fails at once), which Moonraker's job tracker also counts as a start (research A3);
    ``spoolman``: Moonraker has its own Spoolman link (``server.spoolman.status`` answers) and reports the filament
    used itself; ``tools``: how many extruders Klipper has (see :func:`extruder_count`), one material slot each."""

    objects: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    print_file: str | None = None
    print_started_at: datetime | None = None
    history: HistoryKey | None = None
    reset_after: str | None = None
    inferred_start: bool = False
    spoolman: bool = False
    tools: int = 1

    def replace(self, **changes: object) -> MoonrakerState:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


_EXTRUDER = re.compile(r"^extruder([1-7])?$")


def extruder_count(listed: object) -> int:
    """How many extruders a ``printer.objects.list`` answer (``{"objects": [names]}``) names: Klipper calls them
    ``extruder``, ``extruder1`` … ``extruder7`` (Klipper config reference, [extruder1]); at least 1."""
    names = listed.get("objects") if isinstance(listed, Mapping) else None
    if not isinstance(names, list):
        return 1
    found = [int(match.group(1) or 0) for name in names if isinstance(name, str) and (match := _EXTRUDER.match(name))]
    return max(found, default=0) + 1


def objects_of(payload: object) -> dict[str, Mapping[str, object]]:
    """The ``{object: {field: value}}`` mapping of a subscribe/query ``status`` or an update's first param."""
    if not isinstance(payload, Mapping):
        raise MoonrakerPayloadError(f"status is {type(payload).__name__}, expected an object")
    out: dict[str, Mapping[str, object]] = {}
    for name, fields in payload.items():
        if not isinstance(name, str) or not isinstance(fields, Mapping):
            raise MoonrakerPayloadError(f"printer object {str(name)[:40]!r} is not an object")
        out[name] = fields
    return out


def update_params(params: object) -> dict[str, Mapping[str, object]]:
    """The changed objects of a ``notify_status_update`` (params ``[{...}, eventtime]``)."""
    if not isinstance(params, list) or not params:
        raise MoonrakerPayloadError("notify_status_update params must be a non-empty array")
    return objects_of(params[0])


def apply_objects(
    state: MoonrakerState, delta: Mapping[str, Mapping[str, object]], *, now: datetime, replace: bool = False
) -> MoonrakerState:
    """``state`` with ``delta`` deep-merged into its objects (``replace``: ``delta`` is the whole status, from a
    subscribe or query response), and the print bookkeeping moved on (start, cancel by reset). Pure."""
    if replace:
        objects: dict[str, Mapping[str, object]] = {name: deep_merge({}, fields) for name, fields in delta.items()}
    else:
        objects = dict(state.objects)
        for name, fields in delta.items():
            objects[name] = deep_merge(objects.get(name, {}), fields)
    stats = objects.get("print_stats", {})
    raw = stats.get("state")
    file_name = short_text(stats.get("filename"))
    total = _number(stats.get("total_duration"))
    changed = state.replace(objects=objects, inferred_start=False)
    before = state.objects.get("print_stats", {})
    previous = before.get("state")
    before_total = _number(before.get("total_duration"))
    new_print = (
        raw != previous
        or file_name != short_text(before.get("filename"))
        or (total is not None and before_total is not None and total < before_total)
    )
    if not replace and previous is not None and previous not in _ACTIVE and raw in _ENDED and new_print:
        started = now - timedelta(seconds=total) if total is not None else now
        return changed.replace(print_file=file_name, print_started_at=started, history=None, inferred_start=True)
    if raw in _ACTIVE:
        # The print goes on while it was active before, with the same file, and its total time did not go back
        # (that would be another print of the same file, started while we were not connected).
        same = (
            previous in _ACTIVE
            and file_name == state.print_file
            and state.print_started_at is not None
            and not (total is not None and before_total is not None and total < before_total)
        )
        if not same:
            started = now - timedelta(seconds=total) if total is not None else now
            changed = changed.replace(print_file=file_name, print_started_at=started, history=None)
        return changed.replace(reset_after=None)
    if raw == "standby" and previous in _ACTIVE:
        return changed.replace(reset_after=state.print_file)
    if raw != "standby":
        return changed.replace(reset_after=None)
    return changed


def apply_history(state: MoonrakerState, job: object) -> MoonrakerState:
    """``state`` naming its print with history entry ``job`` when the entry is that print: same file, started
    within :data:`HISTORY_START_TOLERANCE_S` of the print's start. Anything else leaves ``state`` as it is."""
    if not isinstance(job, Mapping) or state.print_started_at is None:
        return state
    job_id, start, filename = job.get("job_id"), _number(job.get("start_time")), short_text(job.get("filename"))
    if not isinstance(job_id, str) or not job_id or len(job_id) > 32 or start is None:
        return state
    if filename != state.print_file:
        return state
    if abs(state.print_started_at.timestamp() - start) > HISTORY_START_TOLERANCE_S:
        return state
    return state.replace(history=HistoryKey(job_id=job_id, start_time=start))


def to_status(state: MoonrakerState, *, now: datetime) -> PrinterStatus:
    """The normalised snapshot of ``state`` (see the module docstring for the mapping)."""
    objects = state.objects
    stats = objects.get("print_stats", {})
    webhooks = objects.get("webhooks", {})
    raw = short_text(stats.get("state"))
    klippy = webhooks.get("state")
    file_name = short_text(stats.get("filename"))
    info = stats.get("info")
    info = info if isinstance(info, Mapping) else {}
    extruder, bed = objects.get("extruder", {}), objects.get("heater_bed", {})
    if klippy in ("shutdown", "error"):
        state_value = PrinterState.ERROR
    elif raw == "standby" and state.reset_after:
        state_value, file_name = PrinterState.CANCELLED, state.reset_after
    else:
        state_value = _STATES.get(raw or "", PrinterState.IDLE)
    active = raw in _ACTIVE
    progress = _progress(objects)
    if state_value is PrinterState.FINISHED:
        progress = 100.0
    elapsed = _number(stats.get("print_duration"))
    message = short_text(stats.get("message")) or short_text(webhooks.get("state_message"))
    error_codes: tuple[str, ...] = ()
    if state_value is PrinterState.ERROR:
        error_codes = (f"klippy_{klippy}",)
    extra = {"message": message} if message and state_value in (PrinterState.ERROR, PrinterState.FAILED) else {}
    return PrinterStatus(
        state=state_value,
        raw_state=raw,
        file_name=file_name if state_value is not PrinterState.IDLE else None,
        progress=progress if state_value is not PrinterState.IDLE else None,
        elapsed_seconds=int(elapsed) if elapsed is not None and state_value is not PrinterState.IDLE else None,
        print_start_time=state.print_started_at if active else None,
        nozzle_temp=_number(extruder.get("temperature")),
        nozzle_target=_number(extruder.get("target")),
        bed_temp=_number(bed.get("temperature")),
        bed_target=_number(bed.get("target")),
        layer=_count(info.get("current_layer")) if active else None,
        total_layers=_count(info.get("total_layer")) if active else None,
        native_job_id=state.history.native_id if state.history is not None and active else None,
        error_codes=error_codes,
        last_seen=now,
        material_slots=tool_slots(state.tools),
        filament_used_mm=_number(stats.get("filament_used")) if active else None,
        reports_spool_usage=state.spoolman,
        extra=extra,
    )


def _progress(objects: Mapping[str, Mapping[str, object]]) -> float | None:
    for name in ("virtual_sdcard", "display_status"):
        value = _number(objects.get(name, {}).get("progress"))
        if value is not None:
            return round(min(100.0, max(0.0, value * 100.0)), 2)
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and not -INT_RANGE <= value < INT_RANGE:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _count(value: object) -> int | None:
    number = _number(value)
    return int(number) if number is not None and 0 <= number < 1_000_000 else None
