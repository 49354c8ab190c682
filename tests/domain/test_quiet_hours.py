"""Quiet hours: a window of local time that holds a rule's messages until it ends, across midnight and
daylight-saving changes; critical events pass when the rule says so."""

from __future__ import annotations

from datetime import UTC, datetime, time

from printfleet.domain.notifications.model import NotificationEvent
from printfleet.domain.notifications.quiet import QuietHours, time_zone_problem

NIGHT = QuietHours(start=time(22, 0), end=time(7, 0), timezone="Europe/Berlin")
LUNCH = QuietHours(start=time(12, 0), end=time(13, 30), timezone="Europe/Berlin", critical_bypass=False)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_window_across_midnight_holds_until_the_next_morning_in_its_own_zone() -> None:
    # 23:30 in Berlin (UTC+1 in December) → held until 07:00 Berlin, 06:00 UTC, the next day.
    assert NIGHT.ends_after(utc(2026, 12, 4, 22, 30)) == utc(2026, 12, 5, 6, 0)
    # 05:00 in Berlin → until 07:00 the same day.
    assert NIGHT.ends_after(utc(2026, 12, 5, 4, 0)) == utc(2026, 12, 5, 6, 0)
    # 07:00 sharp and 21:59 are outside.
    assert NIGHT.ends_after(utc(2026, 12, 5, 6, 0)) is None
    assert NIGHT.ends_after(utc(2026, 12, 5, 20, 59)) is None


def test_a_window_within_one_day() -> None:
    assert LUNCH.ends_after(utc(2026, 12, 4, 11, 15)) == utc(2026, 12, 4, 12, 30)
    assert LUNCH.ends_after(utc(2026, 12, 4, 10, 59)) is None
    assert LUNCH.ends_after(utc(2026, 12, 4, 12, 30)) is None


def test_the_window_follows_daylight_saving_time() -> None:
    # Berlin moves to UTC+2 on 2026-03-29: the night ends at 07:00 local, 05:00 UTC.
    assert NIGHT.ends_after(utc(2026, 3, 29, 3, 0)) == utc(2026, 3, 29, 5, 0)
    assert NIGHT.ends_after(utc(2026, 3, 27, 23, 0)) == utc(2026, 3, 28, 6, 0)


def test_critical_events_pass_when_the_rule_lets_them() -> None:
    night = utc(2026, 12, 4, 23, 0)
    assert NIGHT.held_until(NotificationEvent.PRINT_FINISHED, night) == utc(2026, 12, 5, 6, 0)
    for event in (NotificationEvent.PRINT_FAILED, NotificationEvent.FILAMENT_RUNOUT, NotificationEvent.PRINTER_OFFLINE):
        assert NIGHT.held_until(event, night) is None
    lunch = utc(2026, 12, 4, 11, 30)
    assert LUNCH.held_until(NotificationEvent.PRINT_FAILED, lunch) == utc(2026, 12, 4, 12, 30)


def test_an_empty_window_holds_nothing_and_zones_are_checked() -> None:
    assert QuietHours(start=time(8), end=time(8), timezone="UTC").ends_after(utc(2026, 12, 4, 8, 0)) is None
    assert time_zone_problem("Europe/Berlin") is None
    assert (
        time_zone_problem("Mars/Olympus") == "unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Berlin)"
    )
    assert NIGHT.text() == "22:00–07:00 Europe/Berlin"
