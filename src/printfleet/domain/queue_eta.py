"""Queue positions and estimated waits: a simulation of the FIFO over the printers (pure).

The model. Each printer that is not held gets a time it is next free:

- held by a ``printing`` entry: now + the printer-reported remaining time; without one, the entry's estimate less
  the time since its print started (at least now);
- held by an ``offered`` or ``claimed`` entry: now + that entry's estimate (the print is taken to start now);
- printing a print nobody queued: now + the printer-reported remaining time;
- ready (idle): now.

A printer that is none of these (offline, in error, paused without a remaining time) is left out. Then the waiting
entries, first in line first, each take the suitable printer on which they can start earliest (ties: lowest id),
and keep it for their estimate. A start is the later of the printer's free time and the end of the entry's own
user's print ahead (one printer per user). The wait is that start minus now.

Limits: estimates are the users' own guesses and printer remaining times are the printers'; the claim and start
windows, bed clearing and missed offers are not modelled; the queue is assumed running (not paused); the greedy
pick may differ from :func:`printfleet.domain.queue.next_offers`, which spares printers that limited entries
further back need. Waits are estimates to show, never deadlines.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from printfleet.domain.queue import EntryStatus, QueueEntry, QueuePrinter, in_queue_order


@dataclass(frozen=True, slots=True)
class Eta:
    """A waiting entry's place: ``position`` 1-based among waiting entries; ``wait`` from now until its print is
    expected to start (None: no printer it may use is expected to be free); ``printer_id`` the printer the
    simulation gives it."""

    position: int
    wait: timedelta | None
    printer_id: str | None


def printer_free_at(
    entries: Sequence[QueueEntry], printers: Iterable[QueuePrinter], *, now: datetime
) -> dict[str, datetime]:
    """When each printer in the simulation is next free (aware UTC, at least ``now``); held and unknown-state
    printers are absent. See the module docstring for the rules."""
    holders = {e.printer_id: e for e in in_queue_order(entries) if e.status.holds_printer}
    free_at: dict[str, datetime] = {}
    for printer in printers:
        if printer.held:
            continue
        holder = holders.get(printer.id)
        remaining = None if printer.remaining_seconds is None else timedelta(seconds=max(printer.remaining_seconds, 0))
        if holder is not None and holder.status is EntryStatus.PRINTING:
            if remaining is None:
                elapsed = now - (holder.started_at or now)
                remaining = max(holder.estimate - elapsed, timedelta(0))
            free_at[printer.id] = now + remaining
        elif holder is not None:
            free_at[printer.id] = now + holder.estimate
        elif remaining is not None and not printer.ready:
            free_at[printer.id] = now + remaining
        elif printer.ready:
            free_at[printer.id] = now
    return free_at


@dataclass(frozen=True, slots=True)
class EtaTail:
    """The FIFO simulation's state after its last waiting entry, at ``now``: when each printer (``free_at``) and
    each user with a print ahead (``user_free_at``) is next free, and how many entries wait (``waiting``).

    An entry joining at the back needs only this, not the whole queue: :meth:`place` gives its :class:`Eta` in
    O(printers) and the state after it. The state is only as fresh as ``now``: recompute it when the queue or the
    printers change."""

    now: datetime
    free_at: dict[str, datetime]
    user_free_at: dict[str, datetime]
    waiting: int

    def place(self, entry: QueueEntry) -> tuple[Eta, EtaTail]:
        """The :class:`Eta` of ``entry`` waiting behind everyone simulated, and the state with it placed."""
        free_at, user_free_at = dict(self.free_at), dict(self.user_free_at)
        eta = _place(entry, self.waiting + 1, free_at, user_free_at, self.now)
        return eta, EtaTail(self.now, free_at, user_free_at, self.waiting + 1)


def _place(
    entry: QueueEntry,
    position: int,
    free_at: dict[str, datetime],
    user_free_at: dict[str, datetime],
    now: datetime,
) -> Eta:
    """One step of the simulation: ``entry`` takes the suitable printer it can start on earliest (updating the two
    maps in place)."""
    user_free = user_free_at.get(entry.user_id, now)
    starts = [(max(at, user_free), printer_id) for printer_id, at in free_at.items() if entry.can_use(printer_id)]
    if not starts:
        return Eta(position, None, None)
    start, printer_id = min(starts)
    free_at[printer_id] = user_free_at[entry.user_id] = start + entry.estimate
    return Eta(position, start - now, printer_id)


def simulate(
    entries: Sequence[QueueEntry], printers: Iterable[QueuePrinter], *, now: datetime
) -> tuple[dict[int, Eta], EtaTail]:
    """The :class:`Eta` of every waiting entry of ``entries`` (all active entries), by entry id, and the
    :class:`EtaTail` after the last of them."""
    free_at = printer_free_at(entries, printers, now=now)
    order = in_queue_order(entries)
    user_free_at: dict[str, datetime] = {}
    for entry in order:
        if entry.status.holds_printer and entry.printer_id in free_at:
            user_free_at[entry.user_id] = free_at[entry.printer_id]
    etas: dict[int, Eta] = {}
    waiting = [e for e in order if e.status is EntryStatus.WAITING]
    for position, entry in enumerate(waiting, start=1):
        etas[entry.id] = _place(entry, position, free_at, user_free_at, now)
    return etas, EtaTail(now, free_at, user_free_at, len(waiting))


def estimate_waits(entries: Sequence[QueueEntry], printers: Iterable[QueuePrinter], *, now: datetime) -> dict[int, Eta]:
    """The :class:`Eta` of every waiting entry of ``entries`` (all active entries), by entry id."""
    return simulate(entries, printers, now=now)[0]
