"""User and admin commands on queue entries, and the per-user command rate limit. Pure: no I/O, no clock.

A user cancels their entry (:func:`cancel`) or changes its estimate (:func:`update_estimate`); an admin removes an
entry (:func:`remove`) or moves a waiting one to another place in line (:func:`move`). :class:`RateLimit` is the
token bucket that limits how often a user may send commands. The entries, their states and the lifecycle
decisions (join, offers, claims, windows, prints) are in :mod:`printfleet.domain.queue`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from printfleet.domain.durations import QueueInputError
from printfleet.domain.queue import (
    EntryStatus,
    QueueEntry,
    QueuePolicy,
    QueueRefusal,
    Refusal,
    check_aware,
    check_estimate,
    in_queue_order,
)


def _own_active(entry: QueueEntry, user_id: str) -> None:
    if entry.user_id != user_id:
        raise QueueRefusal(Refusal.NOT_YOURS, "That entry is someone else's.", entry_id=entry.id)
    if entry.status.is_terminal:
        raise QueueRefusal(Refusal.ENDED, f"That entry has ended ({entry.status}).", entry_id=entry.id)


def cancel(entry: QueueEntry, *, user_id: str, now: datetime) -> QueueEntry:
    """``user_id`` leaves the queue or gives up their offer or reservation: ``cancelled`` (the printer is free for
    the next offer). Cancelling an entry that has ended already (cancelled, done, removed, expired) is harmless:
    it is returned unchanged, its status saying how it ended. Raises :class:`QueueRefusal` ``not_yours``, or
    ``printing`` (the print is under way: stop it on the printer)."""
    check_aware(now)
    if entry.user_id != user_id:
        raise QueueRefusal(Refusal.NOT_YOURS, "That entry is someone else's.", entry_id=entry.id)
    if entry.status.is_terminal:
        return entry
    if entry.status is EntryStatus.PRINTING:
        raise QueueRefusal(Refusal.PRINTING, "Your print is under way; stop it on the printer.", entry_id=entry.id)
    return replace(entry, status=EntryStatus.CANCELLED, printer_id=None, deadline=None, ended_at=now)


def update_estimate(entry: QueueEntry, *, user_id: str, estimate: timedelta, policy: QueuePolicy) -> QueueEntry:
    """``user_id``'s active entry with a new ``estimate`` (ETAs are recomputed from it). Raises
    :class:`QueueInputError` for an estimate out of range, :class:`QueueRefusal` ``not_yours`` or ``ended``."""
    _own_active(entry, user_id)
    return replace(entry, estimate=check_estimate(estimate, policy=policy))


def remove(entry: QueueEntry, *, now: datetime, reason: str = "removed by an admin") -> QueueEntry:
    """Admin: the active ``entry`` ends as ``removed`` (a linked print runs on, no longer the queue's concern).
    Removing a removed entry returns it unchanged; raises :class:`QueueRefusal` ``ended`` for other ended ones."""
    check_aware(now)
    if entry.status is EntryStatus.REMOVED:
        return entry
    if entry.status.is_terminal:
        raise QueueRefusal(Refusal.ENDED, f"That entry has ended ({entry.status}).", entry_id=entry.id)
    keep_printer = entry.printer_id if entry.status is EntryStatus.PRINTING else None
    return replace(
        entry, status=EntryStatus.REMOVED, printer_id=keep_printer, deadline=None, ended_at=now, end_reason=reason
    )


def move(entries: Sequence[QueueEntry], *, entry_id: int, position: int) -> list[QueueEntry]:
    """Admin: put the waiting entry ``entry_id`` at 1-based ``position`` among the waiting entries.

    Returns the entries whose ``queue_key`` changed (the active entries are renumbered 1..n, so pass them all).
    Raises :class:`QueueInputError` for an unknown entry or a position out of range, :class:`QueueRefusal`
    ``not_waiting`` for an entry that is not waiting.
    """
    order = in_queue_order(entries)
    entry = next((e for e in order if e.id == entry_id), None)
    if entry is None:
        raise QueueInputError(f"No active queue entry #{entry_id}.", field="entry_id")
    if entry.status is not EntryStatus.WAITING:
        raise QueueRefusal(Refusal.NOT_WAITING, f"Entry #{entry_id} is {entry.status}, not waiting.", entry_id=entry_id)
    rest = [e for e in order if e.id != entry_id]
    others = [e for e in rest if e.status is EntryStatus.WAITING]
    if not 1 <= position <= len(others) + 1:
        raise QueueInputError(f"The position must be from 1 to {len(others) + 1}.", field="position")
    index = rest.index(others[position - 1]) if position <= len(others) else len(rest)
    new_order = [*rest[:index], entry, *rest[index:]]
    return [replace(e, queue_key=key) for key, e in enumerate(new_order, start=1) if e.queue_key != key]


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """A token bucket per user: ``capacity`` commands in a burst, one more every ``interval``.

    ``tokens`` (None: a full bucket) and ``updated_at`` are the state; keep the value :meth:`allow` returns.
    """

    capacity: int = 5
    interval: timedelta = timedelta(seconds=10)
    tokens: float | None = None
    updated_at: datetime | None = None

    def allow(self, now: datetime) -> tuple[bool, RateLimit, timedelta]:
        """``(allowed, new_state, retry_after)`` for one command at ``now``; ``retry_after`` is zero when allowed,
        else the wait until the next token. A clock going backwards refills nothing."""
        check_aware(now)
        tokens = float(self.capacity) if self.tokens is None else self.tokens
        if self.updated_at is not None and now > self.updated_at:
            tokens = min(float(self.capacity), tokens + (now - self.updated_at) / self.interval)
        if tokens >= 1:
            return True, replace(self, tokens=tokens - 1, updated_at=now), timedelta(0)
        return False, replace(self, tokens=tokens, updated_at=now), (1 - tokens) * self.interval
