"""Smoke test of the scale benchmark (``bench/scale.py``) at a small size: nine simulated printers on one, then three
``printfleet serve`` processes on PostgreSQL; the figures come out and the farm behaves (spread to a share each, every
state change seen at another process, the killed process's printers taken over, no duplicate job). Whether 1,000
printers meet the targets is ``make bench``'s business (``python -m bench scale``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import BENCHMARKS
from bench.scale import figures, measure

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("mosquitto_binary")]


def test_scale_benchmark_is_registered() -> None:
    assert BENCHMARKS["scale"][0] == "bench.scale:run"


async def test_scale_benchmark_spreads_a_small_farm_and_fails_it_over(
    tmp_path: Path, postgres_database_url: str
) -> None:
    result = await measure(
        tmp_path, postgres_database_url, printers=9, measure_s=2.0, settle_s=0.5, samples=6, ttl_s=6.0
    )
    assert result.shares == [3, 3, 3]
    assert result.three.frames > 0  # the watching /ws client saw the farm live
    assert len(result.latencies_s) == 6  # every pause and resume reached the other process's /ws
    assert result.failover_s <= 6.0 + 2.0 + 5.0  # the lease's life, a round, a margin
    assert (result.jobs, result.duplicates, result.missing) == (9, 0, 0)
    shown = figures(result, samples=6)
    assert shown[0].name == "scale 9 bambu, 1 process CPU"
    assert [figure.name for figure in shown if figure.passed is not None][-1] == "  duplicate jobs"
