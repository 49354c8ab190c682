"""Notification model: events, channels, rules, per-printer preferences and outbox messages (pure data).

Facts: issue 14 and research materials-notifications.md §5 (events N2, exactly once per (subject, event, channel)
N3). Times are aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from printfleet.domain.notifications.digest import Digest
    from printfleet.domain.notifications.quiet import QuietHours


class NotificationEvent(StrEnum):
    """What a notification announces. Job events come from job status changes; queue events go to the member
    whose entry they concern only."""

    PRINT_STARTED = "print_started"
    PRINT_FINISHED = "print_finished"
    PRINT_FAILED = "print_failed"
    PRINT_CANCELLED = "print_cancelled"
    PRINT_PAUSED = "print_paused"
    FIRST_LAYER_DONE = "first_layer_done"
    """The print reached its second layer: the first layer is down (Bambu ``layer_num``, Klipper's current layer)."""
    CLAIM_OFFERED = "claim_offered"
    RESERVATION_RELEASED = "reservation_released"
    MATERIAL_CHANGED = "material_changed"
    """A spool went into, came out of or was swapped in a printer's slot."""
    SPOOL_LOW = "spool_low"
    """The grams left in a slot fell below ``materials.low_stock_grams`` (once per crossing)."""
    MAINTENANCE_DUE = "maintenance_due"
    """A maintenance task reached its interval on a printer (once per crossing)."""
    HMS_ERROR = "hms_error"
    """A printer reported a new error (Bambu HMS or ``print_error`` code with its text; another kind's error state)."""
    FILAMENT_RUNOUT = "filament_runout"
    """A spool ran out (the Bambu error codes that say so)."""
    PRINTER_OFFLINE = "printer_offline"
    """A printer has been offline for ``notifications.offline_grace`` (once per outage)."""
    SHOP_RECONNECT_NEEDED = "shop_reconnect_needed"
    """A shop (Etsy) refused printfleet's tokens: someone must connect it again (to those who manage orders)."""

    @property
    def queue_only(self) -> bool:
        """True for events about one queue member's entry (sent to that member only)."""
        return self in (NotificationEvent.CLAIM_OFFERED, NotificationEvent.RESERVATION_RELEASED)


class ChannelKind(StrEnum):
    """How a channel sends: ``apprise`` (any Apprise URL), ``webhook`` (JSON POST with Standard Webhooks
    headers, signed when the channel has a ``whsec_`` secret), ``email`` (SMTP to the user's address) or
    ``discord`` (through printfleet's Discord bot: a post in a channel or a direct message to the user's linked
    Discord account; a Discord webhook URL when the bot does not run)."""

    APPRISE = "apprise"
    WEBHOOK = "webhook"
    EMAIL = "email"
    DISCORD = "discord"


DISCORD_DM = "dm"
"""A ``discord`` channel's target that means "a direct message to the channel owner's linked Discord account"."""


def discord_target(value: str) -> str:
    """``value`` as a ``discord`` channel's target: ``dm``, or a Discord channel id (a snowflake: 17 to 20 digits).
    Raises ValueError naming what is wrong."""
    value = value.strip()
    if value.lower() == DISCORD_DM:
        return DISCORD_DM
    if value.isascii() and value.isdigit() and 17 <= len(value) <= 20:
        return value
    raise ValueError("a Discord target is dm (a direct message to you) or a channel id (17 to 20 digits)")


class DeliveryState(StrEnum):
    """An outbox message: ``pending`` (not sent yet, or waiting for its next attempt), ``delivered``, ``failed``
    (given up after ``notifications.give_up_after``, or refused for good, e.g. a channel without its URL)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Channel:
    """One user's way to be reached. Its URL and signing secret are write-only: only ``has_url`` and
    ``has_secret`` say whether they are set. ``managed_for`` is set on channels the per-printer preference
    endpoints manage (``email``, ``printer:<id>``). ``title_template`` and ``body_template`` are the person's own
    Jinja2 texts for its messages (None: printfleet's, in ``notifications.language``). ``target`` is where a
    ``discord`` channel posts (see :func:`discord_target`; None for the other kinds)."""

    id: int
    user_id: int
    kind: ChannelKind
    name: str
    enabled: bool
    has_url: bool
    has_secret: bool
    created_at: datetime
    managed_for: str | None = None
    title_template: str | None = None
    body_template: str | None = None
    target: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSecrets:
    """A channel's write-only values, read only by the delivery path: the Apprise or webhook ``url`` and the
    webhook's ``whsec_`` ``signing_secret``."""

    url: str | None = None
    signing_secret: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """A channel × a set of events × printers (empty ``printer_ids``: every printer). ``managed_for``
    (``printer:<id>``) marks a rule written by the per-printer preference endpoint; ``created_at`` (aware UTC)
    keeps start-up recovery from sending a rule news older than itself. ``quiet_hours`` holds its messages in a
    window of local time (see :mod:`printfleet.domain.notifications.quiet`); ``digest`` gathers them into one summary
    an hour or a day (see :mod:`printfleet.domain.notifications.digest`)."""

    id: int
    channel_id: int
    events: frozenset[NotificationEvent]
    printer_ids: frozenset[str] = frozenset()
    managed_for: str | None = None
    created_at: datetime | None = None
    quiet_hours: QuietHours | None = None
    digest: Digest | None = None

    def hold(self, event: NotificationEvent, now: datetime) -> datetime | None:
        """When this rule would send a message for ``event`` written at ``now``: None (at once), the end of its quiet
        hours, or its digest's next sending moment (whichever is later)."""
        quiet = self.quiet_hours.held_until(event, now) if self.quiet_hours is not None else None
        digest = self.digest.held_until(event, now) if self.digest is not None else None
        return max((m for m in (quiet, digest) if m is not None), default=None)

    def matches(self, event: NotificationEvent, printer_id: str | None) -> bool:
        """True when the rule asks for ``event`` on ``printer_id`` (None: an event of no printer)."""
        if event not in self.events:
            return False
        return not self.printer_ids or (printer_id is not None and printer_id in self.printer_ids)


@dataclass(frozen=True, slots=True, kw_only=True)
class PrinterPreferences:
    """A user's preferences for one printer, as the planning document names them (the compatible
    ``/api/bambu/notifications/{printer_id}`` endpoints). ``has_webhook_url`` replaces the write-only
    ``webhook_url``."""

    printer_id: str
    notify_print_start: bool = False
    notify_print_complete: bool = True
    notify_print_failed: bool = True
    notify_material_change: bool = False
    notify_maintenance: bool = True
    email_enabled: bool = False
    has_webhook_url: bool = False

    def events(self) -> frozenset[NotificationEvent]:
        """The events these preferences ask for: start → ``print_started``, complete → ``print_finished``,
        failed → ``print_failed``, material change → ``material_changed`` and ``spool_low``, maintenance →
        ``maintenance_due``."""
        wanted = {
            NotificationEvent.PRINT_STARTED: self.notify_print_start,
            NotificationEvent.PRINT_FINISHED: self.notify_print_complete,
            NotificationEvent.PRINT_FAILED: self.notify_print_failed,
            NotificationEvent.MATERIAL_CHANGED: self.notify_material_change,
            NotificationEvent.SPOOL_LOW: self.notify_material_change,
            NotificationEvent.MAINTENANCE_DUE: self.notify_maintenance,
        }
        return frozenset(event for event, on in wanted.items() if on)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewMessage:
    """An outbox row to write: one rendered message for one channel. (``subject``, ``event``, ``channel_id``)
    is unique in the store: writing it again is a no-op. ``held_until`` (aware UTC): not sent before then (the
    rule's quiet hours or digest); None: at once. ``digest``: sent with the channel's other digest rows due at the same
    time, as one message."""

    channel_id: int
    user_id: int
    event: NotificationEvent
    subject: str
    title: str
    body: str
    payload: dict[str, Any] = field(default_factory=dict)
    held_until: datetime | None = None
    digest: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxMessage:
    """A stored outbox row. ``attempts`` counts sends tried; ``next_attempt_at`` is when a pending row is due;
    ``last_error`` is a short reason that never holds a URL or secret."""

    id: int
    channel_id: int
    user_id: int
    event: NotificationEvent
    subject: str
    title: str
    body: str
    payload: dict[str, Any]
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None = None
    last_error: str | None = None
    digest: bool = False

    @property
    def message_id(self) -> str:
        """The stable id a receiver sees (``webhook-id``): the same on every retry, so it can drop repeats."""
        return f"msg_{self.id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Retry timing, seconds: the n-th failed attempt waits ``initial * 2**(n-1)``, at most ``maximum``; a
    message still undelivered ``give_up_after`` after it was written is marked failed (issue 14: 24 h)."""

    initial: float = 10.0
    maximum: float = 3600.0
    give_up_after: float = 24 * 3600.0

    def next_attempt(self, attempts: int, now: datetime, created_at: datetime) -> datetime | None:
        """When to try again after ``attempts`` failed attempts, or None to give up."""
        delay = min(self.initial * 2 ** max(attempts - 1, 0), self.maximum)
        due = now + timedelta(seconds=delay)
        if due - created_at > timedelta(seconds=self.give_up_after):
            return None
        return due
