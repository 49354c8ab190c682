"""The fair shared print queue's model and lifecycle decisions. Pure: no I/O, no clock.

The model: entry statuses and their transitions, entries, the policy, refusals and the ordering helpers. The
lifecycle decisions: :func:`join`, :func:`next_offers`, :func:`claim`, :func:`expire` / :func:`expire_due`,
:func:`print_started`, :func:`finish` and :func:`withdraw_offer`, with the guard rails ``join`` applies
(:func:`check_estimate`, :func:`check_user_limit`). The user and admin commands (cancel, update the estimate,
remove, move) and the per-user rate limit are in :mod:`printfleet.domain.queue_commands`.

One FIFO across all printers. An entry may be limited to some printers (``printer_ids``; empty means any). When a
printer is ready, :func:`next_offers` offers it to the first eligible waiting entry; its user claims it within the
claim window (:func:`claim`), which reserves the printer for the start window; a print starting on that printer
in time is linked to the entry (:func:`print_started`) and its end closes the entry (:func:`finish`).

Entry lifecycle (``can_transition`` holds the same table)::

    join -> waiting --offer--> offered --claim--> claimed --print starts--> printing --job ends--> done
              ^  ^                |  |               |
              |  +---withdrawn----+  |               |     (a print bypassed the queue on that printer, or a hold)
              +---- missed window ---+---------------+     (to the back of the queue; the Nth miss in a row: expired)
    waiting, offered, claimed --user cancel--> cancelled      any active --admin remove--> removed

Order: entries are served by ``(queue_key, id)`` ascending. Joining, and missing a window, give the entry the key
:func:`back_of_queue`; a withdrawn offer keeps its key, so the entry stands where it stood, ahead of everyone who
joined after it, and is first in line for the next printer it may use. Holding entries keep their key too.

Deadlines are data (DESIGN.md invariant 5): ``deadline`` is the claim deadline of an offered entry and the start
deadline of a claimed one, absolute aware UTC. The scheduler sleeps until :func:`next_deadline` and calls
:func:`expire_due`. A window is over at ``now >= deadline``. Every ``now`` must be an aware datetime (ValueError).

Invariants the functions keep when given all active entries: a printer is held (offered, claimed, printing) by at
most one entry, and a user holds at most one printer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from printfleet.domain.durations import MAX_ESTIMATE, MIN_ESTIMATE, QueueInputError, format_duration
from printfleet.domain.jobs import JobStatus

MAX_JOB_NAME = 200
"""Longest job name accepted (characters)."""


class EntryStatus(StrEnum):
    """Where a queue entry stands (lifecycle in the module docstring).

    ``waiting``: in line, no printer. ``offered``: a printer is offered, the claim deadline runs. ``claimed``: the
    printer is reserved, the start deadline runs. ``printing``: linked to the job printing it. Terminal: ``done``
    (the linked job ended; ``outcome`` says how), ``cancelled`` (by its user), ``removed`` (by an admin),
    ``expired`` (missed too many windows).
    """

    WAITING = "waiting"
    OFFERED = "offered"
    CLAIMED = "claimed"
    PRINTING = "printing"
    DONE = "done"
    CANCELLED = "cancelled"
    REMOVED = "removed"
    EXPIRED = "expired"

    @property
    def is_active(self) -> bool:
        """True until the entry ends; active entries count against the per-user limit."""
        return not self.is_terminal

    @property
    def is_terminal(self) -> bool:
        """True for ``done``, ``cancelled``, ``removed``, ``expired``: the entry never changes again."""
        return self in (EntryStatus.DONE, EntryStatus.CANCELLED, EntryStatus.REMOVED, EntryStatus.EXPIRED)

    @property
    def holds_printer(self) -> bool:
        """True for ``offered``, ``claimed``, ``printing``: ``printer_id`` is this entry's and nobody else's."""
        return self in (EntryStatus.OFFERED, EntryStatus.CLAIMED, EntryStatus.PRINTING)


_ENDS = frozenset({EntryStatus.CANCELLED, EntryStatus.REMOVED})
_ALLOWED: dict[EntryStatus, frozenset[EntryStatus]] = {
    EntryStatus.WAITING: _ENDS | {EntryStatus.OFFERED},
    EntryStatus.OFFERED: _ENDS | {EntryStatus.CLAIMED, EntryStatus.WAITING, EntryStatus.EXPIRED},
    EntryStatus.CLAIMED: _ENDS | {EntryStatus.PRINTING, EntryStatus.WAITING, EntryStatus.EXPIRED},
    EntryStatus.PRINTING: frozenset({EntryStatus.DONE, EntryStatus.REMOVED}),
}


def can_transition(current: EntryStatus, new: EntryStatus) -> bool:
    """True when an entry may go from ``current`` to ``new`` (a terminal entry never changes status again)."""
    return new in _ALLOWED.get(current, frozenset())


class Refusal(StrEnum):
    """Why a rule refused a user's or admin's request (the API maps each to one HTTP status)."""

    NOT_YOURS = "not_yours"
    NOT_OFFERED = "not_offered"
    OFFER_EXPIRED = "offer_expired"
    ENDED = "ended"
    PRINTING = "printing"
    NOT_WAITING = "not_waiting"
    LIMIT_REACHED = "limit_reached"
    ALREADY_QUEUED = "already_queued"


class QueueRefusal(Exception):
    """A queue rule refuses the request. ``message`` is a sentence for the user; ``entry_id`` names the entry
    concerned when there is one (for ``already_queued``: the user's existing entry)."""

    def __init__(self, reason: Refusal, message: str, *, entry_id: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.entry_id = entry_id


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuePolicy:
    """The queue's settings. Windows are timedeltas; ``max_missed_offers`` is the number of missed windows in a
    row (claim or start; a claim resets the count) that ends an entry as ``expired`` (None: never).
    ``requeue_on_start_miss`` False ends an entry at once when no print starts in its start window.
    Raises ValueError for a non-positive window or count."""

    claim_window: timedelta = timedelta(minutes=10)
    start_window: timedelta = timedelta(minutes=15)
    max_missed_offers: int | None = 2
    requeue_on_start_miss: bool = True
    max_active_per_user: int = 1
    max_estimate: timedelta = MAX_ESTIMATE

    def __post_init__(self) -> None:
        for name in ("claim_window", "start_window", "max_estimate"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be more than zero")
        if self.max_missed_offers is not None and self.max_missed_offers < 1:
            raise ValueError("max_missed_offers must be at least 1 (or None for never)")
        if self.max_active_per_user < 1:
            raise ValueError("max_active_per_user must be at least 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueEntry:
    """One job in the queue. Times are aware UTC; ``estimate`` and ``actual_duration`` are timedeltas.

    ``queue_key`` orders the queue (with ``id`` as tie-break); ``queued_at`` is when the entry last went to the
    back of the line (join or missed window). ``printer_ids`` limits the printers it may use (empty: any).
    ``printer_id`` is the printer offered, reserved or printing (kept once ``done``, for history); ``deadline`` the
    running window's end (claim deadline when offered, start deadline when claimed, else None). ``missed_offers``
    counts missed windows in a row. ``job_id`` is the linked print's job; ``outcome`` its ending and
    ``actual_duration`` its length once done. ``end_reason`` says why an entry was removed or expired.
    ``version`` is the store's row version (optimistic concurrency: a change based on an older version is refused).
    """

    id: int
    user_id: str
    user_name: str
    job_name: str
    estimate: timedelta
    queue_key: int
    created_at: datetime
    queued_at: datetime
    printer_ids: frozenset[str] = frozenset()
    status: EntryStatus = EntryStatus.WAITING
    printer_id: str | None = None
    deadline: datetime | None = None
    offered_at: datetime | None = None
    claimed_at: datetime | None = None
    missed_offers: int = 0
    job_id: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: JobStatus | None = None
    actual_duration: timedelta | None = None
    end_reason: str | None = None
    version: int = 0

    def can_use(self, printer_id: str) -> bool:
        """Whether the entry may print on ``printer_id``."""
        return not self.printer_ids or printer_id in self.printer_ids

    @property
    def claim_deadline(self) -> datetime | None:
        """When the offer lapses (offered entries only)."""
        return self.deadline if self.status is EntryStatus.OFFERED else None

    @property
    def start_deadline(self) -> datetime | None:
        """When the reservation lapses unless a print started (claimed entries only)."""
        return self.deadline if self.status is EntryStatus.CLAIMED else None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewQueueEntry:
    """An entry to create (status ``waiting``); the store gives it its ``id``. Fields as in :class:`QueueEntry`."""

    user_id: str
    user_name: str
    job_name: str
    estimate: timedelta
    printer_ids: frozenset[str]
    queue_key: int
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuePrinter:
    """What the queue needs of a printer right now.

    ``ready``: online with no active job (idle, or showing a finished, failed or cancelled print), so it can start
    a print. ``held``: an admin took it out of rotation. ``remaining_seconds``: the printer-reported remaining time
    of the print under way (seconds), None when not printing or not reported. Whether an entry holds the printer
    comes from the entries, not from here.
    """

    id: str
    ready: bool
    held: bool = False
    remaining_seconds: int | None = None


def check_aware(now: datetime) -> datetime:
    """``now`` itself; raises ValueError unless it is an aware datetime (the queue's clock is aware UTC)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the queue's clock must be an aware UTC datetime")
    return now


def in_queue_order(entries: Iterable[QueueEntry]) -> list[QueueEntry]:
    """The active entries of ``entries``, first in line first (by ``queue_key``, then ``id``)."""
    return sorted((e for e in entries if e.status.is_active), key=lambda e: (e.queue_key, e.id))


def waiting_in_order(entries: Iterable[QueueEntry]) -> list[QueueEntry]:
    """The ``waiting`` entries, first in line first; an entry's position is its index here plus one."""
    return [e for e in in_queue_order(entries) if e.status is EntryStatus.WAITING]


def back_of_queue(entries: Iterable[QueueEntry]) -> int:
    """The ``queue_key`` that puts an entry behind every active entry of ``entries`` (1 when there are none)."""
    return max((e.queue_key for e in entries if e.status.is_active), default=0) + 1


def holder_of(entries: Iterable[QueueEntry], printer_id: str) -> QueueEntry | None:
    """The active entry holding ``printer_id`` (offered, claimed or printing), if any."""
    return next((e for e in entries if e.status.holds_printer and e.printer_id == printer_id), None)


def holding_entry(entries: Iterable[QueueEntry], user_id: str) -> QueueEntry | None:
    """The user's entry holding a printer (offered, claimed or printing), if any: the one ``/claim`` acts on."""
    return next((e for e in entries if e.status.holds_printer and e.user_id == user_id), None)


def next_deadline(entries: Iterable[QueueEntry]) -> datetime | None:
    """The earliest running deadline (aware UTC), or None: when the scheduler must next call :func:`expire_due`."""
    return min((e.deadline for e in entries if e.deadline is not None and e.status.is_active), default=None)


def check_user_limit(entries: Iterable[QueueEntry], *, user_id: str, policy: QueuePolicy) -> None:
    """Raise :class:`QueueRefusal` (``limit_reached``) when ``user_id`` has ``policy.max_active_per_user`` active
    entries already (a printing entry counts: it occupies a printer)."""
    active = [e for e in in_queue_order(entries) if e.user_id == user_id]
    if len(active) >= policy.max_active_per_user:
        limit = policy.max_active_per_user
        raise QueueRefusal(
            Refusal.LIMIT_REACHED,
            f"You have {len(active)} job(s) in the queue already; the limit is {limit}.",
            entry_id=active[0].id,
        )


def check_estimate(estimate: timedelta, *, policy: QueuePolicy) -> timedelta:
    """``estimate`` when it lies from 1 minute to ``policy.max_estimate``; else raises :class:`QueueInputError`."""
    if estimate < MIN_ESTIMATE or estimate > policy.max_estimate:
        limits = f"{format_duration(MIN_ESTIMATE)} to {format_duration(policy.max_estimate)}"
        raise QueueInputError(f"The estimate must be from {limits}.", field="estimate")
    return estimate


def join(
    entries: Sequence[QueueEntry],
    *,
    user_id: str,
    user_name: str,
    job_name: str,
    estimate: timedelta,
    printer_ids: Iterable[str] = (),
    known_printer_ids: Iterable[str],
    now: datetime,
    policy: QueuePolicy,
) -> NewQueueEntry:
    """A new entry at the back of the queue, given the active ``entries``.

    Raises :class:`QueueInputError` for an empty or over-long job name, an estimate out of range, or a printer id
    not in ``known_printer_ids``; :class:`QueueRefusal` ``already_queued`` when the user has an active entry with
    the same job name, printers and estimate (a repeated ``/join``: answer with that entry), else
    ``limit_reached`` when the per-user limit is reached.
    """
    check_aware(now)
    name = " ".join(job_name.split())
    if not name:
        raise QueueInputError("Give the job a name.", field="job_name", value=job_name)
    if len(name) > MAX_JOB_NAME:
        raise QueueInputError(f"A job name has at most {MAX_JOB_NAME} characters.", field="job_name")
    check_estimate(estimate, policy=policy)
    wanted = frozenset(printer_ids)
    known = frozenset(known_printer_ids)
    unknown = sorted(wanted - known)
    if unknown:
        raise QueueInputError(
            f"Unknown printer; the printers are {', '.join(sorted(known)) or 'none yet'}.",
            field="printer_ids",
            value=", ".join(unknown),
        )
    for entry in in_queue_order(entries):
        if (entry.user_id, entry.job_name, entry.printer_ids, entry.estimate) == (user_id, name, wanted, estimate):
            raise QueueRefusal(Refusal.ALREADY_QUEUED, f"You queued that job already (#{entry.id}).", entry_id=entry.id)
    check_user_limit(entries, user_id=user_id, policy=policy)
    return NewQueueEntry(
        user_id=user_id,
        user_name=user_name,
        job_name=name,
        estimate=estimate,
        printer_ids=wanted,
        queue_key=back_of_queue(entries),
        created_at=now,
    )


def next_offers(
    entries: Sequence[QueueEntry],
    printers: Iterable[QueuePrinter],
    *,
    now: datetime,
    policy: QueuePolicy,
    paused: bool = False,
) -> list[QueueEntry]:
    """The entries to offer a printer now, as their new ``offered`` values (claim deadline ``now + claim_window``).

    Free printers are ``ready``, not ``held`` and held by no entry. Waiting entries are served in queue order; an
    entry no free printer suits is skipped (the next eligible one goes first), as is an entry whose user already
    holds a printer. Among several suitable printers an entry gets the one fewest later limited entries need (then
    the lowest id), so an unlimited entry does not take the only printer someone behind it may use. One offer per
    printer, one per user. A ``paused`` queue offers nothing (open offers and claims run on).
    """
    check_aware(now)
    if paused:
        return []
    order = in_queue_order(entries)
    taken = {e.printer_id for e in order if e.status.holds_printer}
    busy_users = {e.user_id for e in order if e.status.holds_printer}
    free = sorted({p.id for p in printers if p.ready and not p.held and p.id not in taken})
    waiting = [e for e in order if e.status is EntryStatus.WAITING]
    offers: list[QueueEntry] = []
    for index, entry in enumerate(waiting):
        suitable = [p for p in free if entry.can_use(p)]
        if entry.user_id in busy_users or not suitable:
            continue
        later = [e for e in waiting[index + 1 :] if e.printer_ids and e.user_id not in busy_users]
        printer_id = min(suitable, key=lambda p: (sum(p in e.printer_ids for e in later), p))
        free.remove(printer_id)
        busy_users.add(entry.user_id)
        offers.append(
            replace(
                entry,
                status=EntryStatus.OFFERED,
                printer_id=printer_id,
                deadline=now + policy.claim_window,
                offered_at=now,
            )
        )
    return offers


def claim(entry: QueueEntry, *, user_id: str, now: datetime, policy: QueuePolicy) -> QueueEntry:
    """The entry after ``user_id`` claims its offer: ``claimed``, start deadline ``now + start_window``, missed
    windows reset to 0. Claiming again once claimed or printing returns ``entry`` itself (nothing to store).

    Raises :class:`QueueRefusal`: ``not_yours``, ``not_offered`` (still waiting), ``offer_expired`` (``now`` at or
    after the claim deadline, even before the scheduler expired it), ``ended``.
    """
    check_aware(now)
    if entry.user_id != user_id:
        raise QueueRefusal(Refusal.NOT_YOURS, "That entry is someone else's.", entry_id=entry.id)
    if entry.status in (EntryStatus.CLAIMED, EntryStatus.PRINTING):
        return entry
    if entry.status is EntryStatus.WAITING:
        raise QueueRefusal(Refusal.NOT_OFFERED, "No printer is offered to you yet.", entry_id=entry.id)
    if entry.status is not EntryStatus.OFFERED:
        raise QueueRefusal(Refusal.ENDED, f"That entry has ended ({entry.status}).", entry_id=entry.id)
    if entry.deadline is None or now >= entry.deadline:
        raise QueueRefusal(Refusal.OFFER_EXPIRED, "The offer has expired.", entry_id=entry.id)
    return replace(
        entry, status=EntryStatus.CLAIMED, claimed_at=now, deadline=now + policy.start_window, missed_offers=0
    )


class Window(StrEnum):
    """Which window an entry missed: the claim window (offer) or the start window (reservation)."""

    CLAIM = "claim"
    START = "start"


@dataclass(frozen=True, slots=True)
class Expiry:
    """A missed window: ``before`` (offered or claimed, holding ``printer_id``) became ``after`` (``waiting`` at the
    back of the queue, or ``expired``). The service announces ``claim_expired`` or ``reservation_released``."""

    before: QueueEntry
    after: QueueEntry

    @property
    def window(self) -> Window:
        """The window missed."""
        return Window.CLAIM if self.before.status is EntryStatus.OFFERED else Window.START

    @property
    def printer_id(self) -> str:
        """The printer released."""
        assert self.before.printer_id is not None
        return self.before.printer_id

    @property
    def requeued(self) -> bool:
        """True when the entry went to the back of the queue, False when it ended."""
        return self.after.status is EntryStatus.WAITING


def expire(entry: QueueEntry, *, now: datetime, policy: QueuePolicy, back_key: int) -> Expiry | None:
    """The :class:`Expiry` of ``entry`` when its window is over at ``now``, else None.

    The missed count goes up by one; the entry ends as ``expired`` when it reaches ``policy.max_missed_offers``
    (or at a missed start window when ``requeue_on_start_miss`` is False), else goes back to ``waiting`` with
    ``queue_key=back_key`` (from :func:`back_of_queue`) and ``queued_at=now``.
    """
    check_aware(now)
    if entry.status not in (EntryStatus.OFFERED, EntryStatus.CLAIMED) or entry.deadline is None:
        return None
    if now < entry.deadline:
        return None
    missed = entry.missed_offers + 1
    window = Window.CLAIM if entry.status is EntryStatus.OFFERED else Window.START
    limit = policy.max_missed_offers
    if window is Window.START and not policy.requeue_on_start_miss:
        reason = "no print started on the reserved printer in time"
    elif limit is not None and missed >= limit:
        reason = f"missed {missed} windows in a row (the last one a {window} window)"
    else:
        after = replace(
            entry,
            status=EntryStatus.WAITING,
            queue_key=back_key,
            queued_at=now,
            printer_id=None,
            deadline=None,
            offered_at=None,
            claimed_at=None,
            missed_offers=missed,
        )
        return Expiry(entry, after)
    ended = replace(
        entry, status=EntryStatus.EXPIRED, printer_id=None, deadline=None, missed_offers=missed, ended_at=now
    )
    return Expiry(entry, replace(ended, end_reason=reason))


def expire_due(entries: Sequence[QueueEntry], *, now: datetime, policy: QueuePolicy) -> list[Expiry]:
    """Every window over at ``now``, earliest deadline first; requeued entries go to the back in that order."""
    due = [e for e in in_queue_order(entries) if e.deadline is not None and now >= e.deadline]
    back = back_of_queue(entries)
    expiries: list[Expiry] = []
    for entry in sorted(due, key=lambda e: (e.deadline, e.queue_key, e.id)):
        expiry = expire(entry, now=now, policy=policy, back_key=back)
        if expiry is not None:
            expiries.append(expiry)
            back += expiry.requeued
    return expiries


def withdraw_offer(entry: QueueEntry) -> QueueEntry:
    """An offered entry back to ``waiting`` with its ``queue_key`` (it keeps its place) and missed count; any other
    entry unchanged."""
    if entry.status is not EntryStatus.OFFERED:
        return entry
    return replace(entry, status=EntryStatus.WAITING, printer_id=None, deadline=None, offered_at=None)


def withdraw_offers(entries: Iterable[QueueEntry], printer_id: str) -> list[QueueEntry]:
    """The open offers of ``printer_id``, withdrawn (for an admin hold: claims and prints on it run on)."""
    return [withdraw_offer(e) for e in entries if e.status is EntryStatus.OFFERED and e.printer_id == printer_id]


class StartKind(StrEnum):
    """What a print starting on a printer means for the queue."""

    LINKED = "linked"
    ALREADY_LINKED = "already_linked"
    UNQUEUED = "unqueued"


@dataclass(frozen=True, slots=True)
class PrintStart:
    """Outcome of :func:`print_started`. ``entry``: the entry now ``printing`` (linked), the entry already linked to
    this job (already_linked), or the offer withdrawn from the printer (unqueued; None when there was none)."""

    kind: StartKind
    entry: QueueEntry | None = None


def print_started(entries: Sequence[QueueEntry], *, printer_id: str, job_id: int | None, now: datetime) -> PrintStart:
    """What the print ``job_id`` (None: no job tracks it, auto-creation is off) starting on ``printer_id`` at
    ``now`` (the printer-reported start when known) means for the queue.

    A claimed entry on that printer inside its start window is linked (``printing``, ``started_at=now``). A print
    on a printer nobody claimed bypassed the queue: it is unqueued, and an open offer of that printer is withdrawn
    (:func:`withdraw_offer`: the entry keeps its place). Call :func:`finish` for the printer's previous job and
    :func:`expire_due` first; a claim whose window is over does not link.
    """
    check_aware(now)
    holder = holder_of(in_queue_order(entries), printer_id)
    if holder is None:
        return PrintStart(StartKind.UNQUEUED)
    if holder.status is EntryStatus.PRINTING and holder.job_id == job_id:
        return PrintStart(StartKind.ALREADY_LINKED, holder)
    if holder.status is EntryStatus.CLAIMED and holder.deadline is not None and now < holder.deadline:
        linked = replace(holder, status=EntryStatus.PRINTING, job_id=job_id, started_at=now, deadline=None)
        return PrintStart(StartKind.LINKED, linked)
    if holder.status is EntryStatus.OFFERED:
        return PrintStart(StartKind.UNQUEUED, withdraw_offer(holder))
    return PrintStart(StartKind.UNQUEUED)


def entry_for_job(entries: Iterable[QueueEntry], job_id: int) -> QueueEntry | None:
    """The ``printing`` entry linked to ``job_id``, if any: the one :func:`finish` closes when the job ends."""
    return next((e for e in entries if e.status is EntryStatus.PRINTING and e.job_id == job_id), None)


def finish(entry: QueueEntry, *, outcome: JobStatus, now: datetime, duration: timedelta | None = None) -> QueueEntry:
    """The printing ``entry`` once its job ended: ``done`` with ``outcome`` and ``actual_duration``.

    ``duration`` is the job's own (from the printer-reported start); without it, ``now - started_at``. A ``done``
    entry is returned unchanged. Raises ValueError for an outcome that is not an ending (completed, failed,
    cancelled, unknown) or an entry that is not printing.
    """
    check_aware(now)
    if not outcome.is_terminal:
        raise ValueError(f"{outcome} is not how a job ends")
    if entry.status is EntryStatus.DONE:
        return entry
    if entry.status is not EntryStatus.PRINTING:
        raise ValueError(f"entry {entry.id} is {entry.status}, not printing")
    if duration is None:
        duration = max(now - (entry.started_at or now), timedelta(0))
    return replace(entry, status=EntryStatus.DONE, outcome=outcome, actual_duration=duration, ended_at=now)
