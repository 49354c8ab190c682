"""Smoke test of the scheduler benchmark (``bench/schedule.py``) at small sizes: the figures come out and make sense.
Whether the targets are met at 10,000 prints is ``make bench``'s business (``python -m bench schedule``)."""

from __future__ import annotations

from bench.__main__ import BENCHMARKS
from bench.schedule import run


def test_schedule_benchmark_is_registered() -> None:
    assert BENCHMARKS["schedule"][0] == "bench.schedule:run"


def test_schedule_benchmark_measures_decisions_and_the_timeline_at_small_sizes() -> None:
    due, decision, timeline = run(prints=300, printers=8, plate_samples=0)
    assert due.measured.startswith("270 due, found in ")
    assert decision.name == "schedule decision (300 queued, 8 printers)"
    assert "(8 decisions)" in decision.measured
    assert decision.target == "p99 ≤ 20 ms"
    assert "(5 runs)" in timeline.measured
    assert timeline.passed is not None
