"""One :class:`~printfleet.services.notifications.ports.Sender` that sends by channel kind."""

from __future__ import annotations

from printfleet.domain.notifications.model import ChannelKind
from printfleet.notify.apprise_sender import AppriseSender
from printfleet.notify.discord import DiscordSender
from printfleet.notify.email import EmailSender, SmtpServer
from printfleet.notify.webhook import WebhookSender
from printfleet.services.notifications.ports import Outgoing


class ChannelSender:
    """Routes a message to the Apprise, webhook, email or Discord sender. ``smtp`` None: email channels fail for
    good with "no SMTP server configured". :attr:`discord` takes the bot while it runs in this process."""

    def __init__(self, *, smtp: SmtpServer | None, timeout: float = 10.0) -> None:
        self._apprise = AppriseSender(timeout=timeout)
        self._webhook = WebhookSender(timeout=timeout)
        self._email = EmailSender(smtp)
        self.discord = DiscordSender(timeout=timeout)

    async def send(self, outgoing: Outgoing) -> None:
        """Send ``outgoing`` on its channel kind; raises DeliveryFailed."""
        if outgoing.kind is ChannelKind.APPRISE:
            await self._apprise.send(outgoing)
        elif outgoing.kind is ChannelKind.WEBHOOK:
            await self._webhook.send(outgoing)
        elif outgoing.kind is ChannelKind.DISCORD:
            await self.discord.send(outgoing)
        else:
            await self._email.send(outgoing)

    async def aclose(self) -> None:
        """Close the webhook and Discord senders' connections."""
        await self._webhook.aclose()
        await self.discord.aclose()
