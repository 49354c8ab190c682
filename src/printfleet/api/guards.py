"""Pure ASGI guards in front of every route: the ``Host`` allow-list (DNS rebinding) and the request-body limit.

Both answer before the application sees the request: a ``Host`` that is not allowed gets 400 (a WebSocket
handshake is refused, 403), a body over the limit gets 413 ``{"detail": ...}``, also when it arrives chunked
without a ``Content-Length``.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ANY_HOST = "*"
"""In ``allowed_hosts``: answer to any ``Host``."""


def host_name(value: str) -> str:
    """The host name of a ``Host`` header value, lower case, without port or IPv6 brackets (``"[::1]:80"`` →
    ``"::1"``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_allowed(value: str | None, allowed: frozenset[str]) -> bool:
    """Whether a request with ``Host: value`` may be served: a listed name (case-insensitive, any port), any name
    with ``"*"`` listed, any IP address literal (a DNS-rebinding page cannot make a browser send one), or no
    ``Host`` at all (HTTP/1.0, no browser)."""
    if value is None or ANY_HOST in allowed:
        return True
    name = host_name(value)
    return name in allowed or _is_ip(name)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _send_json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class HostGuard:
    """Refuse requests whose ``Host`` is not allowed: HTTP 400 ``{"detail": ...}``; a WebSocket handshake is closed
    before it is accepted (the client sees 403)."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(host_name(name) if name != ANY_HOST else name for name in allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] in ("http", "websocket") and not host_allowed(_header(scope, b"host"), self.allowed):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": "host not allowed"})
            else:
                await _send_json(send, 400, "unknown Host: add this host name to http.allowed_hosts")
            return
        await self.app(scope, receive, send)


class BodyTooLarge(Exception):
    """A request body went over the limit while the application read it (the 413 has been sent)."""


class BodyLimit:
    """Answer 413 ``{"detail": ...}`` to a request body over ``max_bytes``: at once from its ``Content-Length``, or
    as soon as a chunked body passes the limit (then the application's read fails, and whatever it would answer
    instead is dropped).

    ``overrides`` maps ``(method, path)`` to its own limit, bytes (the file upload, which streams its body to disk
    and checks the file's size itself)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, overrides: dict[tuple[str, str], int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = dict(overrides or {})

    @property
    def detail(self) -> str:
        """The 413's sentence."""
        return f"request body too large: at most {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.overrides.get((scope.get("method", ""), scope.get("path", "")), self.max_bytes)
        detail = f"request body too large: at most {max_bytes} bytes"
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
            await _send_json(send, 413, detail)
            return
        received = 0
        started = False
        refused = False

        async def limited() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    if not started and not refused:
                        refused = True
                        await _send_json(send, 413, detail)
                    raise BodyTooLarge(detail)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is the answer
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, tracked)
        except Exception:
            if not refused:
                raise
