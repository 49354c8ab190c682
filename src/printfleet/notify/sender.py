"""One :class:`~printfleet.services.notifications.ports.Sender` that sends by channel kind."""

from __future__ import annotations

from printfleet.domain.notifications.model import ChannelKind
from printfleet.notify.apprise_sender import AppriseSender
from printfleet.notify.email import EmailSender, SmtpServer
from printfleet.notify.webhook import WebhookSender
from printfleet.services.notifications.ports import Outgoing


class ChannelSender:
    """Routes a message to the Apprise, webhook or email sender. ``smtp`` None: email channels fail for good
    with "no SMTP server configured"."""

    def __init__(self, *, smtp: SmtpServer | None, timeout: float = 10.0) -> None:
        self._apprise = AppriseSender(timeout=timeout)
        self._webhook = WebhookSender(timeout=timeout)
        self._email = EmailSender(smtp)

    async def send(self, outgoing: Outgoing) -> None:
        """Send ``outgoing`` on its channel kind; raises DeliveryFailed."""
        if outgoing.kind is ChannelKind.APPRISE:
            await self._apprise.send(outgoing)
        elif outgoing.kind is ChannelKind.WEBHOOK:
            await self._webhook.send(outgoing)
        else:
            await self._email.send(outgoing)

    async def aclose(self) -> None:
        """Close the webhook sender's connections."""
        await self._webhook.aclose()
