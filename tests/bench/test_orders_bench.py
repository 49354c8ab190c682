"""Smoke test of the Etsy orders benchmark (``bench/orders.py``) at a small size: the figures come out and make
sense. Whether the targets are met with 10,000 receipts is ``make bench``'s business (``python -m bench orders``)."""

from __future__ import annotations

from bench.__main__ import BENCHMARKS
from bench.orders import run


def test_orders_benchmark_is_registered() -> None:
    assert BENCHMARKS["orders"][0] == "bench.orders:run"


def test_orders_benchmark_imports_polls_again_and_counts_no_duplicates() -> None:
    imported, repoll, duplicates = run(receipts=120)
    assert imported.name == "Etsy import of 120 receipts"
    assert imported.target == "≤ 60 s"
    assert repoll.name == "Etsy re-poll of the same (120 read again)"
    assert (duplicates.measured, duplicates.passed) == ("0", True)
