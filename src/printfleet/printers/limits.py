"""Bounds on what a printer may send: answer size, text length, and the errors a hostile payload can raise.

A printer is a device on the LAN that printfleet does not control. Whatever it sends (a 300 MB answer, a 1 MB file
name, JSON nested 100,000 deep, a number with 5,000 digits) must cost at most one dropped report, never the
connection, the process's memory, or a WebSocket frame every browser has to download.
"""

from __future__ import annotations

import math
from typing import Final

MAX_RESPONSE_BYTES: Final = 2 * 1024 * 1024
"""Largest HTTP answer body, in bytes, read from a polled printer (2 MiB; real status bodies are under 4 KiB).
A longer answer is refused without reading the rest: the printer goes offline ``protocol_error``."""

MAX_TEXT_CHARS: Final = 500
"""Longest printer-supplied text kept in a snapshot (file and job names, ids, state words), in characters. The
API accepts at most 500 characters for a job's file name, so a name cut here still matches a manual job's."""

MAX_ERROR_CODES: Final = 64
"""Most error codes kept in one snapshot (Bambu HMS lists); the rest are left out."""

INT_RANGE: Final = 2**63
"""Integers from a printer must lie in [-2⁶³, 2⁶³): what the store's INTEGER columns hold."""

UNREADABLE_ERRORS: Final[tuple[type[Exception], ...]] = (ValueError, TypeError, OverflowError, RecursionError)
"""What decoding or normalising hostile data can raise: invalid JSON or UTF-8 and Python's limit on integer digits
(ValueError), a wrong type (TypeError), a number too large for a float (OverflowError), nesting too deep for the
decoder (RecursionError). Adapters count any of them as one parse error and keep the connection."""


def short_text(value: object, limit: int = MAX_TEXT_CHARS) -> str | None:
    """``value`` when it is a non-empty str, cut to ``limit`` characters; None for anything else."""
    if type(value) is not str or not value:
        return None
    return value if len(value) <= limit else value[:limit]


def finite(value: float | None) -> float | None:
    """``value``, or None when it is NaN or ±infinity (those are no reading, and not JSON)."""
    return value if value is None or math.isfinite(value) else None
