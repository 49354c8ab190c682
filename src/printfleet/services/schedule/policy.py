"""The scheduler's settings as the services use them, and its fixed waits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from printfleet.domain.schedule.ordering import DEFAULT_MARGIN, StaffedHours

RETRY_HOLD = timedelta(seconds=30)
"""After a dispatch to a printer failed, how long the scheduler sends it nothing more while it reports no new state
(a printer that refused as busy is usually seen printing at its next report; an upload that failed is tried again
after this)."""

ADOPT_GRACE = timedelta(seconds=30)
"""How long a print found ``dispatching`` without its dispatch may still be in another process's hands (between
its claim and its dispatch) before it goes back to the queue."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulePolicy:
    """The ``schedule.*`` settings as the services use them: ``stagger`` between dispatches across the farm (0:
    off), ``max_attempts`` dispatches per print, deadline ``margin``, ``interval_s`` (seconds) between looks when
    nothing happens, optional ``staffed_hours`` (``staffed_hours_strict``), ``members_may_schedule``, and
    ``require_plate_clear`` (``dispatch.require_plate_clear``)."""

    stagger: timedelta = timedelta(seconds=60)
    max_attempts: int = 3
    margin: timedelta = DEFAULT_MARGIN
    interval_s: float = 30.0
    staffed_hours: StaffedHours | None = None
    staffed_hours_strict: bool = False
    members_may_schedule: bool = False
    require_plate_clear: bool = True
