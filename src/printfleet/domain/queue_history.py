"""The queue's history: one record per thing that happened to an entry. Pure: no I/O.

The service writes a :class:`HistoryRecord` in the same transaction as the entry change it describes, so the
history is exactly what the store holds (``/history``, the Queue page, and the audit of a simulated day read it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class HistoryKind(StrEnum):
    """What happened to an entry.

    ``joined``; ``offered`` (a printer offered, the claim window runs); ``claimed`` (reserved, the start window
    runs); ``withdrawn`` (an offer taken back: a print bypassed the queue on that printer, or a hold); ``claim_missed``
    and ``start_missed`` (a window ran out: back of the queue, or ``expired``); ``linked`` (a print started on the
    reserved printer); ``done`` (the linked job ended; ``detail`` is its outcome); ``cancelled``, ``removed``,
    ``moved``, ``estimate_changed``; ``unqueued`` (a print nobody claimed started; no entry, ``detail`` names it).
    """

    JOINED = "joined"
    OFFERED = "offered"
    CLAIMED = "claimed"
    WITHDRAWN = "withdrawn"
    CLAIM_MISSED = "claim_missed"
    START_MISSED = "start_missed"
    EXPIRED = "expired"
    LINKED = "linked"
    DONE = "done"
    CANCELLED = "cancelled"
    REMOVED = "removed"
    MOVED = "moved"
    ESTIMATE_CHANGED = "estimate_changed"
    UNQUEUED = "unqueued"


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryRecord:
    """One event of the queue at ``at`` (aware UTC). ``entry_id`` and ``user_id`` are None for an unqueued print;
    ``printer_id`` is the printer concerned when there is one; ``job_id`` the linked job; ``detail`` a short text
    (the outcome of ``done``, the reason of ``removed`` or ``expired``, the file of ``unqueued``)."""

    kind: HistoryKind
    at: datetime
    entry_id: int | None = None
    user_id: str | None = None
    printer_id: str | None = None
    job_id: int | None = None
    detail: str | None = None
    id: int | None = None
