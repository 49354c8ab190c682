"""Farm statistics: prints per day, success rate, printing hours and utilisation per printer, failure reasons, and
actual against estimated duration, over a date range in the viewer's time zone.

Pure rules; the store aggregates the jobs and the printers' state transitions, and these types say what the figures
mean:

- A *print* is a job that is not deleted and not a manual job still waiting (``pending``); it counts on the local
  day of its ``created_at`` (for an automatic job, the moment its print was first seen).
- The *success rate* is completed ÷ ended (completed + failed + cancelled): a print whose end was not seen
  (``unknown``) says nothing about success and is left out, a cancelled one counts against it (a cancel is nearly
  always a print gone wrong that a person stopped).
- *Printing hours* are the ended prints' ``duration_seconds``.
- *Utilisation* is the time a printer spent ``printing`` ÷ the time it was connected (any state but ``offline``),
  both from its recorded state transitions, clipped to the range. Time while printfleet itself was not running
  counts in the state recorded last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

OUTCOMES = ("completed", "failed", "cancelled", "unknown")
"""The job statuses a print ends in, in the order the chart stacks them."""

ACTIVE = ("running", "paused")
"""The job statuses of a print still going."""

MAX_RANGE_DAYS = 400
"""The longest range a request may ask for (days): a year and some, one bar per day."""

SLOT_MINUTES = 15
"""Every time zone's offset from UTC is a multiple of 15 minutes, so counts kept per UTC quarter hour fall into
local days exactly (the store's way on SQLite, which has no time zones)."""


class StatisticsRangeError(ValueError):
    """A range that cannot be shown: ``reason`` is ``time_zone``, ``order`` or ``too_long``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StatsRange:
    """The local days ``first``..``last`` (both included) in ``time_zone`` (IANA name), for ``printer_ids`` (empty:
    every printer). Build with :meth:`of`, which checks it."""

    first: date
    last: date
    time_zone: str
    printer_ids: tuple[str, ...] = ()

    @classmethod
    def of(cls, first: date, last: date, time_zone: str, printer_ids: Iterable[str] = ()) -> StatsRange:
        """The range; raises StatisticsRangeError for an unknown time zone, ``last`` before ``first``, or more than
        :data:`MAX_RANGE_DAYS` days."""
        zone_of(time_zone)
        if last < first:
            raise StatisticsRangeError("order", "the last day is before the first")
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise StatisticsRangeError("too_long", f"a range is at most {MAX_RANGE_DAYS} days")
        return cls(first=first, last=last, time_zone=time_zone, printer_ids=tuple(sorted(set(printer_ids))))

    @property
    def zone(self) -> ZoneInfo:
        """The time zone."""
        return ZoneInfo(self.time_zone)

    @property
    def since(self) -> datetime:
        """The first day's local midnight, in UTC."""
        return _midnight(self.first, self.zone)

    @property
    def until(self) -> datetime:
        """The local midnight after the last day, in UTC (excluded)."""
        return _midnight(self.last + timedelta(days=1), self.zone)

    def days(self) -> list[date]:
        """Every day of the range, in order."""
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def local_day(self, moment: datetime) -> date:
        """The local day of an aware ``moment``."""
        return moment.astimezone(self.zone).date()


def zone_of(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; raises StatisticsRangeError (reason ``time_zone``) when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise StatisticsRangeError("time_zone", f"unknown time zone {name!r}") from None


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    # A zone whose clocks skip midnight (a few change at 00:00) starts that day at the first instant that exists.
    local = datetime(day.year, day.month, day.day, tzinfo=zone)
    return local.astimezone(UTC)


def success_rate(completed: int, failed: int, cancelled: int) -> float | None:
    """completed ÷ (completed + failed + cancelled), 0..1; None when nothing ended."""
    ended = completed + failed + cancelled
    return completed / ended if ended else None


@dataclass(frozen=True, slots=True)
class Counts:
    """Prints by status: ``by_status`` maps a job status to a count."""

    by_status: Mapping[str, int] = field(default_factory=dict)

    def __getitem__(self, status: str) -> int:
        return self.by_status.get(status, 0)

    @property
    def total(self) -> int:
        """Every print counted."""
        return sum(self.by_status.values())

    @property
    def success_rate(self) -> float | None:
        """See :func:`success_rate`."""
        return success_rate(self["completed"], self["failed"], self["cancelled"])

    def plus(self, other: Counts) -> Counts:
        """Both counts added."""
        merged = dict(self.by_status)
        for status, count in other.by_status.items():
            merged[status] = merged.get(status, 0) + count
        return Counts(merged)


@dataclass(frozen=True, slots=True)
class DayFigures:
    """One local day: its prints by status."""

    day: date
    counts: Counts


@dataclass(frozen=True, slots=True)
class PrinterFigures:
    """One printer over the range: its prints by status, printing hours (ended prints' durations, seconds), and the
    seconds it was ``printing`` and connected according to its state transitions."""

    printer_id: str
    counts: Counts
    print_seconds: int
    printing_seconds: float
    connected_seconds: float

    @property
    def utilisation(self) -> float | None:
        """printing ÷ connected, 0..1; None when it was never connected in the range."""
        if self.connected_seconds <= 0:
            return None
        return min(1.0, self.printing_seconds / self.connected_seconds)


@dataclass(frozen=True, slots=True)
class ReasonFigures:
    """How many prints ended with ``status`` (failed, cancelled or unknown) for ``reason`` (the job's stored
    ``end_reason``; empty when none was recorded)."""

    status: str
    reason: str
    count: int


@dataclass(frozen=True, slots=True)
class DurationFigures:
    """Completed prints whose file gave an estimate: how many, and their mean actual and estimated durations
    (seconds)."""

    prints: int
    actual_seconds: float | None
    estimated_seconds: float | None

    @property
    def ratio(self) -> float | None:
        """actual ÷ estimated (1.1: prints take 10 % longer than sliced); None without data."""
        if not self.actual_seconds or not self.estimated_seconds:
            return None
        return self.actual_seconds / self.estimated_seconds


@dataclass(frozen=True, slots=True)
class Statistics:
    """The figures of one range: every day (zero-filled), every printer with prints or connected time, the failure
    reasons (most frequent first), and the durations."""

    range: StatsRange
    days: list[DayFigures]
    printers: list[PrinterFigures]
    reasons: list[ReasonFigures]
    durations: DurationFigures

    @property
    def counts(self) -> Counts:
        """All the range's prints by status."""
        total = Counts()
        for day in self.days:
            total = total.plus(day.counts)
        return total

    @property
    def print_seconds(self) -> int:
        """The printing hours of every printer, in seconds."""
        return sum(printer.print_seconds for printer in self.printers)


def days_filled(stats_range: StatsRange, counted: Mapping[date, Counts]) -> list[DayFigures]:
    """One :class:`DayFigures` per day of the range, with the counts given (none: zero); days outside the range
    are dropped."""
    return [DayFigures(day=day, counts=counted.get(day, Counts())) for day in stats_range.days()]


def counts_by_local_day(stats_range: StatsRange, slots: Iterable[tuple[datetime, str, int]]) -> dict[date, Counts]:
    """Counts per local day from counts per UTC slot: ``(slot start (aware), status, count)`` rows, each slot a
    :data:`SLOT_MINUTES`-minute span that lies within one local day."""
    by_day: dict[date, dict[str, int]] = {}
    for start, status, count in slots:
        counts = by_day.setdefault(stats_range.local_day(start), {})
        counts[status] = counts.get(status, 0) + count
    return {day: Counts(counts) for day, counts in by_day.items()}


def seconds_in_states(
    transitions: Iterable[tuple[datetime, str]], *, since: datetime, until: datetime
) -> dict[str, float]:
    """Seconds spent in each state within ``[since, until)`` from one printer's transitions ``(at, to_state)`` in
    time order; the first may lie before ``since`` (the state the range starts in), the last state lasts until
    ``until``."""
    spent: dict[str, float] = {}
    ordered = list(transitions)
    for index, (at, state) in enumerate(ordered):
        end = ordered[index + 1][0] if index + 1 < len(ordered) else until
        start, end = max(at, since), min(end, until)
        if end > start:
            spent[state] = spent.get(state, 0.0) + (end - start).total_seconds()
    return spent
