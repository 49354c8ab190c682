"""What the queue service answers with: read-only views of the queue, built from the domain's entries.

The Discord bot, the REST API and the web Queue page all render these; none of them computes a position, an ETA or
a printer's holder itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from printfleet.domain.printer import PrinterConfig, PrinterState, PrinterStatus
from printfleet.domain.queue import EntryStatus, QueueEntry, QueuePolicy, QueuePrinter
from printfleet.domain.queue_eta import Eta

READY_STATES = frozenset({PrinterState.IDLE, PrinterState.FINISHED, PrinterState.FAILED, PrinterState.CANCELLED})
"""Printer states in which a printer can take the next print: idle, or showing how its last print ended (the plate
is cleared by whoever claims it)."""


def queue_printer(config: PrinterConfig, status: PrinterStatus, *, held: bool) -> QueuePrinter:
    """The queue's view of one printer: ``ready`` in :data:`READY_STATES`; the printer-reported remaining time
    (seconds) while a print is under way."""
    return QueuePrinter(
        id=config.id,
        ready=status.state in READY_STATES,
        held=held,
        remaining_seconds=status.remaining_seconds if status.state.is_active else None,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PrinterSlot:
    """One printer as the queue sees it: ``state`` (the printer's), ``ready`` to take a print, ``held`` out of
    rotation by an admin, ``holder`` the entry it is offered to, reserved for or printing for (None: nobody's),
    ``remaining_seconds`` printer-reported (seconds) while printing, ``free_at`` when it is expected free (aware
    UTC; None when unknown)."""

    id: str
    name: str
    state: PrinterState
    ready: bool
    held: bool
    holder: QueueEntry | None
    remaining_seconds: int | None
    free_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueView:
    """The whole queue at ``now``: ``entries`` (every active entry, first in line first), ``etas`` (by entry id,
    for waiting entries: position and expected wait), ``printers``, ``paused``, and the ``policy`` in force."""

    now: datetime
    entries: list[QueueEntry]
    etas: dict[int, Eta]
    printers: list[PrinterSlot]
    paused: bool
    policy: QueuePolicy

    @property
    def waiting(self) -> list[QueueEntry]:
        """The waiting entries, first in line first."""
        return [e for e in self.entries if e.status is EntryStatus.WAITING]

    @property
    def holding(self) -> list[QueueEntry]:
        """The entries holding a printer (offered, claimed, printing)."""
        return [e for e in self.entries if e.status.holds_printer]

    def user_entries(self, user_id: str) -> list[QueueEntry]:
        """``user_id``'s active entries, first in line first."""
        return [e for e in self.entries if e.user_id == user_id]


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinResult:
    """The answer to a join: the ``entry`` (already ``offered`` when a printer was free), ``created`` False when
    the same join had been made before (the existing entry is returned; nothing changed), its ``eta`` (position
    and wait) while waiting."""

    entry: QueueEntry
    created: bool
    eta: Eta | None

    @property
    def position(self) -> int | None:
        """1-based place among the waiting entries; None when a printer is offered already."""
        return self.eta.position if self.eta else None

    @property
    def wait(self) -> timedelta | None:
        """The estimated wait until a printer is free for it (None: unknown)."""
        return self.eta.wait if self.eta else None


@dataclass(frozen=True, slots=True, kw_only=True)
class MyJobs:
    """``/myjobs``: the user's ``active`` entries (first in line first) with their ``etas``, and ``recent`` ended
    entries (latest first)."""

    active: list[QueueEntry]
    etas: dict[int, Eta]
    recent: list[QueueEntry]
