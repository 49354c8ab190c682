"""What the notification services need from the store (``printfleet.store.notifications``) and from the senders
(``printfleet.notify``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from printfleet.domain.notifications.digest import Digest
from printfleet.domain.notifications.model import (
    Channel,
    ChannelKind,
    ChannelSecrets,
    NewMessage,
    NotificationEvent,
    OutboxMessage,
    PrinterPreferences,
    Rule,
)
from printfleet.domain.notifications.quiet import QuietHours


class NotificationRepository(Protocol):
    """Stored channels, rules, preferences and outbox rows. Raises StoreUnavailable when the store fails."""

    async def add_channel(
        self,
        *,
        user_id: int,
        kind: ChannelKind,
        name: str,
        secrets: ChannelSecrets,
        managed_for: str | None = None,
        title_template: str | None = None,
        body_template: str | None = None,
        target: str | None = None,
    ) -> Channel:
        """Store a new, enabled channel (with its own message templates and a discord channel's target, when
        given)."""
        ...

    async def channels(self, user_id: int) -> list[Channel]:
        """The user's channels, oldest first."""
        ...

    async def channel(self, channel_id: int) -> Channel | None:
        """One channel, or None."""
        ...

    async def update_channel(self, channel_id: int, **changes: Any) -> Channel:
        """Set ``name``, ``enabled``, ``url``, ``signing_secret``, ``title_template``, ``body_template`` or
        ``target``; raises KeyError when there is no channel."""
        ...

    async def delete_channel(self, channel_id: int) -> None:
        """Delete a channel with its rules and outbox rows."""
        ...

    async def channel_secrets(self, channel_id: int) -> ChannelSecrets:
        """A channel's URL and signing secret (for the sender only)."""
        ...

    async def add_rule(
        self,
        *,
        channel_id: int,
        events: frozenset[NotificationEvent],
        printer_ids: frozenset[str],
        managed_for: str | None = None,
        quiet_hours: QuietHours | None = None,
        digest: Digest | None = None,
    ) -> Rule:
        """Store a rule."""
        ...

    async def rules(self, user_id: int) -> list[Rule]:
        """Every rule of the user's channels, oldest first."""
        ...

    async def update_rule(self, rule_id: int, **changes: Any) -> Rule:
        """Set ``events``, ``printer_ids``, ``quiet_hours`` or ``digest`` (None removes them); raises KeyError when
        there is no rule."""
        ...

    async def delete_rule(self, rule_id: int) -> None:
        """Delete a rule (no-op when missing)."""
        ...

    async def active_rules(self) -> list[tuple[Rule, Channel]]:
        """Every rule of every enabled channel, with its channel."""
        ...

    async def preferences(self, user_id: int, printer_id: str) -> PrinterPreferences | None:
        """The stored preferences (``has_webhook_url`` false; the service fills it), or None."""
        ...

    async def save_preferences(self, user_id: int, preferences: PrinterPreferences) -> None:
        """Insert or replace one user's preferences for one printer."""
        ...

    async def enqueue(self, messages: list[NewMessage], *, now: datetime) -> list[OutboxMessage]:
        """Write outbox rows, due ``now``; a row whose (subject, event, channel) exists is skipped. Returns the
        rows written."""
        ...

    async def due(self, now: datetime, *, limit: int) -> list[OutboxMessage]:
        """Pending rows due at ``now``, oldest first."""
        ...

    async def next_due(self) -> datetime | None:
        """The earliest ``next_attempt_at`` of a pending row."""
        ...

    async def record_attempt(
        self,
        message_id: int,
        *,
        attempts: int,
        state: str,
        next_attempt_at: datetime | None,
        error: str | None,
        delivered_at: datetime | None,
    ) -> None:
        """Store one attempt's outcome."""
        ...

    async def postpone(self, rows: list[tuple[int, datetime]]) -> None:
        """Make pending rows due later, without counting an attempt: ``(row id, when)`` each (a channel's pace)."""
        ...

    async def record_delivered(self, deliveries: list[tuple[int, int]], *, delivered_at: datetime) -> None:
        """Mark rows delivered, in one transaction: ``(row id, attempts)`` each."""
        ...

    async def history(self, channel_id: int, *, limit: int, offset: int) -> tuple[list[OutboxMessage], int]:
        """A channel's outbox rows, newest first, and how many there are."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscordDestination:
    """Where a ``discord`` channel's message goes: a direct message to the Discord user ``id`` (``direct``), or a
    post in the Discord channel ``id``."""

    direct: bool
    id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Outgoing:
    """One message to send on one channel. ``message_id`` is stable across retries; ``timestamp`` is the send
    time; ``email`` is the recipient of an email channel, ``discord`` the destination of a discord channel;
    ``secrets`` the channel's URL and signing secret."""

    message_id: str
    kind: ChannelKind
    event: str
    title: str
    body: str
    timestamp: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    secrets: ChannelSecrets = field(default_factory=ChannelSecrets)
    email: str | None = None
    channel_label: str = ""
    discord: DiscordDestination | None = None


class DeliveryFailed(Exception):
    """A send did not succeed. ``reason`` is short and safe to store and log (never a URL, address or secret);
    ``permanent`` says retrying cannot help (a URL Apprise does not understand, no SMTP server configured)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason[:300]
        self.permanent = permanent


class DiscordPoster(Protocol):
    """Printfleet's Discord bot, as the ``discord`` channels use it (``printfleet.bot``). Both methods raise
    :class:`DeliveryFailed` (permanent when Discord refused for good: no permission, unknown channel, direct
    messages closed)."""

    async def post(self, channel_id: int, text: str) -> None:
        """Post ``text`` (at most 2,000 characters) in the Discord channel ``channel_id``, pinging nobody."""
        ...

    async def direct_message(self, user_id: int, text: str) -> None:
        """Send ``text`` (at most 2,000 characters) to the Discord user ``user_id`` as a direct message."""
        ...


class Sender(Protocol):
    """Sends one message; returns when the far end accepted it, raises :class:`DeliveryFailed` otherwise."""

    async def send(self, outgoing: Outgoing) -> None:
        """Deliver ``outgoing``."""
        ...
