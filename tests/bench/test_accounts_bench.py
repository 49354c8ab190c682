"""Smoke test of the accounts benchmark (``bench/accounts.py``) at small sizes: the figures come out and make sense.
Whether the targets are met is ``make bench``'s business (``python -m bench accounts``)."""

from __future__ import annotations

from bench.__main__ import BENCHMARKS
from bench.accounts import measure


def test_accounts_benchmark_is_registered() -> None:
    assert BENCHMARKS["accounts"][0] == "bench.accounts:run"


async def test_accounts_benchmark_measures_the_session_lookup_and_sign_in() -> None:
    figures = await measure(requests=40, warm_up=10, sign_ins=2)
    by_name = {figure.name.split(":", 1)[1].strip(): figure for figure in figures}
    assert by_name["GET /healthz (public) server time"].measured.endswith("(40 requests)")
    assert by_name["GET /api/v1/me (session cookie) server time"].measured.endswith("(40 requests)")
    overhead = by_name["authenticated request overhead (p99 difference)"]
    assert overhead.measured.endswith(" ms")
    assert overhead.passed is not None
    sign_in = by_name["sign-in (argon2id) server time"]
    assert sign_in.measured.endswith("(2 sign-ins)")
    assert sign_in.target == "50–500 ms"
