"""Which eligible scheduled print a ready printer takes next, when the farm may start the next one, and staffed
hours: one pure ordering rule (docs/schedule.md, "The order").

1. Prints whose deadline is **at risk** come first, smallest slack first. Slack = ``finish_by`` − now − estimated
   duration − margin (``schedule.deadline_margin``, default 30 min); at risk means slack ≤ 0. A print without a
   deadline, or without an estimate, is never at risk.
2. Then **priority**, higher first.
3. Then the **earliest deadline** (prints without one after those with one).
4. Then the **oldest** (creation time, then id).

Staffed hours (``schedule.staffed_hours``): among the prints in that order, the first whose predicted end (now +
estimated duration) falls inside staffed hours is taken; when none does, the first one is taken anyway (a printer
is never left idle only for this) unless ``schedule.staffed_hours_strict``. A print without an estimate counts as
ending inside. Research: dispatch-scheduling-orders.md 6.2 item 4 (ordering; working-hours mode after
maziggy/bambuddy#2868) and item 5 (stagger computed at dispatch time).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from printfleet.domain.schedule.model import ScheduledPrint

DEFAULT_MARGIN = timedelta(minutes=30)
_NO_DEADLINE = float("inf")


def slack(print_: ScheduledPrint, now: datetime, *, margin: timedelta = DEFAULT_MARGIN) -> timedelta | None:
    """``finish_by − now − estimated duration − margin``, or None without a deadline or an estimate."""
    if print_.finish_by is None or print_.estimated_duration_minutes is None:
        return None
    return print_.finish_by - now - timedelta(minutes=print_.estimated_duration_minutes) - margin


def at_risk(print_: ScheduledPrint, now: datetime, *, margin: timedelta = DEFAULT_MARGIN) -> bool:
    """Whether ``print_``'s deadline is at risk at ``now`` (slack ≤ 0)."""
    left = slack(print_, now, margin=margin)
    return left is not None and left <= timedelta(0)


def rank_key(
    print_: ScheduledPrint, now: datetime, *, margin: timedelta = DEFAULT_MARGIN
) -> tuple[int, float, int, float, float, int]:
    """The sort key of the order above: smaller goes first."""
    left = slack(print_, now, margin=margin)
    risky = left is not None and left <= timedelta(0)
    return (
        0 if risky else 1,
        left.total_seconds() if risky and left is not None else 0.0,
        -print_.priority,
        print_.finish_by.timestamp() if print_.finish_by is not None else _NO_DEADLINE,
        print_.created_at.timestamp(),
        print_.id,
    )


def in_order(
    prints: Iterable[ScheduledPrint], now: datetime, *, margin: timedelta = DEFAULT_MARGIN
) -> list[ScheduledPrint]:
    """``prints`` in the order they are taken (the rule above, without staffed hours)."""
    return sorted(prints, key=lambda p: rank_key(p, now, margin=margin))


@dataclass(frozen=True, slots=True, kw_only=True)
class StaffedHours:
    """When someone is there to take prints off the plate: ``days`` (0 Monday … 6 Sunday) from ``start`` to
    ``end`` (wall-clock times in ``zone``; ``end`` ≤ ``start`` runs past midnight into the next day)."""

    days: frozenset[int]
    start: time
    end: time
    zone: tzinfo

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` (aware) falls inside staffed hours."""
        local = moment.astimezone(self.zone)
        clock = local.time().replace(tzinfo=None)
        if self.start < self.end:
            return local.weekday() in self.days and self.start <= clock < self.end
        # An overnight shift belongs to the day it began on.
        if clock >= self.start:
            return local.weekday() in self.days
        return clock < self.end and (local.weekday() - 1) % 7 in self.days


def ends_in_staffed_hours(print_: ScheduledPrint, now: datetime, hours: StaffedHours) -> bool:
    """Whether ``print_`` started at ``now`` would end inside ``hours`` (True without an estimate)."""
    duration = print_.estimated_duration
    return duration is None or hours.contains(now + duration)


def choose(
    eligible: Sequence[ScheduledPrint],
    now: datetime,
    *,
    margin: timedelta = DEFAULT_MARGIN,
    staffed_hours: StaffedHours | None = None,
    strict: bool = False,
) -> ScheduledPrint | None:
    """The print a ready printer takes from ``eligible`` (already filtered for target, time, chain and file), or
    None. One pass per criterion, no full sort (``make bench`` measures it with 10,000 prints)."""
    if not eligible:
        return None
    key = lambda p: rank_key(p, now, margin=margin)  # noqa: E731
    if staffed_hours is None:
        return min(eligible, key=key)
    inside = [p for p in eligible if ends_in_staffed_hours(p, now, staffed_hours)]
    if inside:
        return min(inside, key=key)
    return None if strict else min(eligible, key=key)


def stagger_wait(last_dispatch_at: datetime | None, now: datetime, stagger: timedelta) -> timedelta:
    """How long the farm must still wait before its next dispatch: at most one dispatch per ``stagger`` (default
    60 s, ``schedule.stagger``; 0 turns it off) so that many heated beds do not start at once."""
    if last_dispatch_at is None or stagger <= timedelta(0):
        return timedelta(0)
    return max(timedelta(0), last_dispatch_at + stagger - now)
