"""The farm at a glance: which bucket each printer is in, which needs a person first, and names in natural order.

Pure functions over :class:`~printfleet.domain.printer.PrinterStatus`; the Printers page counts, filters and orders
its cards with them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from enum import StrEnum

from printfleet.domain.printer import PrinterState, PrinterStatus


class Bucket(StrEnum):
    """What an operator needs to know about a printer, one word each.

    - ``printing``: a print is under way (preparing or printing).
    - ``paused``: a print is paused.
    - ``error``: the printer reports an error.
    - ``failed``: its last print failed.
    - ``plate``: its last print ended and nobody has confirmed the plate is clear.
    - ``offline``: printfleet cannot reach it.
    - ``ready``: its last print ended (finished or cancelled) and the plate is clear: free for the next one.
    - ``idle``: the printer reports idle (nothing printed since it was switched on).

    ``error``, ``failed``, ``plate`` and ``offline`` together are *needs attention*.
    """

    PRINTING = "printing"
    PAUSED = "paused"
    ERROR = "error"
    FAILED = "failed"
    PLATE = "plate"
    OFFLINE = "offline"
    READY = "ready"
    IDLE = "idle"

    @property
    def needs_attention(self) -> bool:
        """True for the buckets a person has to act on (error, failed, plate to clear, offline)."""
        return self in ATTENTION


ATTENTION = (Bucket.ERROR, Bucket.FAILED, Bucket.PLATE, Bucket.OFFLINE)
"""The *needs attention* buckets, most urgent first."""

_ORDER = (Bucket.ERROR, Bucket.FAILED, Bucket.PLATE, Bucket.OFFLINE, Bucket.PAUSED, Bucket.PRINTING, Bucket.READY)
_RANK = {bucket: rank for rank, bucket in enumerate((*_ORDER, Bucket.IDLE))}


def bucket(status: PrinterStatus | None) -> Bucket:
    """The bucket of a printer with ``status`` (None: not reached yet, counted ``offline``).

    An error wins over everything, then a failed last print, then a plate to clear (a failed print with a plate to
    clear stays ``failed``); a print under way is ``printing`` or ``paused`` even when the plate flag is still set.
    """
    if status is None:
        return Bucket.OFFLINE
    state = status.state
    if state is PrinterState.ERROR:
        return Bucket.ERROR
    if state is PrinterState.OFFLINE:
        return Bucket.OFFLINE
    if state is PrinterState.PAUSED:
        return Bucket.PAUSED
    if state.is_active:
        return Bucket.PRINTING
    if state is PrinterState.FAILED:
        return Bucket.FAILED
    if status.plate_needs_clearing:
        return Bucket.PLATE
    if state is PrinterState.IDLE:
        return Bucket.IDLE
    return Bucket.READY


def attention_rank(value: Bucket) -> int:
    """Where a bucket sorts in *needs attention first* order: error 0, failed, plate, offline, paused, printing,
    ready, idle 7."""
    return _RANK[value]


def counts(buckets: Iterable[Bucket]) -> dict[Bucket, int]:
    """How many printers are in each bucket (every bucket present, zero when empty)."""
    found = Counter(buckets)
    return {value: found.get(value, 0) for value in Bucket}


_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key that orders names as people read them: digit runs by value, the rest case-insensitively.

    ``"Ender 3 #2"`` sorts before ``"Ender 3 #10"``, ``"mk4"`` next to ``"MK4"``; ``"#007"`` equals ``"#7"`` by
    value (ties then keep their input order, as :func:`sorted` is stable).
    """
    parts: list[tuple[int, int | str]] = []
    for index, part in enumerate(_DIGITS.split(name)):
        if index % 2:
            parts.append((0, int(part)))
        elif part:
            parts.append((1, part.casefold()))
    return tuple(parts)
