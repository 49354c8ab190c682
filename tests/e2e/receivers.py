"""Real loopback receivers of notifications: an HTTP server (aiohttp) that records every request and verifies
Standard Webhooks signatures, and an SMTP server (aiosmtpd) that records every mail."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from printfleet.domain.notifications.signing import verify
from tests.support import free_port


@dataclass
class Received:
    """One HTTP request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """An HTTP server on 127.0.0.1:``port`` recording every POST; start and stop it at will (same port)."""

    port: int = field(default_factory=free_port)
    status: int = 200
    requests: list[Received] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Received(request.path, {k.lower(): v for k, v in request.headers.items()}, body))
        return web.Response(status=self.status, text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)  # the receiver is not printfleet: keep it out of its log
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def on(self, path: str) -> list[Received]:
        return [request for request in self.requests if request.path == path]

    def webhook_events(self, path: str, secret: str) -> list[str]:
        """The ``type`` of every request to ``path``, after checking each one's signature with ``secret``."""
        events = []
        for request in self.on(path):
            headers = request.headers
            assert verify(
                secret,
                headers["webhook-id"],
                int(headers["webhook-timestamp"]),
                request.body,
                headers["webhook-signature"],
            ), f"bad signature on {headers}"
            events.append(request.json()["type"])
        return events

    async def wait_for(self, predicate: Any, *, timeout: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() > deadline:
                raise AssertionError(f"receiver never matched; saw {[(r.path, r.body[:200]) for r in self.requests]}")
            await asyncio.sleep(0.05)


class _MailHandler:
    def __init__(self, mails: list[Message]) -> None:
        self.mails = mails

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.mails.append(message_from_bytes(content))
        return "250 OK"


class _Authenticator:
    """Accepts one login and password; records every login tried."""

    def __init__(self, login: str, password: str) -> None:
        self.expected = (login.encode(), password.encode())
        self.tried: list[bytes] = []

    def __call__(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        self.tried.append(data.login)
        accepted = (data.login, data.password) == self.expected
        return AuthResult(success=accepted, handled=False)  # handled=False: aiosmtpd answers 535 on a refusal


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1, recording every mail: plain SMTP, or with ``tls`` (an ``ssl.SSLContext``) STARTTLS
    required and a login (``login``, ``password``) required over it."""

    def __init__(self, *, tls: Any = None, login: str = "farm", password: str = "") -> None:
        self.port = free_port()
        self.mails: list[Message] = []
        self.authenticator = _Authenticator(login, password)
        extra: dict[str, Any] = {}
        if tls is not None:
            extra = {
                "tls_context": tls,
                "require_starttls": True,
                "authenticator": self.authenticator,
                "auth_require_tls": True,
                "auth_required": True,
            }
        self._controller = Controller(_MailHandler(self.mails), hostname="127.0.0.1", port=self.port, **extra)

    def __enter__(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._controller.stop()
