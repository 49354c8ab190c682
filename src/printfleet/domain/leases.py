"""A lease on a role that one process of a farm holds at a time (see :mod:`printfleet.services.leases`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Hold:
    """A lease held: role ``name`` by ``owner`` under ``epoch`` until ``expires_at`` (aware UTC, the database's
    clock). The epoch grows by one at every change of holder, so a stale holder's renewal is refused."""

    name: str
    owner: str
    epoch: int
    expires_at: datetime


def renewal_wait(*, renewed_at: float, now: float, ttl_s: float) -> float:
    """How long a renewal started at ``now`` may wait for the store (seconds, on one monotonic clock): a third of the
    lease's life, but never past ``2/3 ttl_s`` after the last renewal that succeeded (``renewed_at``), where the
    holder fences itself. 0: fence now. Bounding the wait this way keeps the fence before the lease's expiry whatever
    came before the renewal: an earlier renewal that failed fast, or other work of the same round."""
    return max(0.0, min(ttl_s / 3, renewed_at + ttl_s * 2 / 3 - now))
