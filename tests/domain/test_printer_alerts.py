"""The rules of printer alerts: a new error code is announced once, a runout is told from other errors, and a
printer is announced offline once per outage after the grace period, never when it was not reached since start-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from printfleet.domain.events import PrinterErrorRaised
from printfleet.domain.notifications.announce import announcements
from printfleet.domain.notifications.model import NotificationEvent
from printfleet.domain.notifications.printer_alerts import PrinterWatch, error_text, is_runout
from printfleet.domain.printer import OfflineReason, PrinterState, PrinterStatus

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
GRACE = timedelta(minutes=5)
RUNOUT = "HMS_0700_2000_0002_0001"
NOZZLE = "HMS_0300_0200_0001_000A"


def printing(*codes: str) -> PrinterStatus:
    return PrinterStatus(state=PrinterState.PRINTING, error_codes=codes, last_seen=T0)


def offline(reason: OfflineReason = OfflineReason.UNREACHABLE) -> PrinterStatus:
    return PrinterStatus.offline(reason, detail="connection refused")


def codes(raised: list[PrinterErrorRaised]) -> list[str | None]:
    return [event.code for event in raised]


def test_a_code_is_announced_when_it_appears_and_again_only_after_it_cleared() -> None:
    watch = PrinterWatch(GRACE)
    assert watch.observe("x1c", printing(), T0) == []
    assert codes(watch.observe("x1c", printing(NOZZLE), T0)) == [NOZZLE]
    assert watch.observe("x1c", printing(NOZZLE), T0) == []  # a repeated report is the same error
    assert codes(watch.observe("x1c", printing(NOZZLE, RUNOUT), T0)) == [RUNOUT]
    assert watch.observe("x1c", printing(), T0) == []
    assert codes(watch.observe("x1c", printing(NOZZLE), T0)) == [NOZZLE]


def test_the_codes_of_the_first_report_after_start_up_and_after_a_reconnect_are_known() -> None:
    watch = PrinterWatch(GRACE)
    assert watch.observe("x1c", offline(OfflineReason.CONNECTING), T0) == []
    assert watch.observe("x1c", printing(NOZZLE), T0) == []  # may have been announced before a restart
    assert watch.observe("x1c", offline(), T0) == []
    assert watch.observe("x1c", printing(NOZZLE), T0) == []


def test_an_error_state_without_a_code_is_announced_once_per_entry() -> None:
    watch = PrinterWatch(GRACE)
    watch.observe("mk4", PrinterStatus(state=PrinterState.IDLE), T0)
    error = PrinterStatus(state=PrinterState.ERROR)
    assert codes(watch.observe("mk4", error, T0)) == [None]
    assert watch.observe("mk4", error, T0) == []
    watch.observe("mk4", PrinterStatus(state=PrinterState.IDLE), T0)
    assert codes(watch.observe("mk4", error, T0)) == [None]


def test_runout_codes_are_told_from_other_errors_with_their_text() -> None:
    assert is_runout(RUNOUT)
    assert is_runout("HMS_0701_2000_0003_0004")  # AMS B slot 4 ran out, switched to a backup spool
    assert is_runout("HMS_1200_2000_0002_0002")  # AMS Lite
    assert is_runout("03008015")  # external spool, as print_error
    assert is_runout("18FF8011")  # H2D right external spool
    assert not is_runout(NOZZLE)
    assert not is_runout("0300400C")
    assert error_text(RUNOUT) == "AMS A slot 1: the filament has run out. Insert a new spool."
    assert error_text("HMS_0701_2000_0003_0004") == (
        "AMS B slot 4: the filament has run out; the printer switched to a spool of the same filament."
    )
    assert error_text(NOZZLE) == "A fatal error of the printer (Bambu HMS)."  # its level and module, no guess
    assert error_text("0300ABCD") is None


def test_a_runout_is_announced_as_filament_runout_and_other_errors_as_hms_error() -> None:
    watch = PrinterWatch(GRACE)
    watch.observe("x1c", printing(), T0)
    raised = watch.observe("x1c", printing(RUNOUT, NOZZLE), T0)
    found = [announcement for event in raised for announcement in announcements(event)]
    assert [a.event for a in found] == [NotificationEvent.FILAMENT_RUNOUT, NotificationEvent.HMS_ERROR]
    assert len({a.subject for a in found}) == 2


def test_an_outage_is_announced_once_after_the_grace_period_and_ends_when_the_printer_is_back() -> None:
    watch = PrinterWatch(GRACE)
    watch.observe("x1c", printing(), T0)
    watch.observe("x1c", offline(), T0 + timedelta(seconds=10))
    assert watch.next_due() == T0 + timedelta(seconds=10) + GRACE
    assert watch.due(T0 + timedelta(minutes=5)) == []
    [gone] = watch.due(T0 + timedelta(minutes=5, seconds=10))
    assert (gone.printer_id, gone.since, gone.reason) == ("x1c", T0 + timedelta(seconds=10), "unreachable")
    watch.observe("x1c", offline(OfflineReason.TIMEOUT), T0 + timedelta(minutes=6))  # still the same outage
    assert watch.due(T0 + timedelta(hours=1)) == []
    assert watch.next_due() is None
    [announcement] = announcements(gone)
    assert announcement.event is NotificationEvent.PRINTER_OFFLINE

    watch.observe("x1c", printing(), T0 + timedelta(hours=2))
    watch.observe("x1c", offline(), T0 + timedelta(hours=3))
    [again] = watch.due(T0 + timedelta(hours=4))
    assert again.since == T0 + timedelta(hours=3)
    assert announcements(again)[0].subject != announcement.subject


def test_a_printer_back_within_the_grace_period_is_not_announced() -> None:
    watch = PrinterWatch(GRACE)
    watch.observe("x1c", printing(), T0)
    watch.observe("x1c", offline(), T0)
    watch.observe("x1c", printing(), T0 + timedelta(minutes=1))
    assert watch.due(T0 + timedelta(hours=1)) == []


def test_printers_never_reached_since_start_up_are_not_announced() -> None:
    watch = PrinterWatch(GRACE)
    watch.observe("x1c", offline(OfflineReason.CONNECTING), T0)
    watch.observe("x1c", offline(), T0)
    assert watch.due(T0 + timedelta(hours=1)) == []
    watch.forget("x1c")
    assert watch.next_due() is None
