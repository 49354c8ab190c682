"""Digests: a rule's messages gathered into one summary per hour or per day instead of one message each (issue's
"optional digest"; research N2: farms with many printers drown in single messages).

A message for a digest rule is held until the rule's next sending moment: the top of the next hour, or the next
``at`` (local wall-clock time) of the day, both in the rule's own IANA time zone (so a daily digest follows
daylight-saving changes, and an hourly one the zone's own hours, which in Asia/Kolkata fall at :30 UTC). Everything a
channel has due then goes out as one message. Critical events (:data:`~printfleet.domain.notifications.quiet.
CRITICAL_EVENTS`: a failed print, a runout, a printer's error, a printer gone) are never held for a digest: they need
a person now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from printfleet.domain.notifications.model import NotificationEvent
from printfleet.domain.notifications.quiet import CRITICAL_EVENTS


class DigestPeriod(StrEnum):
    """How often a digest goes out."""

    HOURLY = "hourly"
    DAILY = "daily"


@dataclass(frozen=True, slots=True, kw_only=True)
class Digest:
    """Send the rule's messages every hour, or every day at ``at``, in ``timezone`` (IANA name, checked with
    :func:`~printfleet.domain.notifications.quiet.time_zone_problem` before one is made)."""

    period: DigestPeriod
    timezone: str = "UTC"
    at: time = time(8, 0)

    def sends_at(self, now: datetime) -> datetime:
        """The first sending moment after ``now`` (aware), as aware UTC."""
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        if self.period is DigestPeriod.HOURLY:
            top = local.replace(minute=0, second=0, microsecond=0)
            # Step in UTC: a local hour that repeats or is skipped at a daylight-saving change stays one hour.
            return (top.astimezone(UTC) + timedelta(hours=1)).astimezone(UTC)
        day = local.date()
        for offset in (0, 1, 2):
            moment = datetime.combine(day + timedelta(days=offset), self.at, tzinfo=zone).astimezone(UTC)
            if moment > now:
                return moment
        raise AssertionError("unreachable: a day always has a next sending moment")

    def held_until(self, event: NotificationEvent, now: datetime) -> datetime | None:
        """When a message for ``event`` written at ``now`` goes out: the next sending moment, or None (at once) for
        a critical event."""
        if event in CRITICAL_EVENTS:
            return None
        return self.sends_at(now)

    def text(self) -> str:
        """``hourly (Europe/Berlin)`` or ``daily at 08:00 (Europe/Berlin)``."""
        if self.period is DigestPeriod.HOURLY:
            return f"hourly ({self.timezone})"
        return f"daily at {self.at:%H:%M} ({self.timezone})"


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One message gathered into a digest: its event, title and text."""

    event: NotificationEvent
    title: str
    body: str


def digest_text(items: Sequence[DigestItem]) -> tuple[str, str]:
    """The digest's title and text: how many messages, then each one's title and text in the order written."""
    count = len(items)
    title = f"printfleet: {count} notification{'s' if count != 1 else ''}"
    parts = []
    for item in items:
        parts.append(f"• {item.title}" + (f"\n  {item.body.strip()}" if item.body.strip() else ""))
    return title, "\n".join(parts)
