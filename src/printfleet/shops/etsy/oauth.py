"""Etsy's OAuth 2.0: Authorization Code with PKCE (S256), token exchange and refresh with rotation.

Facts (research dispatch-scheduling-orders.md 4.1, 4.2; Etsy's document ``components.securitySchemes.oauth2``):

- Authorize in the seller's browser: ``GET https://www.etsy.com/oauth/connect?response_type=code&client_id=
  <keystring>&redirect_uri=<https URL>&scope=<space separated>&state=<random>&code_challenge=<S256>&
  code_challenge_method=S256``; Etsy redirects to ``redirect_uri?code=…&state=…``.
- Token: ``POST https://api.etsy.com/v3/public/oauth/token`` (form) ``grant_type=authorization_code, client_id
  (the bare keystring), redirect_uri, code, code_verifier`` or ``grant_type=refresh_token, client_id,
  refresh_token`` → ``{access_token, token_type: "Bearer", expires_in: 3600, refresh_token}``. The request also
  carries ``x-api-key: keystring:shared_secret``, as every request does since 2026-02-09.
- Each refresh returns a new refresh token and invalidates the one sent: the new pair must be stored before the new
  access token is used. Reusing a refresh token is a 400 ``invalid_grant`` ("refresh_token is revoked"). The
  token endpoint occasionally answers 500 and succeeds on retry (etsy/open-api#549).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import structlog

from printfleet.domain.printer import Secret
from printfleet.shops.etsy.errors import EtsyError, EtsyReconnectNeeded, EtsyUnavailable, error_texts

ETSY_AUTHORIZE_URL = "https://www.etsy.com/oauth/connect"
ETSY_TOKEN_URL = "https://api.etsy.com/v3/public/oauth/token"  # noqa: S105 (an address, not a secret)
ETSY_API_URL = "https://openapi.etsy.com"
SCOPES = ("transactions_r", "transactions_w", "shops_r", "listings_r")
"""What printfleet asks for: receipts, tracking write-back, ``getMe``, listing inventory (research 4.2)."""

log = structlog.get_logger("printfleet.shops.etsy")


@dataclass(frozen=True, slots=True, kw_only=True)
class EtsyTokens:
    """A seller's tokens. ``expires_at`` is the access token's expiry (aware UTC); ``scopes`` what the seller
    granted. The tokens are :class:`Secret` so that a repr or a log line never shows them."""

    access_token: Secret
    refresh_token: Secret
    expires_at: datetime
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def user_id(self) -> int | None:
        """The seller's user id, the prefix of Etsy's access tokens (``"<user_id>.<…>"``); None if absent."""
        prefix, dot, _ = self.access_token.reveal().partition(".")
        return int(prefix) if dot and prefix.isdigit() else None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthorizationRequest:
    """Where to send the seller's browser (``url``) and what to keep until Etsy redirects back: ``state`` (compare
    it with the redirect's) and ``code_verifier`` (send it with the code)."""

    url: str
    state: str
    code_verifier: Secret = field(repr=False)


def new_code_verifier() -> str:
    """A PKCE code verifier: 64 URL-safe characters (RFC 7636 4.1 allows 43 to 128)."""
    return secrets.token_urlsafe(48)


def code_challenge(verifier: str) -> str:
    """The S256 code challenge of ``verifier`` (RFC 7636 4.2): base64url of its SHA-256, without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(
    *,
    keystring: str,
    redirect_uri: str,
    scopes: Iterable[str],
    state: str,
    challenge: str,
    endpoint: str = ETSY_AUTHORIZE_URL,
) -> str:
    """The authorize page's URL for the seller's browser (research 4.2). ``redirect_uri`` must be an ``https``
    URI registered for the app."""
    query = {
        "response_type": "code",
        "client_id": keystring,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{endpoint}?{urlencode(query)}"


def start_authorization(
    *, keystring: str, redirect_uri: str, scopes: Iterable[str] = SCOPES, endpoint: str = ETSY_AUTHORIZE_URL
) -> AuthorizationRequest:
    """A fresh ``state`` and code verifier, and the authorize URL that carries their challenge."""
    verifier = new_code_verifier()
    state = secrets.token_urlsafe(24)
    url = authorize_url(
        keystring=keystring,
        redirect_uri=redirect_uri,
        scopes=scopes,
        state=state,
        challenge=code_challenge(verifier),
        endpoint=endpoint,
    )
    return AuthorizationRequest(url=url, state=state, code_verifier=Secret(verifier))


def tokens_from_response(body: object, *, now: datetime, scopes: Iterable[str]) -> EtsyTokens:
    """:class:`EtsyTokens` from a token response body (``access_token``, ``refresh_token``, ``expires_in``
    seconds) received at ``now``. Etsy's response names no scopes, so the granted ``scopes`` are carried over.
    Raises :class:`EtsyError` when the body lacks them."""
    if not isinstance(body, dict):
        raise EtsyError("Etsy's token response is not a JSON object", error="invalid_response")
    access, refresh, expires_in = body.get("access_token"), body.get("refresh_token"), body.get("expires_in")
    if not isinstance(access, str) or not isinstance(refresh, str) or not isinstance(expires_in, int | float):
        raise EtsyError(
            "Etsy's token response lacks access_token, refresh_token or expires_in", error="invalid_response"
        )
    return EtsyTokens(
        access_token=Secret(access),
        refresh_token=Secret(refresh),
        expires_at=now + timedelta(seconds=float(expires_in)),
        scopes=frozenset(scopes),
    )


async def exchange_code(
    http: httpx.AsyncClient,
    *,
    token_url: str,
    keystring: str,
    shared_secret: Secret,
    redirect_uri: str,
    code: str,
    code_verifier: Secret,
    scopes: Iterable[str] = SCOPES,
    now: datetime | None = None,
) -> EtsyTokens:
    """Trade the authorization ``code`` for tokens (``grant_type=authorization_code``). ``scopes`` are the ones
    asked for on the authorize page. Raises :class:`EtsyReconnectNeeded` for ``invalid_grant`` (wrong verifier,
    used or expired code: start again), :class:`EtsyError` for other refusals, :class:`EtsyUnavailable` when
    Etsy does not answer."""
    form = {
        "grant_type": "authorization_code",
        "client_id": keystring,
        "redirect_uri": redirect_uri,
        "code": code,
        "code_verifier": code_verifier.reveal(),
    }
    body = await _post_token(http, token_url=token_url, keystring=keystring, shared_secret=shared_secret, form=form)
    return tokens_from_response(body, now=now or datetime.now(UTC), scopes=scopes)


async def refresh_tokens(
    http: httpx.AsyncClient,
    *,
    token_url: str,
    keystring: str,
    shared_secret: Secret,
    tokens: EtsyTokens,
    now: datetime | None = None,
    retries_on_5xx: int = 1,
) -> EtsyTokens:
    """New tokens for ``tokens.refresh_token`` (``grant_type=refresh_token``); the refresh token sent is invalid
    from then on, so store the result before anything else. A 5xx is retried ``retries_on_5xx`` times at once
    (etsy/open-api#549). Raises :class:`EtsyReconnectNeeded` for ``invalid_grant`` (revoked or reused refresh
    token), :class:`EtsyError` for other refusals, :class:`EtsyUnavailable` when Etsy does not answer."""
    form = {"grant_type": "refresh_token", "client_id": keystring, "refresh_token": tokens.refresh_token.reveal()}
    attempt = 0
    while True:
        try:
            body = await _post_token(
                http, token_url=token_url, keystring=keystring, shared_secret=shared_secret, form=form
            )
        except EtsyError as exc:
            if exc.status is not None and exc.status >= 500 and attempt < retries_on_5xx:
                attempt += 1
                log.warning("etsy.refresh_retry", status=exc.status, attempt=attempt)
                continue
            raise
        return tokens_from_response(body, now=now or datetime.now(UTC), scopes=tokens.scopes)


async def _post_token(
    http: httpx.AsyncClient, *, token_url: str, keystring: str, shared_secret: Secret, form: dict[str, str]
) -> object:
    headers = {"x-api-key": f"{keystring}:{shared_secret.reveal()}", "accept": "application/json"}
    try:
        response = await http.post(token_url, data=form, headers=headers)
    except httpx.HTTPError as exc:
        raise EtsyUnavailable(f"Etsy's token endpoint did not answer: {type(exc).__name__}") from None
    if response.is_success:
        try:
            return response.json()
        except ValueError:
            raise EtsyError(
                "Etsy's token response is not JSON", status=response.status_code, error="invalid_response"
            ) from None
    error, description = error_texts(response)
    if error == "invalid_grant":
        raise EtsyReconnectNeeded(
            f"Etsy refused the grant ({description or error}); connect the shop again",
            status=response.status_code,
            error=error,
            description=description,
        )
    raise EtsyError.from_response(response, action="issue tokens")
