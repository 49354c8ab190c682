"""Bambu Lab LAN MQTT: parse, merge and normalise reports. Pure: no I/O, no client. Commands are built in
:mod:`printfleet.printers.bambu.commands` (re-exported here).

Source of the facts: the project's printer protocol notes (Bambu section), Doridian/OpenBambuAPI ``mqtt.md``, and the
behaviour of greghesp/ha-bambulab (pybambu). Reports arrive on ``device/<serial>/report`` as one JSON object per
message with a type envelope. A full ``push_status`` (the answer to ``pushall``) looks like this, shortened::

    {"print": {"command": "push_status", "sequence_id": "2021", "gcode_state": "RUNNING",
               "mc_percent": 37, "mc_remaining_time": 52, "layer_num": 41, "total_layer_num": 112,
               "gcode_file": "benchy.gcode.3mf", "subtask_name": "benchy", "gcode_start_time": "0",
               "stg_cur": 0, "print_error": 0, "print_type": "local", "task_id": "0", "subtask_id": "0",
               "nozzle_temper": 219.8, "nozzle_target_temper": 220.0, "bed_temper": 59.9,
               "bed_target_temper": 60.0, "chamber_temper": 31.0, "hms": [],
               "ams": {"ams": [{"id": "0", "humidity": "4", "temp": "27.1",
                                "tray": [{"id": "0", "tray_type": "PLA", "tray_color": "FF6A13FF",
                                          "remain": 85, "tray_info_idx": "GFA00", "tag_uid": "0000000000000000",
                                          "tray_uuid": "00000000000000000000000000000000"}, ...]}],
                       "tray_now": "0", "tray_tar": "0", "ams_exist_bits": "1", "tray_exist_bits": "f"},
               "wifi_signal": "-45dBm"}}

P1/A1 printers (and X1 in cloud mode) then send only what changed, for example
``{"print": {"command": "push_status", "sequence_id": "2022", "nozzle_temper": 220.1}}`` or an ``ams`` block naming
one tray: ``{"print": {"ams": {"ams": [{"id": "0", "tray": [{"id": "2", "remain": 40}]}]}}}``. Hence one kept
``state`` dict per printer and :func:`apply_report` deep-merging each ``print`` object into it.

Units on the wire: ``mc_remaining_time`` in **minutes**, ``mc_percent`` in %, temperatures in °C,
``gcode_start_time`` epoch seconds as a string (``"0"`` when none; absent on current firmware).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from printfleet.domain.materials.slots import MaterialSlots, print_mapping
from printfleet.domain.printer import AmsTray, PrinterState, PrinterStatus
from printfleet.domain.printer_errors import is_not_an_error
from printfleet.printers.bambu.commands import BambuCommands, encode_command
from printfleet.printers.limits import INT_RANGE, MAX_ERROR_CODES, short_text

__all__ = [
    "CANCELLED_PRINT_ERROR",
    "BambuCommands",
    "BambuPayloadError",
    "apply_report",
    "encode_command",
    "is_placeholder",
    "normalise",
    "parse_payload",
    "report_topic",
    "request_topic",
    "stage_word",
]

CANCELLED_PRINT_ERROR: Final = 50348044
"""``print_error`` of a print the user stopped (0x0300400C); with ``gcode_state`` FAILED it means cancelled."""

_GCODE_STATES: Final[dict[str, PrinterState]] = {
    "IDLE": PrinterState.IDLE,
    "INIT": PrinterState.PREPARING,
    "SLICING": PrinterState.PREPARING,
    "PREPARE": PrinterState.PREPARING,
    "RUNNING": PrinterState.PRINTING,
    "PAUSE": PrinterState.PAUSED,
    "FINISH": PrinterState.FINISHED,
    "FAILED": PrinterState.FAILED,
}
_ACTIVE_GCODE_STATES: Final = frozenset({"INIT", "SLICING", "PREPARE", "RUNNING", "PAUSE"})

# stg_cur: the detailed stage (OpenBambuAPI, pybambu). Words are ours; the numbers are the printer's.
_STAGES: Final[dict[int, str]] = {
    -1: "idle",
    0: "printing",
    1: "auto_bed_leveling",
    2: "heatbed_preheating",
    3: "vibration_compensation",
    4: "changing_filament",
    5: "m400_pause",
    6: "paused_filament_runout",
    7: "heating_hotend",
    8: "calibrating_extrusion",
    9: "scanning_bed_surface",
    10: "inspecting_first_layer",
    11: "identifying_build_plate",
    12: "calibrating_micro_lidar",
    13: "homing_toolhead",
    14: "cleaning_nozzle_tip",
    15: "checking_extruder_temperature",
    16: "paused_by_user",
    17: "paused_front_cover_falling",
    18: "calibrating_micro_lidar",
    19: "calibrating_extrusion_flow",
    20: "paused_nozzle_temperature_malfunction",
    21: "paused_heatbed_temperature_malfunction",
    22: "filament_unloading",
    23: "paused_skipped_step",
    24: "filament_loading",
    25: "calibrating_motor_noise",
    26: "paused_ams_lost",
    27: "paused_low_fan_speed_heat_break",
    28: "paused_chamber_temperature_control_error",
    29: "cooling_chamber",
    30: "paused_by_gcode",
    31: "motor_noise_showoff",
    32: "paused_nozzle_filament_covered",
    33: "paused_cutter_error",
    34: "paused_first_layer_error",
    35: "paused_nozzle_clog",
    255: "idle",
}

# Envelope fields that change on every message without saying anything about the printer.
_NOT_STATE: Final = frozenset({"command", "sequence_id", "msg", "result", "reason"})
_NO_CHANGE: Final[frozenset[str]] = frozenset()
# normalise() memoises the AMS tray tuple in the kept state under this key (not a wire field: it starts with a
# NUL); apply_report() drops it whenever ``ams`` or ``vt_tray`` changes. Building 4 AmsTray objects on every
# report was 40 % of apply+normalise time in the 1-full-per-100-partials benchmark.
_TRAYS_CACHE: Final = "\x00ams_trays"
# The same per tray, kept in the tray's own dict, so a partial naming one tray rebuilds one AmsTray, not four.
_TRAY_CACHE: Final = "\x00tray"
# The decoded ``mapping`` list, with the list it was decoded from (a report that changes it brings a new list).
_MAPPING_CACHE: Final = "\x00mapping"
_MISSING: Final = object()


class BambuPayloadError(ValueError):
    """A report that is not a JSON object (or whose ``print`` member is not an object)."""


def report_topic(serial: str) -> str:
    """``device/<serial>/report``: the only topic a client subscribes to."""
    return f"device/{serial}/report"


def request_topic(serial: str) -> str:
    """``device/<serial>/request``: where commands go (never subscribe to it: P1 printers drop the client)."""
    return f"device/{serial}/request"


def parse_payload(raw: bytes | bytearray | str) -> dict[str, Any]:
    """Decode one MQTT message body into its envelope object.

    Raises :class:`BambuPayloadError` for invalid UTF-8/JSON (including nesting too deep for the decoder and
    integers past Python's digit limit) or a JSON value that is not an object. The message text is not echoed
    into the error (it could be large); only its length and the decoder's complaint.
    """
    try:
        payload = json.loads(raw)
    except RecursionError:
        raise BambuPayloadError(f"JSON nested too deep ({len(raw)} bytes)") from None
    except (ValueError, TypeError) as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits: ValueErrors
        raise BambuPayloadError(f"not JSON ({len(raw)} bytes): {str(exc)[:200]}") from None
    if type(payload) is not dict:
        raise BambuPayloadError(f"not a JSON object but {type(payload).__name__}")
    return payload


def _report_is_placeholder(state: Mapping[str, Any], report: Mapping[str, Any]) -> bool:
    """A post-reconnect placeholder: an unknown/empty ``gcode_state``, or an emptied ``subtask_name`` (with no
    new ``gcode_file``) while the kept state says a named print is active."""
    gcode_state = report.get("gcode_state", _MISSING)
    if gcode_state is not _MISSING and (type(gcode_state) is not str or gcode_state not in _GCODE_STATES):
        return True
    if report.get("subtask_name", _MISSING) == "" and not report.get("gcode_file"):
        effective = state.get("gcode_state") if gcode_state is _MISSING else gcode_state
        return effective in _ACTIVE_GCODE_STATES and bool(state.get("subtask_name"))
    return False


def is_placeholder(state: Mapping[str, Any]) -> bool:
    """True when ``state`` (a kept state or one ``print`` object) cannot be shown as the printer's state.

    That is: ``gcode_state`` missing, empty or unknown (``"UNKNOWN"``, ``""``), or an active ``gcode_state``
    with neither a ``subtask_name`` nor a ``gcode_file`` (no real print lacks both). Some firmwares send such
    values right after a reconnect, before the first real push (PROTOCOLS.md); they must not read as a print
    ending, so the client keeps its previous status instead.
    """
    gcode_state = state.get("gcode_state")
    if type(gcode_state) is not str or gcode_state not in _GCODE_STATES:
        return True
    return gcode_state in _ACTIVE_GCODE_STATES and not state.get("subtask_name") and not state.get("gcode_file")


def _merge_dict(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Deep-merge ``new`` into ``old`` in place (objects merged, lists and scalars replaced); True if changed."""
    changed = False
    for key, value in new.items():
        current = old.get(key, _MISSING)
        if type(value) is dict and type(current) is dict:
            changed = _merge_dict(current, value) or changed
        elif current != value:
            old[key] = value
            changed = True
    return changed


def _merge_by_id(old: list[Any], new: list[Any], *, child: str | None) -> bool:
    """Merge a list of ``{"id": ...}`` objects (AMS units, or trays when ``child`` is None) into ``old``.

    Entries are matched by ``id``; unnamed entries keep their value; new ids are appended. A tray that arrives as
    only ``{"id": "2"}`` is an empty slot (that is how a full push shows it), so its old fields are dropped.
    """
    index = {entry.get("id"): entry for entry in old if type(entry) is dict}
    changed = False
    for entry in new:
        if type(entry) is not dict:
            continue
        current = index.get(entry.get("id"))
        if current is None:
            old.append(entry)
            index[entry.get("id")] = entry
            changed = True
            continue
        if child is None and len(entry) == 1:
            if any(key != "id" and key != _TRAY_CACHE for key in current):
                current.clear()
                current.update(entry)
                changed = True
            continue
        entry_changed = False
        for key, value in entry.items():
            existing = current.get(key, _MISSING)
            if key == child and type(value) is list and type(existing) is list:
                entry_changed = _merge_by_id(existing, value, child=None) or entry_changed
            elif type(value) is dict and type(existing) is dict:
                entry_changed = _merge_dict(existing, value) or entry_changed
            elif existing != value:
                current[key] = value
                entry_changed = True
        if entry_changed:
            if child is None:
                current.pop(_TRAY_CACHE, None)
            changed = True
    return changed


def _merge_ams(old: dict[str, Any], new: dict[str, Any]) -> bool:
    changed = False
    for key, value in new.items():
        current = old.get(key, _MISSING)
        if key == "ams" and type(value) is list and type(current) is list:
            changed = _merge_by_id(current, value, child="tray") or changed
        elif type(value) is dict and type(current) is dict:
            changed = _merge_dict(current, value) or changed
        elif current != value:
            old[key] = value
            changed = True
    return changed


def apply_report(state: dict[str, Any], payload: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
    """Deep-merge the ``print`` object of one report into ``state``; return ``(state, changed top-level keys)``.

    ``state`` is updated in place and returned (a partial report costs only its own fields; the kept state is
    never copied). Absent fields keep their value; nested objects merge; lists such as ``hms`` are replaced; a
    partial ``ams`` block updates only the units and trays it names, matched by ``id``. Nested objects from
    ``payload`` may become part of ``state``: do not reuse the payload afterwards.

    Returns no changes for: envelopes without ``print`` (``info``, ``mc_print``, ...), command replies (a
    ``print`` whose ``command`` is not ``push_status``), and placeholder reports (see :func:`is_placeholder`),
    which are dropped so they cannot overwrite what the printer said before a reconnect. The envelope fields
    ``command``, ``sequence_id``, ``msg``, ``result`` and ``reason`` are never merged.

    Raises :class:`BambuPayloadError` when ``payload`` or its ``print`` member is not an object.
    """
    if type(payload) is not dict:
        raise BambuPayloadError(f"not a JSON object but {type(payload).__name__}")
    report = payload.get("print")
    if report is None:
        return state, _NO_CHANGE
    if type(report) is not dict:
        raise BambuPayloadError(f"'print' is not an object but {type(report).__name__}")
    command = report.get("command")
    if (command is not None and command != "push_status") or _report_is_placeholder(state, report):
        return state, _NO_CHANGE
    changed: list[str] = []
    for key, value in report.items():
        if key in _NOT_STATE:
            continue
        current = state.get(key, _MISSING)
        if type(value) is dict and type(current) is dict:
            merged = _merge_ams(current, value) if key == "ams" else _merge_dict(current, value)
            if merged:
                changed.append(key)
        elif current != value:
            state[key] = value
            changed.append(key)
    if not changed:
        return state, _NO_CHANGE
    if "ams" in changed or "vt_tray" in changed:
        state.pop(_TRAYS_CACHE, None)
        external = state.get("vt_tray")
        if "vt_tray" in changed and type(external) is dict:
            external.pop(_TRAY_CACHE, None)
    return state, frozenset(changed)


class _Unusable(Exception):
    """A number that is there but cannot be used: not finite, or outside :data:`INT_RANGE` / a float's range."""


def _to_float(value: Any) -> float | None:
    """A finite float from a number or numeric string; None when absent, empty or not numeric.

    Raises :class:`_Unusable` for NaN, ±infinity and integers too large for a float.
    """
    kind = type(value)
    if kind is float:
        number: float = value
    elif kind is int:
        try:
            number = float(value)
        except OverflowError:
            raise _Unusable from None
    elif kind is str and value:
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    if not math.isfinite(number):
        raise _Unusable
    return number


def _to_int(value: Any) -> int | None:
    """An int from a number or numeric string (``"12"``, ``"12.7"`` → 12); None when absent, empty or not
    numeric. Raises :class:`_Unusable` for non-finite numbers and values outside :data:`INT_RANGE`."""
    kind = type(value)
    if kind is int:
        number: int = value
    elif kind is float or kind is str:
        if kind is str and not value:
            return None
        try:
            number = int(value)
        except ValueError:
            as_float = _to_float(value)
            if as_float is None:
                return None
            number = int(as_float)
        except OverflowError:  # float infinity
            raise _Unusable from None
    else:
        return None
    if not -INT_RANGE <= number < INT_RANGE:
        raise _Unusable
    return number


def _as_int(value: Any) -> int | None:
    """:func:`_to_int`, with an unusable number read as None (nested fields: AMS trays, HMS entries)."""
    try:
        return _to_int(value)
    except _Unusable:
        return None


_isfinite = math.isfinite


class _Fields:
    """Reads top-level fields of a kept state for :func:`normalise`, noting the ones whose value is unusable."""

    __slots__ = ("get", "rejected")

    def __init__(self, state: Mapping[str, Any]) -> None:
        self.get = state.get
        self.rejected: list[str] = []

    def number(self, key: str) -> float | None:
        value = self.get(key)
        if type(value) is float and _isfinite(value):  # the usual case, kept cheap (normalise runs per report)
            return value
        try:
            return _to_float(value)
        except _Unusable:
            self.rejected.append(key)
            return None

    def integer(self, key: str) -> int | None:
        value = self.get(key)
        if type(value) is int and -INT_RANGE <= value < INT_RANGE:  # the usual case
            return value
        try:
            return _to_int(value)
        except _Unusable:
            self.rejected.append(key)
            return None

    def moment(self, key: str) -> datetime | None:
        """Epoch seconds → aware UTC; None for 0/absent. A moment outside the calendar is rejected."""
        seconds = self.integer(key)
        if not seconds or seconds <= 0:
            return None
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (ValueError, OverflowError, OSError):
            self.rejected.append(key)
            return None


def _non_zero_id(value: Any) -> str | None:
    if value is None or type(value) in (dict, list):
        return None
    text = str(value) if type(value) is not str else value
    return None if text in ("", "0") else short_text(text)


def stage_word(stg_cur: Any) -> str | None:
    """The stage word for ``stg_cur`` (``0`` → ``printing``, ``2`` → ``heatbed_preheating``, -1/255 → ``idle``).

    Unknown numbers give ``stage_<n>``; a missing value gives None.
    """
    number = _as_int(stg_cur)
    if number is None:
        return None
    return _STAGES.get(number) or f"stage_{number}"


def _tray(ams_id: int, raw: dict[str, Any]) -> AmsTray | None:
    cached = raw.get(_TRAY_CACHE)
    if cached is not None and cached.ams_id == ams_id:
        return cached  # type: ignore[no-any-return]
    tray_id = _as_int(raw.get("id"))
    if tray_id is None:
        return None
    remain = _as_int(raw.get("remain"))
    raw[_TRAY_CACHE] = tray = AmsTray(
        ams_id=ams_id,
        tray_id=tray_id,
        tray_type=short_text(raw.get("tray_type")),
        color=short_text(raw.get("tray_color")),
        remain_percent=None if remain is None or remain < 0 else remain,
        tray_info_idx=short_text(raw.get("tray_info_idx")),
        tag_uid=short_text(raw.get("tag_uid")),
    )
    return tray


def _ams_trays(state: Mapping[str, Any]) -> tuple[AmsTray, ...]:
    trays: list[AmsTray] = []
    ams = state.get("ams")
    if type(ams) is dict:
        for unit in ams.get("ams") or ():
            if type(unit) is not dict:
                continue
            ams_id = _as_int(unit.get("id"))
            if ams_id is None:
                continue
            for raw in unit.get("tray") or ():
                if type(raw) is dict and (tray := _tray(ams_id, raw)) is not None:
                    trays.append(tray)
    external = state.get("vt_tray")
    if type(external) is dict and external.get("tray_type"):
        tray = _tray(255, external)
        if tray is not None:
            trays.append(tray)
    return tuple(trays)


def _hms_code(entry: Any) -> str | None:
    if type(entry) is not dict:
        return None
    attr, code = _as_int(entry.get("attr")), _as_int(entry.get("code"))
    if attr is None or code is None:
        return None
    return f"HMS_{attr >> 16:04X}_{attr & 0xFFFF:04X}_{code >> 16:04X}_{code & 0xFFFF:04X}"


def normalise(
    state: Mapping[str, Any],
    *,
    last_seen: datetime,
    rejected: list[str] | None = None,
    material_slots: MaterialSlots | None = None,
) -> PrinterStatus:
    """Turn a kept (merged) ``print`` state into a :class:`PrinterStatus`. Never raises on data from the wire.

    - ``gcode_state``: IDLE → idle; PREPARE/SLICING/INIT → preparing; RUNNING → printing; PAUSE → paused;
      FINISH → finished; FAILED → failed, or cancelled when ``print_error`` is 50348044 (0x0300400C, a user
      stop). Unknown words give ``error`` (check :func:`is_placeholder` first: the client never shows those).
    - ``mc_percent`` % → ``progress``; ``mc_remaining_time`` minutes → ``remaining_seconds``; ``layer_num`` /
      ``total_layer_num``; ``gcode_file`` → ``file_name``; ``subtask_name`` → ``job_name``.
    - ``gcode_start_time`` (epoch seconds; ``"0"``/absent = none) → ``print_start_time`` only when non-zero:
      start times are never estimated.
    - ``native_job_id``: ``task_id``, else ``subtask_id``, when non-zero (LAN prints send ``"0"`` or ``""``).
    - ``stg_cur`` → ``stage`` word; temperatures °C; AMS trays (``remain`` -1 → None) plus the external spool
      (``vt_tray``, ams_id 255) when loaded; ``ams.tray_now`` → ``active_tray`` (``"255"`` → None).
    - ``error_codes``: ``print_error`` as 8 hex digits when non-zero (not the user-stop code of a cancelled print,
      nor the codes that echo a person's own pause or cancel: ``printer_errors.NOT_ERRORS``),
      then ``hms`` entries as ``HMS_AAAA_AAAA_CCCC_CCCC`` (at most :data:`MAX_ERROR_CODES` in all).

    Texts that are not strings give None and are cut to :data:`~printfleet.printers.limits.MAX_TEXT_CHARS`.
    A top-level number that cannot be used (NaN, ±infinity, an integer outside ±2⁶³ or too large for a float, a
    ``gcode_start_time`` outside the calendar) is left out of the snapshot (None), its key is appended to
    ``rejected`` when given, and it is deleted from ``state`` when that is a dict, so the kept state never holds
    it on later reports. A field with the wrong type (``"mc_percent": "abc"``) reads as None.

    ``last_seen`` must be timezone-aware UTC (when the report arrived). ``material_slots`` (kept by
    :class:`printfleet.printers.bambu.slots.SlotTracker`) is handed on as it is.
    """
    get = state.get
    fields = _Fields(state)
    raw_state = get("gcode_state")
    print_error = fields.integer("print_error") or 0
    printer_state = _GCODE_STATES.get(raw_state, PrinterState.ERROR) if type(raw_state) is str else None
    if printer_state is None:
        printer_state = PrinterState.ERROR
    elif printer_state is PrinterState.FAILED and print_error == CANCELLED_PRINT_ERROR:
        printer_state = PrinterState.CANCELLED

    error_codes: tuple[str, ...] = ()
    hms = get("hms")
    if print_error and (printer_state is PrinterState.CANCELLED or is_not_an_error(f"{print_error:08X}")):
        print_error = 0  # a person's own stop or pause, not an error
    if print_error or hms:
        codes = [f"{print_error:08X}"] if print_error else []
        if type(hms) is list:
            codes.extend(code for entry in hms[:MAX_ERROR_CODES] if (code := _hms_code(entry)) is not None)
        error_codes = tuple(codes[:MAX_ERROR_CODES])

    remaining = fields.integer("mc_remaining_time")
    ams = get("ams")
    tray_now = _as_int(ams.get("tray_now")) if type(ams) is dict else None
    print_type = short_text(get("print_type"))
    trays = get(_TRAYS_CACHE)
    if trays is None:
        trays = _ams_trays(state)
        if isinstance(state, dict):
            state[_TRAYS_CACHE] = trays

    raw_mapping = get("mapping")
    mapping: tuple[int, ...] = ()
    if type(raw_mapping) is list:  # decoded once per list received (the kept state keeps the same list object)
        cached = get(_MAPPING_CACHE)
        if type(cached) is tuple and cached[0] is raw_mapping:
            mapping = cached[1]
        else:
            mapping = print_mapping(raw_mapping)
            if isinstance(state, dict):
                state[_MAPPING_CACHE] = (raw_mapping, mapping)

    status = PrinterStatus(
        state=printer_state,
        raw_state=short_text(raw_state),
        file_name=short_text(get("gcode_file")),
        job_name=short_text(get("subtask_name")),
        progress=fields.number("mc_percent"),
        remaining_seconds=None if remaining is None or remaining < 0 else remaining * 60,
        print_start_time=fields.moment("gcode_start_time"),
        nozzle_temp=fields.number("nozzle_temper"),
        nozzle_target=fields.number("nozzle_target_temper"),
        bed_temp=fields.number("bed_temper"),
        bed_target=fields.number("bed_target_temper"),
        chamber_temp=fields.number("chamber_temper"),
        layer=fields.integer("layer_num"),
        total_layers=fields.integer("total_layer_num"),
        native_job_id=_non_zero_id(get("task_id")) or _non_zero_id(get("subtask_id")),
        stage=stage_word(get("stg_cur")),
        ams_trays=trays,
        active_tray=None if tray_now is None or tray_now == 255 else tray_now,
        error_codes=error_codes,
        last_seen=last_seen,
        material_slots=material_slots,
        ams_mapping=mapping,
        extra={"print_type": print_type} if print_type else {},
    )
    if fields.rejected:
        if isinstance(state, dict):
            for key in fields.rejected:
                state.pop(key, None)
        if rejected is not None:
            rejected.extend(fields.rejected)
    return status
