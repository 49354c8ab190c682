"""Maintenance rules: counters from recorded prints, due soon at 90 %, due once per crossing, scopes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from printfleet.domain.maintenance import (
    IntervalUnit,
    Level,
    NewTask,
    PrinterTask,
    Task,
    Usage,
    check_task,
    status,
    to_announce,
)

MADE = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 4, tzinfo=UTC)


def _task(interval: float, unit: IntervalUnit, **fields: object) -> Task:
    return Task(id=1, created_at=MADE, name="Clean the nozzle", interval=interval, unit=unit, **fields)  # type: ignore[arg-type]


def test_print_hours_count_printing_time_plus_the_printers_past() -> None:
    task = _task(200, IntervalUnit.PRINT_HOURS)
    record = PrinterTask(task_id=1, printer_id="x1c-1", offset=150)
    standing = status(task, record, Usage(print_seconds=30 * 3600, jobs=12), NOW)
    assert standing.used == pytest.approx(180)
    assert standing.remaining == pytest.approx(20)
    assert standing.level is Level.DUE_SOON  # 90 % of 200 h is 180 h
    assert status(task, record, Usage(print_seconds=29 * 3600), NOW).level is Level.OK


def test_days_count_from_the_last_time_it_was_done() -> None:
    task = _task(30, IntervalUnit.DAYS)
    never = PrinterTask(task_id=1, printer_id="mk4-1")
    assert status(task, never, Usage(), NOW).level is Level.DUE  # 33 days since the task was made
    done = replace(never, last_done_at=NOW - timedelta(days=2))
    standing = status(task, done, Usage(), NOW)
    assert standing.used == pytest.approx(2)
    assert standing.level is Level.OK
    assert standing.since == NOW - timedelta(days=2)


def test_jobs_count_ended_prints() -> None:
    task = _task(50, IntervalUnit.JOBS)
    record = PrinterTask(task_id=1, printer_id="mini-1")
    assert status(task, record, Usage(jobs=49), NOW).level is Level.DUE_SOON
    assert status(task, record, Usage(jobs=50), NOW).level is Level.DUE


def test_due_is_announced_once_per_crossing() -> None:
    task = _task(10, IntervalUnit.JOBS)
    fresh = PrinterTask(task_id=1, printer_id="p")
    due = status(task, fresh, Usage(jobs=10), NOW)
    assert to_announce(due)
    announced = replace(fresh, announced=Level.DUE)
    assert not to_announce(status(task, announced, Usage(jobs=11), NOW))
    assert not to_announce(status(task, fresh, Usage(jobs=9), NOW))  # due soon is shown, not announced


def test_a_task_covers_all_printers_one_printer_or_one_model() -> None:
    everywhere = _task(1, IntervalUnit.DAYS)
    assert everywhere.applies_to("any", None)
    one = _task(1, IntervalUnit.DAYS, printer_id="x1c-1")
    assert one.applies_to("x1c-1", "X1C")
    assert not one.applies_to("x1c-2", "X1C")
    model = _task(1, IntervalUnit.DAYS, printer_model="X1C")
    assert model.applies_to("x1c-2", "x1c")
    assert not model.applies_to("mk4-1", "MK4")
    assert not model.applies_to("o", None)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": " "}, "name"),
        ({"interval": 0}, "interval"),
        ({"interval": float("nan")}, "interval"),
        ({"warn_fraction": 1.0}, "warn_fraction"),
        ({"printer_id": "a", "printer_model": "X1C"}, "printer_model"),
    ],
)
def test_a_task_that_cannot_be_counted_is_refused_naming_the_field(fields: dict[str, object], field: str) -> None:
    base: dict[str, object] = {"name": "Lubricate rods", "interval": 100.0, "unit": IntervalUnit.PRINT_HOURS}
    with pytest.raises(ValueError, match=field):
        check_task(NewTask(**(base | fields)))  # type: ignore[arg-type]
