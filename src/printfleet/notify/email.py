"""Email through the configured SMTP server (``notifications.smtp``), with the standard library's ``smtplib`` in a
worker thread: implicit TLS (``ssl``), STARTTLS (``starttls``) or plain (loopback relays), optional login."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from printfleet.services.notifications.ports import DeliveryFailed, Outgoing


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpServer:
    """Where and how to send mail. ``password`` is a secret (never logged). ``timeout`` in seconds; ``ca_file``
    (PEM) replaces the system's CAs for verifying the server's certificate (the host name is always checked)."""

    host: str
    port: int = 587
    starttls: bool = True
    ssl: bool = False
    user: str | None = None
    password: str | None = None
    sender: str = "printfleet@localhost"
    timeout: float = 10.0
    ca_file: str | None = None


def email_message(outgoing: Outgoing, *, sender: str, recipient: str) -> EmailMessage:
    """The mail of ``outgoing`` (plain text; ``Message-ID`` derived from the outbox id, stable across retries)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = outgoing.title
    message["Date"] = formatdate(outgoing.timestamp.timestamp(), usegmt=True)
    domain = sender.rpartition("@")[2] or "printfleet.local"
    message["Message-ID"] = make_msgid(idstring=outgoing.message_id, domain=domain)
    message["X-Printfleet-Event"] = outgoing.event
    message.set_content(outgoing.body)
    return message


class EmailSender:
    """Sends one message per recipient."""

    def __init__(self, server: SmtpServer | None) -> None:
        self._server = server

    async def send(self, outgoing: Outgoing) -> None:
        """Send ``outgoing`` to ``outgoing.email``; raises DeliveryFailed (permanent without a server or address)."""
        server = self._server
        if server is None:
            raise DeliveryFailed("no SMTP server configured (notifications.smtp.host)", permanent=True)
        if not outgoing.email:
            raise DeliveryFailed("the user has no email address", permanent=True)
        message = email_message(outgoing, sender=server.sender, recipient=outgoing.email)
        try:
            await asyncio.to_thread(_send, server, message)
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryFailed("the SMTP server refused the recipient") from None
        except smtplib.SMTPAuthenticationError:
            raise DeliveryFailed("the SMTP server refused the login") from None
        except smtplib.SMTPResponseException as error:
            raise DeliveryFailed(f"the SMTP server answered {error.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryFailed(f"SMTP server not reached ({type(error).__name__})") from None


def _send(server: SmtpServer, message: EmailMessage) -> None:
    context = ssl.create_default_context(cafile=server.ca_file)
    client: smtplib.SMTP
    if server.ssl:
        client = smtplib.SMTP_SSL(server.host, server.port, timeout=server.timeout, context=context)
    else:
        client = smtplib.SMTP(server.host, server.port, timeout=server.timeout)
    with client:
        if server.starttls and not server.ssl:
            client.starttls(context=context)
        if server.user:
            client.login(server.user, server.password or "")
        client.send_message(message)
