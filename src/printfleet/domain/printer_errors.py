"""What a printer's error code means, for the codes printfleet knows: a key and its values, so that each reader
words it in its own language (the notifications in English, the web UI in the page's language).

Codes are as in ``PrinterStatus.error_codes``: a Bambu ``print_error`` as 8 hex digits (``0500400A``), an HMS entry as
``HMS_AAAA_AAAA_CCCC_CCCC``. Sources (../shared/research): materials-notifications.md for the filament runouts
(ha-bambulab's ``hms_en.json.gz`` device and HMS texts), dispatch-scheduling-orders.md for the codes seen around
sending a print (bambuddy's ``hms_errors.py``). The other HMS and ``print_error`` meanings are printfleet's own words
for the English texts of ha-bambulab's catalogue (``pybambu/hms_error_text/hms_en.json.gz``, device and HMS parts) and,
where marked, bambuddy's ``hms_errors.py``.

How an HMS entry reads (Bambu Studio ``DevHMS.cpp`` ``parse_hms_info``; ha-bambulab ``utils.py``): ``attr`` is module
(bits 24-31), unit (16-23), part (8-15); ``code`` is the level (bits 16-31: 1 fatal, 2 serious, 3 common, 4 info) and
the message (0-15). So ``HMS_0700_2000_0002_0001`` is module 07 (AMS), unit 00 (A), part 20, serious, message 1.
Modules (Bambu Studio ``DevHMS.h`` ``ModuleID``): 03 motion controller (heaters, fans, motors, door, chamber), 05 main
board (storage, network, files), 07 AMS, 08 toolhead, 0C camera and Micro Lidar (first layer, spaghetti, plate
markers); 12 is the AMS Lite and 18 the AMS HT (what ha-bambulab's texts for those codes name). Unit FE / FF of the AMS
module is the external spool (left / right extruder on a two-nozzle printer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_AMS_UNITS = "ABCD"
_HMS_RUNOUT = re.compile(r"^HMS_(07|12|18)0([0-3])_2000_000([23])_000([1-4])$")

PRINT_ERRORS: dict[str, str] = {
    "03008015": "runout_external",
    "12008011": "runout_ams_lite",
    "18FE8011": "runout_external_left",
    "18FF8011": "runout_external_right",
    "07FF8011": "runout_external",
    "03008004": "runout",  # bambuddy
    "05004004": "device_busy",
    "05004003": "file_unreadable",
    "0500C010": "storage_error",
    "0500400C": "no_storage_card",
    "07008012": "ams_mapping_failed",
    "07FF8012": "ams_mapping_failed",
    "03004000": "homing_failed",
    "03004009": "homing_failed",
    "03004006": "nozzle_clogged",
    "03008016": "nozzle_clogged",
    "0300801C": "extrusion_resistance",
    "0300400D": "power_loss_resume_failed",
    "03008007": "power_loss",
    "03008000": "paused_unknown",
    "03008013": "paused_by_gcode",
    "0300800F": "door_open",
    "03008042": "door_open",
    "0300404B": "door_open_aborted",
    "03008002": "first_layer_defects",
    "0C008001": "first_layer_defects",
    "0C00C003": "first_layer_defects",
    "03008003": "spaghetti",
    "0C008042": "spaghetti",
    "0C00C004": "spaghetti",
    "03008019": "plate_not_detected",
    "03008011": "plate_type_mismatch",
    "03008006": "plate_marker_missing",
    "03008008": "nozzle_temperature",
    "03008009": "heatbed_temperature",
    "03008018": "chamber_temperature",
    "03008010": "hotend_fan",
    "0300800B": "cutter_stuck",
    "07008001": "cut_failed",
    "0300800C": "layer_shift",  # bambuddy
    "07008006": "ams_feed_failed",
    "07008010": "ams_tangled",
    "0C008005": "purge_chute",
}
"""Bambu ``print_error`` codes → key (an AMS unit's runout ``07XX8011`` is matched by pattern)."""

NOT_ERRORS = frozenset({"03008001", "0500400E"})
"""``print_error`` codes that echo what a person did, not a fault: paused by the user (0x03008001), printing cancelled
(0x0500400E; bambuddy drops both, with 0x0300400C, as user actions). They are not announced as errors."""

HMS_ERRORS: dict[str, str] = {
    "HMS_0500_0500_0001_0007": "command_not_verified",
    "HMS_0500_0100_0003_0007": "no_storage_card",
    "HMS_0300_0100_0001_0001": "heatbed_fault",
    "HMS_0300_0100_0001_0005": "heatbed_fault",
    "HMS_0300_0100_0001_0007": "heatbed_sensor",
    "HMS_0300_0200_0001_0001": "nozzle_heater_fault",
    "HMS_0300_0200_0001_0007": "nozzle_sensor",
    "HMS_0300_0200_0001_0008": "nozzle_heating_slow",
    "HMS_0300_0300_0001_0001": "hotend_fan",
    "HMS_0300_0300_0002_0002": "hotend_fan",
    "HMS_0300_0400_0002_0001": "part_fan",
    "HMS_0300_0900_0002_0001": "extruder_overloaded",
    "HMS_0300_1A00_0002_0001": "nozzle_wrapped",
    "HMS_0300_1A00_0002_0002": "nozzle_clogged",
    "HMS_0C00_0300_0002_000E": "nozzle_wrapped",
    "HMS_0300_2000_0001_0001": "homing_failed",
    "HMS_0300_2000_0001_0003": "homing_failed",
    "HMS_0300_1200_0002_0001": "toolhead_cover_off",
    "HMS_0300_9600_0001_0001": "door_open",
    "HMS_0300_9600_0003_0001": "door_open",
    "HMS_0300_9700_0001_0001": "top_cover_open",
    "HMS_0300_A100_0001_0001": "chamber_too_hot",
    "HMS_0300_9000_0001_0001": "chamber_heating_failed",
    "HMS_0C00_0100_0001_0001": "lidar_offline",
    "HMS_0C00_0100_0001_0004": "lidar_dirty",
    "HMS_0C00_0300_0002_000C": "plate_marker_missing",
    "HMS_0C00_0300_0002_0010": "foreign_objects",
    "HMS_0C00_0300_0003_0007": "first_layer_defects",
    "HMS_0C00_0300_0003_0008": "spaghetti",
    "HMS_0C00_0400_0002_0026": "camera_failed",
    "HMS_0700_7000_0002_0003": "extrusion_failed",
    "HMS_0700_4500_0002_0003": "cutter_stuck",
    "HMS_07FF_2000_0002_0001": "runout_external",
}
"""Bambu HMS codes → key (the runouts and the tangles, which carry a unit and slot, are matched by pattern; so is a
build plate not seated, 0300_0D00_0001_0003 to _000A)."""

_HMS_PLATE = re.compile(r"^HMS_0300_0D00_0001_000[3-9A]$")
_HMS_TANGLE = re.compile(r"^HMS_070([0-3])_0100_0002_0002$")  # the AMS unit's assist motor is overloaded
_HMS_TANGLE_LITE = re.compile(r"^HMS_120([01])_8000_0002_000([1-4])$")
_AMS_RUNOUT_PRINT_ERROR = re.compile(r"^070([0-3])8011$")

OTHER_ERRORS: dict[str, str] = {
    "OCTOPRINT_THERMAL_RUNAWAY": "thermal_runaway",
    "OCTOPRINT_MINTEMP": "heater_too_cold",
    "OCTOPRINT_MAXTEMP": "heater_too_hot",
    "OCTOPRINT_HEATING_FAILED": "heating_failed",
    "OCTOPRINT_HALTED": "firmware_halted",
    "OCTOPRINT_LINK_LOST": "link_lost",
    "OCTOPRINT_ERROR": "firmware_error",
    "klippy_shutdown": "klipper_shutdown",
    "klippy_error": "klipper_error",
}
"""Codes printfleet gives errors that printers report in words: OctoPrint's (from the firmware's ``Error:`` line it
shows as ``Offline after error: …``) and Klipper's (Moonraker's ``klippy_state``) → key."""

_OCTOPRINT_PATTERNS = (
    (re.compile(r"thermal runaway", re.IGNORECASE), "OCTOPRINT_THERMAL_RUNAWAY"),
    (re.compile(r"mintemp", re.IGNORECASE), "OCTOPRINT_MINTEMP"),
    (re.compile(r"maxtemp", re.IGNORECASE), "OCTOPRINT_MAXTEMP"),
    (re.compile(r"heating failed", re.IGNORECASE), "OCTOPRINT_HEATING_FAILED"),
    (re.compile(r"halted|kill\(\) called", re.IGNORECASE), "OCTOPRINT_HALTED"),
    (re.compile(r"timeout|serial|\bport\b|connection|disconnect", re.IGNORECASE), "OCTOPRINT_LINK_LOST"),
)
"""Marlin's error messages as OctoPrint passes them on (Marlin ``MSG_T_THERMAL_RUNAWAY``, ``MSG_T_MINTEMP``,
``MSG_T_MAXTEMP``, ``MSG_T_HEATING_FAILED``, ``MSG_ERR_KILLED``) and OctoPrint's own link errors ("Too many consecutive
timeouts", a serial port that went away), most specific first."""


def octoprint_error_code(text: str) -> str:
    """printfleet's code for an error OctoPrint reports in words (see :data:`OTHER_ERRORS`); ``OCTOPRINT_ERROR`` for
    one it does not recognise."""
    for pattern, code in _OCTOPRINT_PATTERNS:
        if pattern.search(text):
            return code
    return "OCTOPRINT_ERROR"


RUNOUT_KEYS = frozenset(
    {
        "runout",
        "runout_ams_unit",
        "runout_ams",
        "runout_ams_switched",
        "runout_external",
        "runout_ams_lite",
        "runout_external_left",
        "runout_external_right",
    }
)
"""The keys that mean a spool ran out."""


@dataclass(frozen=True, slots=True)
class KnownError:
    """A code's meaning: ``key`` (one of the module's keys) and its ``values`` (``ams``: AMS, AMS Lite or AMS HT,
    ``unit``: A-D, ``slot``: 1-4, for an AMS runout or tangle)."""

    key: str
    values: dict[str, str] = field(default_factory=dict)

    @property
    def is_runout(self) -> bool:
        """True when it means a spool ran out."""
        return self.key in RUNOUT_KEYS


def known_error(code: str) -> KnownError | None:
    """The meaning of ``code``, or None when printfleet does not know it (the code alone is then shown, with
    :func:`hms_link` for an HMS code)."""
    for table in (PRINT_ERRORS, HMS_ERRORS, OTHER_ERRORS):
        if code in table:
            return KnownError(table[code])
    if _HMS_PLATE.match(code):
        return KnownError("plate_not_seated")
    if match := _AMS_RUNOUT_PRINT_ERROR.match(code):
        return KnownError("runout_ams_unit", {"ams": "AMS", "unit": _AMS_UNITS[int(match.group(1))]})
    if match := _HMS_TANGLE.match(code):
        return KnownError("ams_tangled", {"ams": "AMS", "unit": _AMS_UNITS[int(match.group(1))]})
    if match := _HMS_TANGLE_LITE.match(code):
        unit, slot = match.groups()
        return KnownError("ams_tangled_slot", {"ams": "AMS Lite", "unit": _AMS_UNITS[int(unit)], "slot": slot})
    match = _HMS_RUNOUT.match(code)
    if match is None:
        return None
    family, unit, kind, slot = match.groups()
    ams = {"07": "AMS", "12": "AMS Lite", "18": "AMS HT"}[family]
    values = {"ams": ams, "unit": _AMS_UNITS[int(unit)], "slot": slot}
    return KnownError("runout_ams_switched" if kind == "3" else "runout_ams", values)


def is_not_an_error(code: str) -> bool:
    """True for a code that echoes a person's own pause or cancel (see :data:`NOT_ERRORS`)."""
    return code in NOT_ERRORS


_HMS_CODE = re.compile(r"^HMS_([0-9A-F]{4})_([0-9A-F]{4})_([0-9A-F]{4})_([0-9A-F]{4})$")

HMS_SEVERITIES = {1: "fatal", 2: "serious", 3: "common", 4: "info"}
"""An HMS entry's level (Bambu Studio ``HMSMessageLevel``; ha-bambulab ``HMS_SEVERITY_LEVELS``)."""

HMS_MODULES = {
    0x03: "printer",
    0x05: "main board",
    0x07: "AMS",
    0x08: "toolhead",
    0x0C: "camera",
    0x12: "AMS Lite",
    0x18: "AMS HT",
}
"""An HMS entry's module, as printfleet names it (see the module's docstring)."""


@dataclass(frozen=True, slots=True)
class HmsCode:
    """An HMS code read: ``module`` (a name of :data:`HMS_MODULES`, or its hex byte), ``unit`` (``A``-``H`` of an
    AMS, ``external`` for FE/FF, None for other modules), ``severity`` (``fatal``, ``serious``, ``common``, ``info``
    or ``unknown``) and ``link``, Bambu Lab's page that explains it (the address Bambu Studio opens:
    ``https://e.bambulab.com/index.php?e=<16 hex digits>&s=device_hms&lang=en``, ``HMS.cpp`` ``get_hms_wiki_url``)."""

    module: str
    unit: str | None
    severity: str
    link: str


def read_hms(code: str) -> HmsCode | None:
    """``code`` (``HMS_AAAA_AAAA_CCCC_CCCC``) read, or None for another kind of code."""
    match = _HMS_CODE.match(code)
    if match is None:
        return None
    first, second, level, message = match.groups()
    module, unit_byte = int(first[:2], 16), int(first[2:], 16)
    unit: str | None = None
    if module in (0x07, 0x12, 0x18):
        unit = "external" if unit_byte >= 0xFE else "ABCDEFGH"[unit_byte] if unit_byte < 8 else None
    return HmsCode(
        module=HMS_MODULES.get(module, f"module {module:02X}"),
        unit=unit,
        severity=HMS_SEVERITIES.get(int(level, 16), "unknown"),
        link=f"https://e.bambulab.com/index.php?e={first}{second}{level}{message}&s=device_hms&lang=en",
    )


def hms_link(code: str) -> str | None:
    """Bambu Lab's page explaining the HMS ``code`` (see :class:`HmsCode`), or None for another kind of code."""
    read = read_hms(code)
    return read.link if read is not None else None


def codes_of(reason: str) -> list[str] | None:
    """The codes of a job's end reason ``printer error (A, B)`` (printfleet's own wording), or None for another
    reason."""
    if not (reason.startswith("printer error (") and reason.endswith(")")):
        return None
    inner = reason[len("printer error (") : -1]
    return [code.strip() for code in inner.split(",") if code.strip() and code.strip() != "no code"]
