"""When a digest goes out, in the rule's own time zone; critical events are never held for one; its text."""

from __future__ import annotations

from datetime import UTC, datetime, time

from printfleet.domain.notifications.digest import Digest, DigestItem, DigestPeriod, digest_text
from printfleet.domain.notifications.model import NotificationEvent


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_an_hourly_digest_goes_out_at_the_top_of_the_zones_next_hour() -> None:
    berlin = Digest(period=DigestPeriod.HOURLY, timezone="Europe/Berlin")
    assert berlin.sends_at(utc(2026, 12, 4, 10, 20)) == utc(2026, 12, 4, 11, 0)
    assert berlin.sends_at(utc(2026, 12, 4, 10, 0)) == utc(2026, 12, 4, 11, 0)  # a message at the top waits an hour
    kolkata = Digest(period=DigestPeriod.HOURLY, timezone="Asia/Kolkata")  # UTC+5:30: its hours fall at :30 UTC
    assert kolkata.sends_at(utc(2026, 12, 4, 10, 20)) == utc(2026, 12, 4, 10, 30)


def test_a_daily_digest_goes_out_at_its_local_time_across_a_daylight_saving_change() -> None:
    daily = Digest(period=DigestPeriod.DAILY, timezone="Europe/Berlin", at=time(8, 0))
    assert daily.sends_at(utc(2026, 12, 4, 6, 0)) == utc(2026, 12, 4, 7, 0)  # 08:00 CET
    assert daily.sends_at(utc(2026, 12, 4, 7, 0)) == utc(2026, 12, 5, 7, 0)  # just sent: tomorrow
    # Summer time starts on 29 March 2026: the same 08:00 is 06:00 UTC from then on.
    assert daily.sends_at(utc(2026, 3, 28, 12, 0)) == utc(2026, 3, 29, 6, 0)


def test_critical_events_are_never_held_for_a_digest() -> None:
    daily = Digest(period=DigestPeriod.DAILY)
    now = utc(2026, 12, 4, 12, 0)
    assert daily.held_until(NotificationEvent.PRINT_FINISHED, now) == utc(2026, 12, 5, 8, 0)
    for urgent in (
        NotificationEvent.PRINT_FAILED,
        NotificationEvent.FILAMENT_RUNOUT,
        NotificationEvent.PRINTER_OFFLINE,
    ):
        assert daily.held_until(urgent, now) is None


def test_the_digest_text_lists_every_message_in_order() -> None:
    title, body = digest_text(
        [
            DigestItem(NotificationEvent.PRINT_STARTED, "Started: benchy on X1C", "Started at 10:02."),
            DigestItem(NotificationEvent.PRINT_FINISHED, "Finished: benchy on X1C", ""),
        ]
    )
    assert title == "printfleet: 2 notifications"
    assert body == "• Started: benchy on X1C\n  Started at 10:02.\n• Finished: benchy on X1C"
