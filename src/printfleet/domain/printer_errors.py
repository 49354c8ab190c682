"""What a printer's error code means, for the codes printfleet knows: a key and its values, so that each reader
words it in its own language (the notifications in English, the web UI in the page's language).

Codes are as in ``PrinterStatus.error_codes``: a Bambu ``print_error`` as 8 hex digits (``0500400A``), an HMS entry as
``HMS_AAAA_AAAA_CCCC_CCCC``. Sources (../shared/research): materials-notifications.md for the filament runouts
(ha-bambulab's ``hms_en.json.gz`` device and HMS texts), dispatch-scheduling-orders.md for the codes seen around
sending a print (bambuddy's ``hms_errors.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_AMS_UNITS = "ABCD"
_HMS_RUNOUT = re.compile(r"^HMS_(07|12)0([0-3])_2000_000([23])_000([1-4])$")

PRINT_ERRORS: dict[str, str] = {
    "03008015": "runout_external",
    "12008011": "runout_ams_lite",
    "18FE8011": "runout_external_left",
    "18FF8011": "runout_external_right",
    "05004004": "device_busy",
    "05004003": "file_unreadable",
    "0500C010": "storage_error",
    "07008012": "ams_mapping_failed",
    "07FF8012": "ams_mapping_failed",
}
"""Bambu ``print_error`` codes → key."""

HMS_ERRORS: dict[str, str] = {
    "HMS_0500_0500_0001_0007": "command_not_verified",
}
"""Bambu HMS codes → key (the runouts, which carry a unit and slot, are matched by pattern)."""

RUNOUT_KEYS = frozenset(
    {
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
    """A code's meaning: ``key`` (one of the module's keys) and its ``values`` (``ams``: AMS or AMS Lite, ``unit``:
    A-D, ``slot``: 1-4, for an AMS runout)."""

    key: str
    values: dict[str, str] = field(default_factory=dict)

    @property
    def is_runout(self) -> bool:
        """True when it means a spool ran out."""
        return self.key in RUNOUT_KEYS


def known_error(code: str) -> KnownError | None:
    """The meaning of ``code``, or None when printfleet does not know it (the code alone is then shown)."""
    if code in PRINT_ERRORS:
        return KnownError(PRINT_ERRORS[code])
    if code in HMS_ERRORS:
        return KnownError(HMS_ERRORS[code])
    match = _HMS_RUNOUT.match(code)
    if match is None:
        return None
    family, unit, kind, slot = match.groups()
    values = {"ams": "AMS Lite" if family == "12" else "AMS", "unit": _AMS_UNITS[int(unit)], "slot": slot}
    return KnownError("runout_ams_switched" if kind == "3" else "runout_ams", values)


def codes_of(reason: str) -> list[str] | None:
    """The codes of a job's end reason ``printer error (A, B)`` (printfleet's own wording), or None for another
    reason."""
    if not (reason.startswith("printer error (") and reason.endswith(")")):
        return None
    inner = reason[len("printer error (") : -1]
    return [code.strip() for code in inner.split(",") if code.strip() and code.strip() != "no code"]
