"""The rules of scheduled prints, as examples: copies, chains with offsets, eligibility, the order, staffed hours,
stagger and the predicted timeline."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

import pytest

from printfleet.domain.files.model import FilamentUse, PlateInfo
from printfleet.domain.jobs import JobStatus
from printfleet.domain.printer import AmsTray, PrinterConfig, PrinterKind
from printfleet.domain.schedule.model import (
    OffsetFrom,
    PrintPlan,
    ScheduledPrint,
    ScheduleStatus,
    Target,
    expand_copies,
)
from printfleet.domain.schedule.ordering import (
    StaffedHours,
    at_risk,
    choose,
    in_order,
    slack,
    stagger_wait,
)
from printfleet.domain.schedule.rules import (
    Gate,
    after_dispatch_failure,
    ams_mapping,
    chain_state,
    is_due,
    job_failure_reason,
    material_loaded,
    shown_status,
    target_matches,
    temperature_mismatch,
)
from printfleet.domain.schedule.timeline import predict

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a Monday
MIN = timedelta(minutes=1)


def sp(id: int, **fields: Any) -> ScheduledPrint:
    values: dict[str, Any] = {
        "job_name": f"print {id}",
        "file_id": 1,
        "created_by": 1,
        "created_at": NOW - timedelta(hours=1) + id * MIN,
        "updated_at": NOW,
        **fields,
    }
    return ScheduledPrint(id=id, **values)


def printer(id: str, **fields: Any) -> PrinterConfig:
    return PrinterConfig(id=id, name=id, kind=PrinterKind.BAMBU, **fields)


# --- copies ----------------------------------------------------------------------------------------------------


def test_three_copies_become_three_rows_numbered_in_their_names() -> None:
    rows = expand_copies(PrintPlan(job_name="Hook", file_id=4, copies=3, priority=2), created_by=7, created_at=NOW)
    assert [row.job_name for row in rows] == ["Hook (1/3)", "Hook (2/3)", "Hook (3/3)"]
    assert [row.copy_index for row in rows] == [1, 2, 3]
    assert {row.priority for row in rows} == {2}


def test_one_copy_keeps_its_name_and_zero_copies_are_refused() -> None:
    [row] = expand_copies(PrintPlan(job_name="Hook", file_id=4), created_by=None, created_at=NOW)
    assert row.job_name == "Hook"
    with pytest.raises(ValueError, match="copies"):
        expand_copies(PrintPlan(job_name="Hook", file_id=4, copies=0), created_by=None, created_at=NOW)


# --- chains ----------------------------------------------------------------------------------------------------


def test_a_print_chained_to_its_predecessors_start_may_begin_the_offset_after_it_started() -> None:
    first = sp(1, status=ScheduleStatus.STARTED, started_at=NOW)
    second = sp(2, depends_on=1, offset_minutes=10, offset_from=OffsetFrom.START)
    assert chain_state(second, first).at == NOW + 10 * MIN
    assert not is_due(second, first, NOW + 9 * MIN)
    assert is_due(second, first, NOW + 10 * MIN)


def test_a_print_chained_to_its_predecessors_finish_waits_while_the_predecessor_prints() -> None:
    first = sp(1, status=ScheduleStatus.STARTED, started_at=NOW)
    second = sp(2, depends_on=1, offset_minutes=5, offset_from=OffsetFrom.FINISH)
    assert chain_state(second, first).gate is Gate.CLOSED
    assert shown_status(second, first, NOW + timedelta(days=1)) is ScheduleStatus.WAITING
    done = sp(1, status=ScheduleStatus.COMPLETED, started_at=NOW, completed_at=NOW + 60 * MIN)
    assert chain_state(second, done).at == NOW + 65 * MIN
    assert shown_status(second, done, NOW + 65 * MIN) is ScheduleStatus.QUEUED


def test_a_failed_predecessor_skips_a_print_that_needed_its_success() -> None:
    failed = sp(1, status=ScheduleStatus.FAILED, started_at=NOW, completed_at=NOW + 3 * MIN)
    assert chain_state(sp(2, depends_on=1, only_if_succeeded=True), failed).gate is Gate.SKIP
    anyway = sp(2, depends_on=1, only_if_succeeded=False, offset_minutes=2)
    assert chain_state(anyway, failed).at == NOW + 5 * MIN  # counted from the failure


def test_a_scheduled_start_holds_a_print_until_then_even_with_its_predecessor_done() -> None:
    done = sp(1, status=ScheduleStatus.COMPLETED, completed_at=NOW)
    later = sp(2, depends_on=1, scheduled_start=NOW + 2 * timedelta(hours=1))
    assert not is_due(later, done, NOW + timedelta(hours=1))
    assert is_due(later, done, NOW + timedelta(hours=2))


def test_only_a_queued_print_is_due() -> None:
    for status in (ScheduleStatus.DISPATCHING, ScheduleStatus.STARTED, ScheduleStatus.CANCELLED):
        assert not is_due(sp(1, status=status), None, NOW)


# --- eligibility -----------------------------------------------------------------------------------------------


def test_targets_name_a_printer_a_model_tags_or_any_printer() -> None:
    x1c = printer("a", model="X1 Carbon", tags=("PETG", "room-2"))
    p1s = printer("b", model="P1S", tags=("petg",))
    assert target_matches(sp(1, printer_id="a"), x1c)
    assert not target_matches(sp(1, printer_id="a"), p1s)
    assert target_matches(sp(1, target=Target(model="x1 carbon")), x1c)
    assert not target_matches(sp(1, target=Target(model="X1 Carbon")), p1s)
    assert target_matches(sp(1, target=Target(tags=("petg",))), p1s)
    assert not target_matches(sp(1, target=Target(tags=("petg", "room-2"))), p1s)
    assert target_matches(sp(1), p1s)


def test_a_print_that_asks_for_a_material_needs_it_loaded_where_the_printer_reports_its_trays() -> None:
    trays = (
        AmsTray(ams_id=0, tray_id=0, tray_type="PLA", color="FF8000FF"),
        AmsTray(ams_id=0, tray_id=1, tray_type="PETG", color="000000FF"),
    )
    assert material_loaded(sp(1, material_type="petg"), trays)
    assert material_loaded(sp(1, material_type="PLA", material_color="#ff8000"), trays)
    assert not material_loaded(sp(1, material_type="PLA", material_color="#000000"), trays)
    assert not material_loaded(sp(1, material_type="PETG", material_slot=0), trays)
    assert not material_loaded(sp(1, material_type="ASA"), trays)
    assert material_loaded(sp(1, material_type="ASA"), ())  # a printer without trays: nothing to compare
    assert material_loaded(sp(1), trays)


def test_a_failed_dispatch_goes_back_to_the_queue_until_the_third() -> None:
    assert after_dispatch_failure(1, 3) is ScheduleStatus.QUEUED
    assert after_dispatch_failure(3, 3) is ScheduleStatus.FAILED


def test_a_job_that_ends_without_completing_gives_its_reason() -> None:
    assert job_failure_reason(JobStatus.COMPLETED, None) is None
    assert job_failure_reason(JobStatus.FAILED, "HMS 0300_4000") == "HMS 0300_4000"
    assert job_failure_reason(JobStatus.CANCELLED, None) == "the print was cancelled"


# --- the order -------------------------------------------------------------------------------------------------


def test_slack_is_deadline_less_now_less_duration_less_margin() -> None:
    due = sp(1, finish_by=NOW + timedelta(hours=3), estimated_duration_minutes=120)
    assert slack(due, NOW) == timedelta(minutes=30)
    assert not at_risk(due, NOW)
    assert at_risk(due, NOW + 30 * MIN)
    assert slack(sp(2, finish_by=NOW), NOW) is None  # no estimate: never at risk


def test_higher_priority_goes_first_then_the_earliest_deadline_then_the_oldest() -> None:
    old = sp(1)
    newer = sp(2)
    urgent = sp(3, priority=5)
    dated = sp(4, finish_by=NOW + timedelta(days=3), estimated_duration_minutes=60)
    assert [p.id for p in in_order([newer, dated, old, urgent], NOW)] == [3, 4, 1, 2]


def test_a_print_whose_deadline_is_at_risk_goes_before_higher_priorities() -> None:
    urgent = sp(1, priority=9)
    risky = sp(2, finish_by=NOW + 100 * MIN, estimated_duration_minutes=90)  # slack -20 min
    riskier = sp(3, finish_by=NOW + 60 * MIN, estimated_duration_minutes=90)  # slack -60 min
    assert [p.id for p in in_order([urgent, risky, riskier], NOW)] == [3, 2, 1]
    assert choose([urgent, risky, riskier], NOW) == riskier


def test_nothing_eligible_chooses_nothing() -> None:
    assert choose([], NOW) is None


WEEKDAYS_8_TO_18 = StaffedHours(
    days=frozenset(range(5)), start=time(8), end=time(18), zone=timezone(timedelta(hours=1))
)


def test_staffed_hours_prefer_a_print_that_ends_while_someone_is_there() -> None:
    # 09:00 UTC is 10:00 in the +01:00 zone: a 10 h print ends at 20:00 local (nobody there), a 2 h one at 12:00.
    long = sp(1, priority=5, estimated_duration_minutes=600)
    short = sp(2, estimated_duration_minutes=120)
    assert choose([long, short], NOW, staffed_hours=WEEKDAYS_8_TO_18) == short


def test_staffed_hours_never_leave_a_printer_idle_unless_strict() -> None:
    long = sp(1, estimated_duration_minutes=600)
    assert choose([long], NOW, staffed_hours=WEEKDAYS_8_TO_18) == long
    assert choose([long], NOW, staffed_hours=WEEKDAYS_8_TO_18, strict=True) is None


def test_staffed_hours_know_weekends_and_overnight_shifts() -> None:
    saturday_noon = datetime(2026, 12, 12, 11, 0, tzinfo=UTC)
    assert not WEEKDAYS_8_TO_18.contains(saturday_noon)
    night = StaffedHours(days=frozenset({4}), start=time(22), end=time(6), zone=UTC)  # Friday night
    assert night.contains(datetime(2026, 12, 11, 23, 0, tzinfo=UTC))
    assert night.contains(datetime(2026, 12, 12, 5, 0, tzinfo=UTC))  # Saturday morning, same shift
    assert not night.contains(datetime(2026, 12, 13, 5, 0, tzinfo=UTC))


def test_stagger_allows_one_dispatch_per_interval_across_the_farm() -> None:
    minute = timedelta(seconds=60)
    assert stagger_wait(None, NOW, minute) == timedelta(0)
    assert stagger_wait(NOW - timedelta(seconds=20), NOW, minute) == timedelta(seconds=40)
    assert stagger_wait(NOW - timedelta(seconds=90), NOW, minute) == timedelta(0)
    assert stagger_wait(NOW, NOW, timedelta(0)) == timedelta(0)  # stagger off


# --- timeline --------------------------------------------------------------------------------------------------


def test_the_timeline_places_a_chain_after_its_predecessor_and_marks_a_late_print_at_risk() -> None:
    running = sp(
        1, status=ScheduleStatus.STARTED, assigned_printer_id="a", started_at=NOW, estimated_duration_minutes=60
    )
    chained = sp(2, printer_id="a", depends_on=1, offset_minutes=10, estimated_duration_minutes=30)
    anywhere = sp(3, estimated_duration_minutes=120, finish_by=NOW + 90 * MIN)
    entries = {
        e.print_id: e
        for e in predict(
            [running, chained, anywhere],
            [(printer("a"), NOW), (printer("b"), NOW)],
            NOW,
            eligible=target_matches,
        )
    }
    assert entries[1].running
    assert entries[1].end == NOW + 60 * MIN
    assert (entries[2].printer_id, entries[2].start) == ("a", NOW + 70 * MIN)
    assert (entries[3].printer_id, entries[3].start) == ("b", NOW)
    assert entries[3].at_risk
    assert not entries[2].at_risk


def test_a_material_slot_feeds_the_one_filament_a_plate_uses_through_the_ams_mapping() -> None:
    third_filament = PlateInfo(index=1, filaments=(FilamentUse(slot=3, type="PETG"),))
    two_filaments = PlateInfo(index=1, filaments=(FilamentUse(slot=1), FilamentUse(slot=2)))

    assert ams_mapping(sp(1, material_slot=6), third_filament) == (-1, -1, 6)  # AMS 1, tray 2 for filament 3
    assert ams_mapping(sp(1, material_slot=6), two_filaments) == ()  # the printer maps several filaments itself
    assert ams_mapping(sp(1), third_filament) == ()  # no slot asked for
    assert ams_mapping(sp(1, material_slot=6), None) == ()  # the plate is not described


def test_a_temperature_far_from_the_files_is_refused_and_one_the_file_does_not_state_is_not() -> None:
    plate = PlateInfo(index=1, nozzle_temp=220.0, bed_temp=None)

    assert temperature_mismatch(224.0, None, plate) is None  # within 5 °C
    assert temperature_mismatch(None, 100.0, plate) is None  # the file states no bed temperature
    assert temperature_mismatch(260.0, None, None) is None  # nothing known of the plate
    problem = temperature_mismatch(260.0, None, plate)
    assert problem is not None
    assert problem.startswith("nozzle_temp 260 °C, but the file is sliced for 220 °C.")
