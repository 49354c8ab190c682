"""Smoke test of the queue benchmark (``bench/queue.py``) at small sizes, on SQLite: the figures come out and make
sense. Whether the targets are met at 10,000 entries is ``make bench``'s business (``python -m bench queue``).
"""

from __future__ import annotations

import re

from bench import Figure
from bench.__main__ import BENCHMARKS
from bench.queue import DEADLINE_TARGET_S, TARGET_MS, Sizes, measure

_CALLS = re.compile(r"p50 ([0-9.]+) ms  p99 ([0-9.]+) ms  \((\d+) (?:joins|claims)\)")
_LAG = re.compile(r"p50 (-?[0-9]+) ms  max (-?[0-9]+) ms late  \((\d+) expiries\)")


def _numbers(pattern: re.Pattern[str], figure: Figure) -> list[float]:
    match = pattern.fullmatch(figure.measured)
    assert match is not None, f"{figure.name}: {figure.measured}"
    return [float(group) for group in match.groups()]


def test_queue_benchmark_is_registered() -> None:
    assert BENCHMARKS["queue"][0] == "bench.queue:run"


async def test_queue_benchmark_measures_join_claim_and_deadlines_at_small_sizes() -> None:
    sizes = Sizes(queued=300, joins=12, claims=8, expiries=6, printers=4)
    figures = await measure(sizes, dialects=("sqlite",))
    by_name = {figure.name: figure for figure in figures}

    assert by_name["queue (sqlite) fill"].measured.startswith("300 entries bulk-inserted in ")
    for call, count in (("join", sizes.joins), ("claim", sizes.claims)):
        figure = by_name[f"queue {call} (sqlite, 300 queued)"]
        p50, p99, calls = _numbers(_CALLS, figure)
        assert calls == count
        assert 0 < p50 <= p99 < 10_000
        assert figure.target == f"p99 ≤ {TARGET_MS:g} ms"
        assert figure.passed is (p99 <= TARGET_MS)

    lag = by_name["queue deadline → claim_expired (sqlite)"]
    p50, most, expiries = _numbers(_LAG, lag)
    assert expiries == sizes.expiries
    assert 0 <= p50 <= most < 10_000  # an expiry is never announced before its deadline
    assert lag.passed is (most <= DEADLINE_TARGET_S * 1000)
    assert "queue (postgresql)" not in by_name  # only the dialects asked for
