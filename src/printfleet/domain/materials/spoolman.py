"""Reporting usage to Spoolman exactly once, through an outbox (research materials-notifications.md §3.2, §7 S3).

Spoolman's ``PUT /api/v1/spool/{id}/use`` adds to the spool's ``used_weight`` on every call: it is not idempotent,
so a report whose answer was lost (a timeout, a server error) must not simply be sent again. Each report
(:class:`SpoolmanReport`: one job's grams of one Spoolman spool) is stored before it is sent; before every attempt
the spool's ``used_weight`` is read and kept as the attempt's baseline; when an attempt's outcome is unknown the
next attempt reads the spool first and counts the report as delivered when ``used_weight`` has grown by its grams
since that baseline (:func:`already_applied`), else it sends it again. Another client using the same spool in the
meantime can make a lost report look delivered: the rule prefers never charging twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

APPLIED_TOLERANCE_G = 0.005
"""Grams of rounding allowed when comparing ``used_weight`` with the baseline plus a report's grams."""


class ReportState(StrEnum):
    """Where a report stands: waiting to be sent (again), delivered, refused for good, or its spool is gone."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    GONE = "gone"


@dataclass(frozen=True, slots=True, kw_only=True)
class SpoolmanReport:
    """One job's use of one Spoolman spool: ``grams`` to add with ``use_weight``; ``spool_id`` the printfleet spool
    linked to it (None: unlinked since); ``baseline_g`` the spool's ``used_weight`` read before the last attempt;
    ``uncertain`` whether the last attempt's outcome is unknown; ``next_attempt_at`` aware UTC."""

    id: int
    job_id: int
    spool_id: int | None
    spoolman_id: int
    grams: float
    state: ReportState
    attempts: int
    baseline_g: float | None
    uncertain: bool
    next_attempt_at: datetime
    last_error: str | None = None


def already_applied(report: SpoolmanReport, used_weight_g: float) -> bool:
    """Whether an attempt whose outcome was unknown did reach Spoolman: the spool's ``used_weight`` now is at least
    the attempt's baseline plus the report's grams (a negative report: at most). False when no attempt is
    uncertain or no baseline was read."""
    if not report.uncertain or report.baseline_g is None:
        return False
    if report.grams >= 0:
        return used_weight_g >= report.baseline_g + report.grams - APPLIED_TOLERANCE_G
    return used_weight_g <= max(report.baseline_g + report.grams, 0.0) + APPLIED_TOLERANCE_G


def retry_delay(attempts: int, *, initial: timedelta, maximum: timedelta) -> timedelta:
    """The wait after ``attempts`` failed attempts (≥ 1): ``initial`` doubling, at most ``maximum``."""
    delay: timedelta = initial * (2 ** min(max(attempts - 1, 0), 30))
    return min(delay, maximum)
