"""Quiet hours: a window of local wall-clock time in which a rule's messages are held, not dropped, and sent when
the window ends (research N2: defer, don't drop; Bambuddy drops them, which users then miss).

The window is given in the rule's own IANA time zone (``Europe/Berlin``), so it follows daylight-saving changes;
a window whose start is after its end wraps midnight (22:00–07:00). Critical events (:data:`CRITICAL_EVENTS`) pass
through when the rule says so (``critical_bypass``, the default).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from printfleet.domain.notifications.model import NotificationEvent

CRITICAL_EVENTS = frozenset(
    {
        NotificationEvent.PRINT_FAILED,
        NotificationEvent.FILAMENT_RUNOUT,
        NotificationEvent.HMS_ERROR,
        NotificationEvent.PRINTER_OFFLINE,
    }
)
"""Events that need a person now: a failed print, a runout, a printer's error, a printer gone."""


def time_zone_problem(name: str) -> str | None:
    """Why ``name`` is not a usable IANA time zone, or None."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class QuietHours:
    """From ``start`` to ``end`` (local wall-clock times, minutes precision) in ``timezone`` (IANA name; checked
    with :func:`time_zone_problem` before one is made). ``start == end`` is an empty window."""

    start: time
    end: time
    timezone: str
    critical_bypass: bool = True

    def held_until(self, event: NotificationEvent, now: datetime) -> datetime | None:
        """When a message for ``event`` written at ``now`` (aware) may be sent: the end of the window (aware UTC)
        when ``now`` falls inside it, else None (send now). A critical event is never held when
        ``critical_bypass``."""
        if self.critical_bypass and event in CRITICAL_EVENTS:
            return None
        return self.ends_after(now)

    def ends_after(self, now: datetime) -> datetime | None:
        """The end of the window ``now`` (aware) falls in, as aware UTC; None outside the window."""
        if self.start == self.end:
            return None
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        clock = local.time().replace(tzinfo=None)
        today = local.date()
        if self.start < self.end:
            inside = self.start <= clock < self.end
            end_day = today
        elif clock >= self.start:
            inside, end_day = True, today + timedelta(days=1)
        else:
            inside, end_day = clock < self.end, today
        if not inside:
            return None
        return datetime.combine(end_day, self.end, tzinfo=zone).astimezone(UTC)

    def text(self) -> str:
        """``22:00–07:00 Europe/Berlin``."""
        return f"{self.start:%H:%M}–{self.end:%H:%M} {self.timezone}"
