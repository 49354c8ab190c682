"""Authentication and the one permission check of every route (DESIGN.md invariant 11).

Each route declares what it needs with :func:`requires` (a permission) or :func:`public` (the short allowlist:
health, sign-in, first-run set-up). :class:`Requires` finds the person behind the request — a personal API token in
``Authorization: Bearer pf_…`` or the session cookie — and checks their role against the permission table in
``printfleet.domain.accounts.roles``. A request authenticated by the cookie that changes something must come from
printfleet's own pages (``Sec-Fetch-Site`` / ``Origin``), so another site cannot act with a visitor's cookie; a Bearer
token is never sent by a browser on its own and needs no such check.

Refusals: 401 ``AuthenticationFailed`` (no or bad credentials; pages redirect to the sign-in page instead), 403
``PermissionDenied`` naming the missing permission, and for WebSockets a refused handshake (HTTP 403).
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, WebSocketException, status
from starlette.requests import HTTPConnection

from printfleet.api.context import ApiContext
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.services.errors import AuthenticationFailed, PermissionDenied

SESSION_COOKIE = "printfleet_session"
"""The cookie holding the session id (``HttpOnly; SameSite=Lax``; ``Secure`` over HTTPS)."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def client_address(connection: HTTPConnection) -> str | None:
    """The peer's address as the server sees it (behind a proxy: the proxy's, unless uvicorn's
    ``--forwarded-allow-ips`` trusts it)."""
    return connection.client.host if connection.client else None


def bearer_token(connection: HTTPConnection) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or None."""
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def is_cross_site(connection: HTTPConnection) -> bool:
    """True when the browser says the request comes from another site's page (``Sec-Fetch-Site: cross-site``, or an
    ``Origin`` whose host is not this server's)."""
    if connection.headers.get("sec-fetch-site") == "cross-site":
        return True
    origin = connection.headers.get("origin")
    return bool(origin) and origin != "null" and urlsplit(origin).netloc != connection.headers.get("host")


async def authenticate(connection: HTTPConnection) -> Principal | None:
    """Who sent ``connection``: the owner of its Bearer token, else of its session cookie; None when neither is
    valid. Cached on the connection, so several dependencies cost one lookup."""
    if "principal" in connection.scope.get("state", {}):
        cached: Principal | None = connection.state.principal
        return cached
    context: ApiContext = connection.app.state.context
    token = bearer_token(connection)
    principal: Principal | None
    if token is not None:
        principal = await context.accounts.token_principal(token)
    else:
        session_id = connection.cookies.get(SESSION_COOKIE)
        principal = await context.accounts.session_principal(session_id) if session_id else None
    connection.state.principal = principal
    return principal


class Requires:
    """The dependency that declares and checks one route's permission. ``permission`` is read by the route audit
    test, so a route without a declared permission fails the build."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, connection: HTTPConnection) -> Principal:
        """The principal, after checking it; raises AuthenticationFailed (401), PermissionDenied (403), or for a
        WebSocket a WebSocketException (the handshake is refused with 403)."""
        websocket = connection.scope["type"] == "websocket"
        principal = await authenticate(connection)
        if principal is None:
            if websocket:
                raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason="sign in first")
            raise AuthenticationFailed("sign in first: send a session cookie or 'Authorization: Bearer pf_…'")
        if not principal.may(self.permission):
            if websocket:
                raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason="not allowed")
            raise PermissionDenied(
                f"your role ({principal.user.role.value}) may not do this (needs {self.permission.value})",
                permission=self.permission.value,
            )
        if (
            not websocket
            and principal.method.value == "session"
            and connection.scope.get("method", "GET") not in SAFE_METHODS
            and is_cross_site(connection)
        ):
            raise PermissionDenied("cross-site request refused", reason="cross_site")
        return principal


class Public:
    """The marker of a route anyone may call (the allowlist: health, sign-in, set-up, static files)."""

    async def __call__(self) -> None:
        """Nothing to check."""


def check_metrics_access(connection: HTTPConnection, token: str | None) -> None:
    """``/metrics``: with ``token`` (``metrics.token``) the request must send it as a Bearer token (401 otherwise);
    without, only loopback clients may read it (403 otherwise)."""
    if token is not None:
        sent = bearer_token(connection) or ""
        if not hmac.compare_digest(sent.encode(), token.encode()):
            raise AuthenticationFailed("send 'Authorization: Bearer <metrics.token>'")
        return
    address = client_address(connection)
    try:
        loopback = address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise PermissionDenied("/metrics is open to loopback clients only; set metrics.token to open it with a token")


def requires(permission: Permission) -> Any:
    """``Depends`` on :class:`Requires` for ``permission``: put it in a route's ``dependencies`` or annotate a
    parameter ``principal: Annotated[Principal, requires(...)]``."""
    return Depends(Requires(permission))


def public() -> Any:
    """``Depends`` on :class:`Public`: the route is deliberately open."""
    return Depends(Public())


async def audit(connection: HTTPConnection, action: AuditAction, target: str, **detail: object) -> None:
    """Record ``action`` on ``target`` by whoever sent ``connection`` (checked by :class:`Requires` before), with
    their client address. ``detail`` holds names and non-secret values only."""
    context: ApiContext = connection.app.state.context
    principal: Principal | None = connection.scope.get("state", {}).get("principal")
    await context.accounts.audit(principal, action, target=target, detail=detail, client=client_address(connection))
