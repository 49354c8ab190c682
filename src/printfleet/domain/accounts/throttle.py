"""Sign-in throttling: after a few failures, each further attempt waits exponentially longer.

Counted per username and per client address (stored, so every process sees the same counts). The first
``FREE_FAILURES`` failures cost nothing (people mistype); the next attempt then waits 1 s, then 2, 4, … up to 15
minutes. A success clears the username's count; failures older than an hour are forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

FREE_FAILURES = 5
BASE_DELAY_S = 1.0
MAX_DELAY_S = 15 * 60.0
FORGET_AFTER = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class FailureCount:
    """Failed sign-ins under one key (``user:<name>`` or ``addr:<address>``); ``last_at`` aware UTC."""

    key: str
    failures: int
    last_at: datetime


def delay_after(failures: int) -> float:
    """Seconds an attempt must wait after ``failures`` recent failures (0 for the first ``FREE_FAILURES``)."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(MAX_DELAY_S, BASE_DELAY_S * 2.0 ** (failures - FREE_FAILURES))


def retry_after(count: FailureCount | None, now: datetime) -> float:
    """Seconds before another attempt under ``count``'s key may be tried; 0 when it may be tried now."""
    if count is None or now - count.last_at >= FORGET_AFTER:
        return 0.0
    wait = delay_after(count.failures) - (now - count.last_at).total_seconds()
    return max(0.0, wait)


def next_failures(count: FailureCount | None, now: datetime) -> int:
    """The failure count after one more failure at ``now`` (an old count is forgotten first)."""
    if count is None or now - count.last_at >= FORGET_AFTER:
        return 1
    return count.failures + 1
