"""The plate-clear gate: a printer whose print ended keeps the print (or its remains) on the plate until a person
confirms it is clear. printfleet sends no print to it before that (``dispatch.require_plate_clear``).

Raised on every ending (finished, failed, cancelled: a cancelled print leaves material too; research
dispatch-scheduling-orders.md section 3a, Bambuddy #961/#1171), stored so it survives restarts, cleared by a person
(with the outcome of the print: ``good`` or ``bad``) or by the next print starting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class PlateOutcome(StrEnum):
    """How the print on the plate turned out, as the person clearing it judged."""

    GOOD = "good"
    BAD = "bad"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlateState:
    """One printer's plate. ``since`` is when it began to need clearing, ``job_id`` the print that left it;
    ``cleared_at``/``cleared_by`` (user id; None when a print starting cleared it)/``outcome`` describe the last
    clearing. Times aware UTC."""

    printer_id: str
    needs_clearing: bool = False
    since: datetime | None = None
    job_id: int | None = None
    cleared_at: datetime | None = None
    cleared_by: int | None = None
    outcome: PlateOutcome | None = None
