"""Smoke test of the FTPS benchmark (``bench/ftps.py``) at a small size: the figures come out and make sense.
Whether the target is met is ``make bench``'s business (``python -m bench ftps``)."""

from __future__ import annotations

from bench.__main__ import BENCHMARKS
from bench.ftps import measure


def test_ftps_benchmark_is_registered() -> None:
    assert BENCHMARKS["ftps"][0] == "bench.ftps:run"


async def test_ftps_benchmark_compares_printfleet_with_bare_ftplib() -> None:
    ours, bare, ratio = await measure(size_mb=1, rounds=2)
    assert ours.name == "ftps: printfleet upload, 1 MB"
    assert ours.measured.endswith("MB/s (median of 2)")
    assert bare.measured.endswith("MB/s (median of 2)")
    assert float(ratio.measured) > 0
    assert ratio.target == "≥ 0.8"
    assert ratio.passed is not None
