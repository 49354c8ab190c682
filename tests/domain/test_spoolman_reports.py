"""Reporting usage to Spoolman once: when a report whose answer was lost counts as delivered, and the back-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from printfleet.domain.materials.spoolman import ReportState, SpoolmanReport, already_applied, retry_delay

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _report(*, grams: float = 22.1, baseline: float | None = 100.0, uncertain: bool = True) -> SpoolmanReport:
    return SpoolmanReport(
        id=1,
        job_id=7,
        spool_id=3,
        spoolman_id=9,
        grams=grams,
        state=ReportState.PENDING,
        attempts=1,
        baseline_g=baseline,
        uncertain=uncertain,
        next_attempt_at=NOW,
    )


def test_a_lost_answer_counts_as_delivered_only_when_the_spool_grew_by_the_grams_since_the_baseline() -> None:
    assert already_applied(_report(), 122.1)
    assert already_applied(_report(), 130.0)  # and more, used by someone else meanwhile
    assert not already_applied(_report(), 100.0)  # Spoolman failed before applying it: send again
    assert not already_applied(_report(), 110.0)


def test_nothing_counts_as_delivered_without_an_uncertain_attempt_and_its_baseline() -> None:
    assert not already_applied(_report(uncertain=False), 122.1)
    assert not already_applied(_report(baseline=None), 122.1)


def test_a_negative_report_gives_filament_back_and_spoolman_clamps_at_zero() -> None:
    assert already_applied(_report(grams=-5.0, baseline=3.0), 0.0)
    assert not already_applied(_report(grams=-5.0, baseline=30.0), 30.0)


def test_retries_double_up_to_the_maximum() -> None:
    initial, maximum = timedelta(seconds=10), timedelta(minutes=10)
    delays = [retry_delay(n, initial=initial, maximum=maximum) for n in (1, 2, 3, 7, 1000)]
    assert delays == [timedelta(seconds=10), timedelta(seconds=20), timedelta(seconds=40), maximum, maximum]
