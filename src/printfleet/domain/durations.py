"""Durations people type and read in the queue: ``/join`` estimates and the claim/start window settings.

Grammar of :func:`parse_duration` (case-insensitive; spaces are allowed between the parts):

- ``90``: a bare number is minutes;
- ``2:15``: hours and minutes (``h:mm``, minutes 00–59);
- ``90m``, ``1h30m``, ``1h 30m``, ``1.5h``, ``90s``, ``1d 2h``: numbers with units, largest unit first, each unit
  at most once. Units: ``d``/``day(s)``, ``h``/``hr(s)``/``hour(s)``, ``m``/``min(s)``/``minute(s)``,
  ``s``/``sec(s)``/``second(s)``.

:func:`format_duration` writes the canonical form back (``1h30m``, ``45m``, ``1m30s``), which parses to the same
value. Both sit below the queue rules (:mod:`printfleet.domain.queue` and
:mod:`printfleet.domain.queue_commands` import this module, never the reverse), so the queue's input error is
defined here.
"""

from __future__ import annotations

import re
from datetime import timedelta

MAX_ESTIMATE = timedelta(hours=72)
"""Longest print estimate a user may give (the issue's guard rail)."""

MIN_ESTIMATE = timedelta(minutes=1)
"""Shortest print estimate a user may give."""

_EXAMPLES = "e.g. 90 (minutes), 90m, 1h30m or 2:15"

_UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_UNIT_WORDS = {
    "d": "d",
    "day": "d",
    "days": "d",
    "h": "h",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "m": "m",
    "min": "m",
    "mins": "m",
    "minute": "m",
    "minutes": "m",
    "s": "s",
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
}
_UNIT_RANK = {unit: rank for rank, unit in enumerate(_UNIT_SECONDS)}  # d, h, m, s: largest first
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CLOCK = re.compile(r"(\d+):(\d{2})")
_PARTS = re.compile(r"(?:\d+(?:\.\d+)?\s*[a-z]+\s*)+")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")


class QueueInputError(ValueError):
    """User input the queue refuses: a duration, a job name, a printer id, a queue position.

    ``str(error)`` is a complete English sentence to show the user as it is. It never quotes what the user typed
    (a Discord reply quoting ``@everyone`` would ping the server); that is in ``value``. ``field`` names the input
    (``estimate``, ``job_name``, ``printer_ids``, ``position``) when known, for the API's field errors.
    """

    def __init__(self, message: str, *, field: str | None = None, value: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.value = value


def parse_duration(
    text: str,
    *,
    maximum: timedelta,
    minimum: timedelta = timedelta(seconds=1),
    field: str | None = None,
) -> timedelta:
    """The duration ``text`` says (grammar in the module docstring), rounded to whole seconds.

    Raises :class:`QueueInputError` for empty or unreadable text, a negative value, and a value below ``minimum``
    (zero included) or above ``maximum``; ``field`` is passed on to the error.
    """
    cleaned = text.strip().lower()
    if not cleaned:
        raise QueueInputError(f"Give a duration, {_EXAMPLES}.", field=field, value=text)
    if cleaned.startswith("-"):
        raise QueueInputError("A duration can't be negative.", field=field, value=text)
    seconds = _seconds(cleaned, text, field)
    if seconds > maximum.total_seconds() * 1000:  # "99999999999999h" would overflow timedelta
        raise QueueInputError(f"That is over the maximum of {format_duration(maximum)}.", field=field, value=text)
    value = timedelta(seconds=round(seconds))
    if value <= timedelta(0):
        raise QueueInputError("A duration must be more than zero.", field=field, value=text)
    if value < minimum:
        raise QueueInputError(
            f"{format_duration(value)} is too short: at least {format_duration(minimum)}.", field=field, value=text
        )
    if value > maximum:
        raise QueueInputError(
            f"{format_duration(value)} is over the maximum of {format_duration(maximum)}.", field=field, value=text
        )
    return value


def parse_estimate(text: str, *, maximum: timedelta = MAX_ESTIMATE) -> timedelta:
    """A print estimate (``/join``, ``/update_time``): :func:`parse_duration` from 1 minute to ``maximum``."""
    return parse_duration(text, maximum=maximum, minimum=MIN_ESTIMATE, field="estimate")


def _seconds(cleaned: str, text: str, field: str | None) -> float:
    if _NUMBER.fullmatch(cleaned):
        return float(cleaned) * 60
    clock = _CLOCK.fullmatch(cleaned)
    if clock:
        hours, minutes = int(clock[1]), int(clock[2])
        if minutes >= 60:
            raise QueueInputError("In h:mm the minutes go from 00 to 59, e.g. 2:15.", field=field, value=text)
        return hours * 3600.0 + minutes * 60.0
    if not _PARTS.fullmatch(cleaned):
        raise QueueInputError(f"That is not a duration; try {_EXAMPLES}.", field=field, value=text)
    total = 0.0
    previous_rank = -1
    for number, word in _PART.findall(cleaned):
        unit = _UNIT_WORDS.get(word)
        if unit is None:
            raise QueueInputError(f"Unknown unit: use d, h, m or s, {_EXAMPLES}.", field=field, value=text)
        rank = _UNIT_RANK[unit]
        if rank <= previous_rank:
            raise QueueInputError(f"Give the units largest first and once each, {_EXAMPLES}.", field=field, value=text)
        previous_rank = rank
        total += float(number) * _UNIT_SECONDS[unit]
    return total


def format_duration(value: timedelta, *, seconds: bool = True) -> str:
    """``value`` as ``1h30m``, ``2h``, ``45m``, ``1m30s``, ``0m`` (hours are not folded into days: ``72h``).

    Sub-second parts are dropped. With ``seconds=False`` the value is rounded to the nearest minute first (for
    ETAs: ``1h29m47s`` reads ``1h30m``). Negative values get a leading ``-``.
    """
    total = int(value.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    if not seconds:
        total = (total + 30) // 60 * 60
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return sign + ("".join(parts) or "0m")
