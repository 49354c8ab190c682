"""Request and response bodies of ``/api/v1/notifications/...`` and the compatible
``/api/bambu/notifications/{printer_id}``. URLs and signing secrets are accepted, never returned: responses say
``has_url`` / ``has_secret`` (``has_webhook_url``) instead."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from printfleet.domain.notifications.digest import Digest, DigestPeriod
from printfleet.domain.notifications.model import (
    Channel,
    ChannelKind,
    DeliveryState,
    NotificationEvent,
    OutboxMessage,
    PrinterPreferences,
    Rule,
)
from printfleet.domain.notifications.quiet import QuietHours, time_zone_problem

MAX_ID = 2**63 - 1
PrinterIds = list[str]


class ChannelBody(BaseModel):
    """A new channel: ``apprise`` (``url``: any Apprise URL), ``webhook`` (``url``: http(s); ``secret``: a
    ``whsec_`` Standard Webhooks secret to sign with, optional), ``email`` (to your account's email address) or
    ``discord`` (``target``: ``dm`` for a direct message to your linked Discord account, or a channel id, sent by
    printfleet's bot; ``url``: a Discord webhook URL used when the bot does not run, optional)."""

    model_config = ConfigDict(extra="forbid")
    kind: ChannelKind
    name: str = Field(min_length=1, max_length=100)
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    secret: str | None = Field(default=None, min_length=1, max_length=200)
    target: str | None = Field(default=None, min_length=1, max_length=40, examples=["dm", "222222222222222222"])
    title_template: str | None = Field(
        default=None,
        max_length=4000,
        description="Your own Jinja2 title for this channel's messages (empty: printfleet's; docs/notifications.md).",
    )
    body_template: str | None = Field(default=None, max_length=4000, description="Your own Jinja2 body, likewise.")


class ChannelPatch(BaseModel):
    """Changes to a channel; absent fields stay. ``url`` and ``secret`` replace the stored ones."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=100)
    enabled: bool | None = None
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    secret: str | None = Field(default=None, min_length=1, max_length=200)
    target: str | None = Field(default=None, min_length=1, max_length=40, description="A discord channel's target.")
    title_template: str | None = Field(
        default=None,
        max_length=4000,
        description="Your own Jinja2 title for this channel's messages (empty: printfleet's; docs/notifications.md).",
    )
    body_template: str | None = Field(default=None, max_length=4000, description="Your own Jinja2 body, likewise.")


class ChannelPublic(BaseModel):
    """A channel as shown: never its URL or secret."""

    id: int
    kind: ChannelKind
    name: str
    enabled: bool
    has_url: bool
    has_secret: bool
    managed_for: str | None
    created_at: datetime
    title_template: str | None = None
    body_template: str | None = None
    target: str | None = Field(default=None, description="Where a discord channel posts: dm or a channel id.")

    @classmethod
    def of(cls, channel: Channel) -> ChannelPublic:
        """The public view of ``channel``."""
        return cls(
            id=channel.id,
            kind=channel.kind,
            name=channel.name,
            enabled=channel.enabled,
            has_url=channel.has_url,
            has_secret=channel.has_secret,
            managed_for=channel.managed_for,
            created_at=channel.created_at,
            title_template=channel.title_template,
            body_template=channel.body_template,
            target=channel.target,
        )


class ChannelList(BaseModel):
    """The caller's channels."""

    channels: list[ChannelPublic]


class TestResult(BaseModel):
    """Outcome of a test send: ``delivered``, or the ``reason`` it was not."""

    delivered: bool
    reason: str | None = None


def _known_zone(value: str) -> str:
    if (problem := time_zone_problem(value)) is not None:
        raise ValueError(problem)
    return value


TimeZoneName = Annotated[
    str, Field(min_length=1, max_length=64, examples=["Europe/Berlin"]), AfterValidator(_known_zone)
]
"""An IANA time zone name; an unknown one is refused (422) with the reason."""


class QuietHoursBody(BaseModel):
    """Quiet hours: messages are held from ``start`` to ``end`` (``HH:MM``, local time in ``timezone``, an IANA
    name; a start after the end wraps midnight) and sent when they end; ``critical_bypass`` lets ``print_failed``,
    ``filament_runout``, ``hms_error`` and ``printer_offline`` through."""

    model_config = ConfigDict(extra="forbid")
    start: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["22:00"])
    end: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["07:00"])
    timezone: TimeZoneName
    critical_bypass: bool = True

    def to_domain(self) -> QuietHours:
        """As the domain's quiet hours."""
        return QuietHours(
            start=time.fromisoformat(self.start),
            end=time.fromisoformat(self.end),
            timezone=self.timezone,
            critical_bypass=self.critical_bypass,
        )

    @classmethod
    def of(cls, quiet: QuietHours) -> QuietHoursBody:
        """The public view of ``quiet``."""
        return cls(
            start=f"{quiet.start:%H:%M}",
            end=f"{quiet.end:%H:%M}",
            timezone=quiet.timezone,
            critical_bypass=quiet.critical_bypass,
        )


class DigestBody(BaseModel):
    """Gather the rule's messages into one summary: ``hourly`` (at the top of each hour) or ``daily`` at ``at``
    (``HH:MM``), in ``timezone`` (IANA). A failed print, a runout, a printer's error or a printer gone is never held
    for a digest."""

    model_config = ConfigDict(extra="forbid")
    period: DigestPeriod
    at: str = Field(default="08:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["08:00"])
    timezone: TimeZoneName = "UTC"

    def to_domain(self) -> Digest:
        """As the domain's digest."""
        return Digest(period=self.period, at=time.fromisoformat(self.at), timezone=self.timezone)

    @classmethod
    def of(cls, digest: Digest) -> DigestBody:
        """The public view of ``digest``."""
        return cls(period=digest.period, at=f"{digest.at:%H:%M}", timezone=digest.timezone)


class RuleBody(BaseModel):
    """A rule: ``events`` on ``channel_id`` for ``printer_ids`` (empty: every printer), with optional
    ``quiet_hours`` and ``digest``."""

    model_config = ConfigDict(extra="forbid")
    channel_id: int = Field(ge=1, le=MAX_ID)
    events: list[NotificationEvent] = Field(min_length=1, max_length=32)
    printer_ids: list[str] = Field(default_factory=list, max_length=500)
    quiet_hours: QuietHoursBody | None = None
    digest: DigestBody | None = None


class RulePatch(BaseModel):
    """Changes to a rule; absent fields stay; ``"quiet_hours": null`` or ``"digest": null`` removes them."""

    model_config = ConfigDict(extra="forbid")
    events: list[NotificationEvent] | None = Field(default=None, min_length=1, max_length=32)
    printer_ids: list[str] | None = Field(default=None, max_length=500)
    quiet_hours: QuietHoursBody | None = None
    digest: DigestBody | None = None


class RulePublic(BaseModel):
    """A rule."""

    id: int
    channel_id: int
    events: list[NotificationEvent]
    printer_ids: list[str]
    managed_for: str | None
    quiet_hours: QuietHoursBody | None = None
    digest: DigestBody | None = None

    @classmethod
    def of(cls, rule: Rule) -> RulePublic:
        """The public view of ``rule`` (events and printers sorted)."""
        return cls(
            id=rule.id,
            channel_id=rule.channel_id,
            events=sorted(rule.events),
            printer_ids=sorted(rule.printer_ids),
            managed_for=rule.managed_for,
            quiet_hours=QuietHoursBody.of(rule.quiet_hours) if rule.quiet_hours is not None else None,
            digest=DigestBody.of(rule.digest) if rule.digest is not None else None,
        )


class RuleList(BaseModel):
    """The caller's rules."""

    rules: list[RulePublic]


class DeliveryPublic(BaseModel):
    """One outbox message of a channel with its delivery state."""

    id: int
    event: NotificationEvent
    subject: str
    title: str
    body: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    data: dict[str, Any]

    @classmethod
    def of(cls, message: OutboxMessage) -> DeliveryPublic:
        """The public view of ``message``."""
        return cls(
            id=message.id,
            event=message.event,
            subject=message.subject,
            title=message.title,
            body=message.body,
            state=message.state,
            attempts=message.attempts,
            next_attempt_at=message.next_attempt_at if message.state is DeliveryState.PENDING else None,
            last_error=message.last_error,
            created_at=message.created_at,
            delivered_at=message.delivered_at,
            data=message.payload,
        )


class DeliveryList(BaseModel):
    """A page of a channel's messages, newest first."""

    deliveries: list[DeliveryPublic]
    total: int


class PreferencesBody(BaseModel):
    """The planning document's per-printer fields. ``webhook_url``: absent or null keeps the current one, ``""``
    removes it, a URL sets it (it is never shown again; see ``has_webhook_url``)."""

    model_config = ConfigDict(extra="forbid")
    notify_print_start: bool = False
    notify_print_complete: bool = True
    notify_print_failed: bool = True
    notify_material_change: bool = False
    notify_maintenance: bool = True
    email_enabled: bool = False
    webhook_url: str | None = Field(default=None, max_length=2000)

    def to_domain(self, printer_id: str) -> PrinterPreferences:
        """The domain preferences of ``printer_id``."""
        return PrinterPreferences(
            printer_id=printer_id,
            notify_print_start=self.notify_print_start,
            notify_print_complete=self.notify_print_complete,
            notify_print_failed=self.notify_print_failed,
            notify_material_change=self.notify_material_change,
            notify_maintenance=self.notify_maintenance,
            email_enabled=self.email_enabled,
        )


class PreferencesPublic(BaseModel):
    """The caller's preferences for one printer. ``webhook_url`` is always null (write-only);
    ``has_webhook_url`` says whether one is set."""

    printer_id: str
    notify_print_start: bool
    notify_print_complete: bool
    notify_print_failed: bool
    notify_material_change: bool
    notify_maintenance: bool
    email_enabled: bool
    webhook_url: None = None
    has_webhook_url: bool

    @classmethod
    def of(cls, preferences: PrinterPreferences) -> PreferencesPublic:
        """The public view of ``preferences``."""
        return cls(
            printer_id=preferences.printer_id,
            notify_print_start=preferences.notify_print_start,
            notify_print_complete=preferences.notify_print_complete,
            notify_print_failed=preferences.notify_print_failed,
            notify_material_change=preferences.notify_material_change,
            notify_maintenance=preferences.notify_maintenance,
            email_enabled=preferences.email_enabled,
            has_webhook_url=preferences.has_webhook_url,
        )
