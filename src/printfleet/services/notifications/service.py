"""Managing one's notifications: channels (write-only URL and secret), rules, per-printer preferences, a test
send and the delivery history. Every method acts for one user and sees only that user's channels (another user's
channel is "not found")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum

import structlog

from printfleet.aio import within
from printfleet.domain.notifications.digest import Digest
from printfleet.domain.notifications.model import (
    Channel,
    ChannelKind,
    ChannelSecrets,
    NotificationEvent,
    OutboxMessage,
    PrinterPreferences,
    Rule,
    discord_target,
)
from printfleet.domain.notifications.quiet import QuietHours, time_zone_problem
from printfleet.domain.notifications.signing import secret_key
from printfleet.services.errors import InvalidInput, NotFound
from printfleet.services.notifications.delivery import UserLookup, recipient
from printfleet.services.notifications.ports import DeliveryFailed, NotificationRepository, Outgoing, Sender
from printfleet.services.notifications.templates import CustomTemplates, InvalidTemplate, Templates

log = structlog.get_logger("printfleet.notifications")

EMAIL_MANAGED = "email"
"""``managed_for`` of the email channel the per-printer preferences switch on."""


def printer_managed(printer_id: str) -> str:
    """``managed_for`` of the rules and webhook channel of one printer's preferences."""
    return f"printer:{printer_id}"


class Unset(Enum):
    """The type of :data:`UNSET`."""

    UNSET = "unset"


UNSET = Unset.UNSET
"""A field left as it is (as opposed to None, which clears it)."""


class ChannelNotFound(NotFound):
    """No such channel (or not the caller's)."""

    def __init__(self, channel_id: int) -> None:
        super().__init__(f"notification channel {channel_id} not found")


class RuleNotFound(NotFound):
    """No such rule (or not the caller's)."""

    def __init__(self, rule_id: int) -> None:
        super().__init__(f"notification rule {rule_id} not found")


def check_target(kind: ChannelKind, target: str | None, *, has_url: bool) -> str | None:
    """A channel's ``target`` as stored: a ``discord`` channel needs one (``dm`` or a channel id) unless it has a
    Discord webhook URL; the other kinds take none. Raises InvalidInput."""
    if kind is not ChannelKind.DISCORD:
        if target is not None:
            raise InvalidInput("only discord channels take a target")
        return None
    if target is None:
        if not has_url:
            raise InvalidInput("a discord channel needs a target (dm, or a channel id) or a Discord webhook url")
        return None
    try:
        return discord_target(target)
    except ValueError as error:
        raise InvalidInput(str(error)) from None


def check_secrets(kind: ChannelKind, url: str | None, secret: str | None, *, creating: bool) -> None:
    """Refuse values a channel of ``kind`` cannot use (InvalidInput; the message never quotes them): Apprise and
    webhook channels need a URL, a webhook URL is http(s), a discord channel's URL is a Discord webhook URL, a
    signing secret is ``whsec_<base64>`` and only webhooks take one; email channels take neither."""
    if kind is ChannelKind.EMAIL:
        if url or secret:
            raise InvalidInput("an email channel sends to your account's email address; it takes no url or secret")
        return
    if kind is ChannelKind.DISCORD and url is not None and not url.strip().lower().startswith(("https://", "http://")):
        raise InvalidInput("a discord channel's url is a Discord webhook URL (https://discord.com/api/webhooks/…)")
    if creating and not url and kind is not ChannelKind.DISCORD:
        raise InvalidInput(f"a {kind.value} channel needs a url")
    if url is not None and (len(url) > 2000 or any(c.isspace() for c in url.strip())):
        raise InvalidInput("the url is not valid")
    if kind is ChannelKind.WEBHOOK and url is not None and not url.lower().startswith(("http://", "https://")):
        raise InvalidInput("a webhook url starts with http:// or https://")
    if secret is not None:
        if kind is not ChannelKind.WEBHOOK:
            raise InvalidInput("only webhook channels take a signing secret")
        try:
            secret_key(secret)
        except ValueError as error:
            raise InvalidInput(str(error)) from None


def _own_templates(title: str | None, body: str | None) -> tuple[str | None, str | None]:
    """The templates to store (empty: None, the defaults); raises InvalidInput when one does not compile."""
    title, body = (title or None), (body or None)
    try:
        CustomTemplates(title, body)
    except InvalidTemplate as error:
        raise InvalidInput(str(error)) from None
    return title, body


class NotificationService:
    """Channels, rules and preferences of the calling user (``user_id``)."""

    def __init__(
        self,
        *,
        repository: NotificationRepository,
        users: UserLookup,
        sender: Sender,
        templates: Templates | None = None,
        test_timeout: float = 15.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._repository = repository
        self._users = users
        self._sender = sender
        self._templates = templates or Templates()
        self._test_timeout = test_timeout
        self._clock = clock

    # -- channels --------------------------------------------------------------------------------------------

    async def channels(self, user_id: int) -> list[Channel]:
        """The user's channels."""
        return await self._repository.channels(user_id)

    async def channel(self, user_id: int, channel_id: int) -> Channel:
        """One of the user's channels; raises ChannelNotFound."""
        channel = await self._repository.channel(channel_id)
        if channel is None or channel.user_id != user_id:
            raise ChannelNotFound(channel_id)
        return channel

    async def add_channel(
        self,
        user_id: int,
        *,
        kind: ChannelKind,
        name: str,
        url: str | None = None,
        secret: str | None = None,
        title_template: str | None = None,
        body_template: str | None = None,
        target: str | None = None,
    ) -> Channel:
        """A new channel, with its own message templates when given (empty: the defaults). Raises InvalidInput (see
        :func:`check_secrets` and :func:`check_target`; a template that does not compile, naming it and the line)."""
        check_secrets(kind, url, secret, creating=True)
        target = check_target(kind, target, has_url=bool(url))
        title_template, body_template = _own_templates(title_template, body_template)
        channel = await self._repository.add_channel(
            user_id=user_id,
            kind=kind,
            name=name,
            secrets=ChannelSecrets(url=url.strip() if url else None, signing_secret=secret),
            title_template=title_template,
            body_template=body_template,
            target=target,
        )
        log.info("notification.channel_added", channel_id=channel.id, kind=kind.value, user_id=user_id)
        return channel

    async def update_channel(
        self,
        user_id: int,
        channel_id: int,
        *,
        name: str | None = None,
        enabled: bool | None = None,
        url: str | None = None,
        secret: str | None = None,
        title_template: str | None = None,
        body_template: str | None = None,
        target: str | None = None,
    ) -> Channel:
        """Change a channel; None leaves a field as it is (an empty template: back to the default). Raises
        ChannelNotFound, InvalidInput."""
        channel = await self.channel(user_id, channel_id)
        check_secrets(channel.kind, url, secret, creating=False)
        changes: dict[str, object] = {}
        if target is not None:
            changes["target"] = check_target(channel.kind, target, has_url=True)
        if title_template is not None or body_template is not None:
            title = channel.title_template if title_template is None else title_template
            body = channel.body_template if body_template is None else body_template
            changes["title_template"], changes["body_template"] = _own_templates(title, body)
        if name is not None:
            changes["name"] = name
        if enabled is not None:
            changes["enabled"] = enabled
        if url is not None:
            changes["url"] = url.strip()
        if secret is not None:
            changes["signing_secret"] = secret
        if not changes:
            return channel
        return await self._repository.update_channel(channel_id, **changes)

    async def delete_channel(self, user_id: int, channel_id: int) -> None:
        """Delete a channel with its rules and history. Raises ChannelNotFound."""
        await self.channel(user_id, channel_id)
        await self._repository.delete_channel(channel_id)
        log.info("notification.channel_deleted", channel_id=channel_id, user_id=user_id)

    async def test_channel(self, user_id: int, channel_id: int) -> tuple[bool, str | None]:
        """Send a test message now (not through the outbox); (delivered, reason when not). Raises ChannelNotFound."""
        channel = await self.channel(user_id, channel_id)
        user = await self._users(user_id)
        title, body = self._templates.test_message(channel.name)
        secrets = await self._repository.channel_secrets(channel.id)
        try:
            email, discord = recipient(channel, user, secrets)
            outgoing = Outgoing(
                message_id=f"msg_test_{channel.id}_{int(self._clock().timestamp())}",
                kind=channel.kind,
                event="test",
                title=title,
                body=body,
                timestamp=self._clock(),
                payload={"event": "test", "channel": {"id": channel.id, "name": channel.name}},
                secrets=secrets,
                email=email,
                channel_label=f"{channel.kind.value}:{channel.id}",
                discord=discord,
            )
            await within(self._sender.send(outgoing), self._test_timeout)
        except TimeoutError:
            log.info("notification.test", channel_id=channel.id, kind=channel.kind.value, ok=False, reason="timeout")
            return False, f"no answer within {self._test_timeout:g} s"
        except DeliveryFailed as failure:
            log.info(
                "notification.test", channel_id=channel.id, kind=channel.kind.value, ok=False, reason=failure.reason
            )
            return False, failure.reason
        log.info("notification.test", channel_id=channel.id, kind=channel.kind.value, ok=True)
        return True, None

    async def history(
        self, user_id: int, channel_id: int, *, limit: int = 50, offset: int = 0
    ) -> tuple[list[OutboxMessage], int]:
        """The channel's messages, newest first. Raises ChannelNotFound."""
        await self.channel(user_id, channel_id)
        return await self._repository.history(channel_id, limit=limit, offset=offset)

    # -- rules -----------------------------------------------------------------------------------------------

    async def rules(self, user_id: int) -> list[Rule]:
        """The user's rules."""
        return await self._repository.rules(user_id)

    async def _rule(self, user_id: int, rule_id: int) -> Rule:
        for rule in await self._repository.rules(user_id):
            if rule.id == rule_id:
                return rule
        raise RuleNotFound(rule_id)

    async def add_rule(
        self,
        user_id: int,
        *,
        channel_id: int,
        events: frozenset[NotificationEvent],
        printer_ids: frozenset[str],
        quiet_hours: QuietHours | None = None,
        digest: Digest | None = None,
    ) -> Rule:
        """A rule on one of the user's channels. Raises ChannelNotFound, InvalidInput (no events, an unknown time
        zone)."""
        await self.channel(user_id, channel_id)
        if not events:
            raise InvalidInput("a rule needs at least one event")
        _check_quiet(quiet_hours)
        _check_digest(digest)
        return await self._repository.add_rule(
            channel_id=channel_id, events=events, printer_ids=printer_ids, quiet_hours=quiet_hours, digest=digest
        )

    async def update_rule(
        self,
        user_id: int,
        rule_id: int,
        *,
        events: frozenset[NotificationEvent] | None = None,
        printer_ids: frozenset[str] | None = None,
        quiet_hours: QuietHours | Unset | None = UNSET,
        digest: Digest | Unset | None = UNSET,
    ) -> Rule:
        """Change a rule's events, printers, quiet hours or digest (None removes them; :data:`UNSET` keeps them).
        Raises RuleNotFound, InvalidInput."""
        await self._rule(user_id, rule_id)
        if events is not None and not events:
            raise InvalidInput("a rule needs at least one event")
        changes: dict[str, object] = {}
        if events is not None:
            changes["events"] = events
        if printer_ids is not None:
            changes["printer_ids"] = printer_ids
        if not isinstance(quiet_hours, Unset):
            _check_quiet(quiet_hours)
            changes["quiet_hours"] = quiet_hours
        if not isinstance(digest, Unset):
            _check_digest(digest)
            changes["digest"] = digest
        return await self._repository.update_rule(rule_id, **changes)

    async def delete_rule(self, user_id: int, rule_id: int) -> None:
        """Delete a rule. Raises RuleNotFound."""
        await self._rule(user_id, rule_id)
        await self._repository.delete_rule(rule_id)

    # -- per-printer preferences (the compatible endpoints) --------------------------------------------------

    async def preferences(self, user_id: int, printer_id: str) -> PrinterPreferences:
        """The user's preferences for ``printer_id`` (defaults when never saved)."""
        stored = await self._repository.preferences(user_id, printer_id) or PrinterPreferences(printer_id=printer_id)
        webhook = await self._managed_channel(user_id, printer_managed(printer_id))
        return PrinterPreferences(
            printer_id=printer_id,
            notify_print_start=stored.notify_print_start,
            notify_print_complete=stored.notify_print_complete,
            notify_print_failed=stored.notify_print_failed,
            notify_material_change=stored.notify_material_change,
            notify_maintenance=stored.notify_maintenance,
            email_enabled=stored.email_enabled,
            has_webhook_url=webhook is not None,
        )

    async def _managed_channel(self, user_id: int, managed_for: str) -> Channel | None:
        for channel in await self._repository.channels(user_id):
            if channel.managed_for == managed_for:
                return channel
        return None

    async def save_preferences(
        self, user_id: int, preferences: PrinterPreferences, *, webhook_url: str | None
    ) -> PrinterPreferences:
        """Store the preferences and apply them: with ``email_enabled`` the user's email channel gets a rule for
        this printer's chosen events; ``webhook_url`` (None: keep the current one; "": remove it) becomes this
        printer's webhook channel (unsigned) with the same events. Raises InvalidInput for a bad URL."""
        if webhook_url:
            check_secrets(ChannelKind.WEBHOOK, webhook_url, None, creating=True)
        await self._repository.save_preferences(user_id, preferences)
        managed = printer_managed(preferences.printer_id)
        events = preferences.events()
        for rule in await self._repository.rules(user_id):
            if rule.managed_for == managed:
                await self._repository.delete_rule(rule.id)
        webhook = await self._managed_channel(user_id, managed)
        if webhook_url == "" and webhook is not None:
            await self._repository.delete_channel(webhook.id)
            webhook = None
        elif webhook_url:
            if webhook is None:
                webhook = await self._repository.add_channel(
                    user_id=user_id,
                    kind=ChannelKind.WEBHOOK,
                    name=f"{preferences.printer_id} webhook",
                    secrets=ChannelSecrets(url=webhook_url.strip()),
                    managed_for=managed,
                )
            else:
                await self._repository.update_channel(webhook.id, url=webhook_url.strip())
        targets: list[Channel] = []
        if webhook is not None:
            targets.append(webhook)
        if preferences.email_enabled:
            email = await self._managed_channel(user_id, EMAIL_MANAGED)
            if email is None:
                email = await self._repository.add_channel(
                    user_id=user_id,
                    kind=ChannelKind.EMAIL,
                    name="email",
                    secrets=ChannelSecrets(),
                    managed_for=EMAIL_MANAGED,
                )
            targets.append(email)
        if events:
            for channel in targets:
                await self._repository.add_rule(
                    channel_id=channel.id,
                    events=events,
                    printer_ids=frozenset({preferences.printer_id}),
                    managed_for=managed,
                )
        return await self.preferences(user_id, preferences.printer_id)


def _check_quiet(quiet_hours: QuietHours | None) -> None:
    if quiet_hours is not None and (problem := time_zone_problem(quiet_hours.timezone)) is not None:
        raise InvalidInput(problem)


def _check_digest(digest: Digest | None) -> None:
    if digest is not None and (problem := time_zone_problem(digest.timezone)) is not None:
        raise InvalidInput(f"digest.timezone: {problem}")
