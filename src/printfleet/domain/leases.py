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
