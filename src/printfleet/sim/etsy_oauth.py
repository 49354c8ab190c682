"""The Etsy stand-in's OAuth 2.0 side: authorization codes with PKCE (S256), access and refresh tokens with rotation.

Facts (research dispatch-scheduling-orders.md 4.2; Etsy's document ``securitySchemes.oauth2``): the authorize page
takes ``response_type=code, client_id, redirect_uri (https, registered), scope (space separated), state,
code_challenge, code_challenge_method=S256`` and redirects to ``redirect_uri?code=…&state=…``; the token endpoint
trades a code (with ``code_verifier`` and the same ``redirect_uri``) or a refresh token for ``{access_token,
token_type: "Bearer", expires_in, refresh_token}``; each refresh revokes the refresh token used (its reuse: 400
``invalid_grant`` "refresh_token is revoked"); an expired access token is a 401 ``invalid_token`` "access token is
expired". Tokens look like Etsy's, ``"<user_id>.<random>"``. Codes live 10 minutes (our choice; Etsy's is not
documented) and are single-use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.responses import JSONResponse, RedirectResponse, Response

AUTH_CODE_LIFETIME_S = 600


def oauth_error(status: int, error: str, description: str) -> JSONResponse:
    """OAuth's ``{error, error_description}`` body (research 4.2)."""
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def s256(verifier: str) -> str:
    """PKCE's S256 challenge of ``verifier`` (RFC 7636 4.2): base64url of its SHA-256, no padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class _AccessToken:
    scopes: frozenset[str]
    expires_at: float


@dataclass(frozen=True)
class _AuthCode:
    redirect_uri: str
    scopes: frozenset[str]
    challenge: str
    expires_at: float


class EtsyAuthority:
    """Tokens and codes for one seller (``user_id``) of one app (``keystring``). ``redirect_uris``: the registered
    redirect URIs (None: any ``https`` URI); ``expires_in_s``: access-token lifetime in seconds; ``clock``: epoch
    seconds."""

    def __init__(
        self,
        *,
        keystring: str,
        user_id: int,
        redirect_uris: Collection[str] | None,
        expires_in_s: int,
        clock: Callable[[], float],
    ) -> None:
        self.keystring = keystring
        self.user_id = user_id
        self.redirect_uris = None if redirect_uris is None else frozenset(redirect_uris)
        self.expires_in_s = expires_in_s
        self.clock = clock
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, frozenset[str]] = {}
        self._codes: dict[str, _AuthCode] = {}

    def issue(self, scopes: frozenset[str]) -> dict[str, Any]:
        """A new token pair for ``scopes``, as the token endpoint's body."""
        access = f"{self.user_id}.{secrets.token_urlsafe(48)}"
        refresh = f"{self.user_id}.{secrets.token_urlsafe(48)}"
        self._access[access] = _AccessToken(scopes, self.clock() + self.expires_in_s)
        self._refresh[refresh] = scopes
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.expires_in_s,
            "refresh_token": refresh,
        }

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is expired from now on (refresh tokens stay valid)."""
        now = self.clock()
        for token in self._access.values():
            token.expires_at = min(token.expires_at, now - 1)

    def revoke_all(self) -> None:
        """Every token is revoked, as a seller's password change does (etsy/open-api#519)."""
        self._refresh.clear()
        self._access.clear()

    def token_problem(self, bearer: str | None, scope: str) -> JSONResponse | None:
        """The refusal of a request carrying ``bearer`` to an operation needing ``scope``; None when allowed."""
        if bearer is None:
            return oauth_error(401, "invalid_token", "access token is missing")
        token = self._access.get(bearer)
        if token is None:
            return oauth_error(401, "invalid_token", "access token is invalid")
        if token.expires_at <= self.clock():
            return oauth_error(401, "invalid_token", "access token is expired")
        if scope not in token.scopes:
            return JSONResponse({"error": f"Access token is missing the required scope '{scope}'."}, status_code=403)
        return None

    def authorize(self, query: Mapping[str, str]) -> Response:
        """The authorize page: checks the request and, as a seller clicking "Allow access", redirects (302) with a
        code and the ``state``; 400 with an OAuth error otherwise."""
        if query.get("client_id") != self.keystring:
            return oauth_error(400, "invalid_client", "unknown client_id")
        redirect_uri = query.get("redirect_uri", "")
        if urlsplit(redirect_uri).scheme != "https" or (
            self.redirect_uris is not None and redirect_uri not in self.redirect_uris
        ):
            return oauth_error(400, "invalid_request", "The requested redirect URL is not permitted")
        scopes = frozenset(query.get("scope", "").split())
        problem = None
        if query.get("response_type") != "code":
            problem = "response_type must be code"
        elif not scopes:
            problem = "scope is required"
        elif not query.get("state"):
            problem = "state is required"
        elif not query.get("code_challenge") or query.get("code_challenge_method") != "S256":
            problem = "code_challenge with code_challenge_method S256 is required"
        if problem is not None:
            return oauth_error(400, "invalid_request", problem)
        code = secrets.token_urlsafe(32)
        self._codes[code] = _AuthCode(
            redirect_uri, scopes, query["code_challenge"], self.clock() + AUTH_CODE_LIFETIME_S
        )
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode({'code': code, 'state': query['state']})}", 302)

    def grant(self, form: Mapping[str, str]) -> dict[str, Any] | JSONResponse:
        """The token endpoint's answer to ``form``: a token body, or the OAuth error."""
        if form.get("client_id") != self.keystring:
            return oauth_error(400, "invalid_client", "client_id is not the app's keystring")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return self._grant_code(form)
        if grant == "refresh_token":
            scopes = self._refresh.pop(form.get("refresh_token", ""), None)
            if scopes is None:
                return oauth_error(400, "invalid_grant", "refresh_token is revoked")
            return self.issue(scopes)
        return oauth_error(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported")

    def _grant_code(self, form: Mapping[str, str]) -> dict[str, Any] | JSONResponse:
        code = self._codes.pop(form.get("code", ""), None)
        if code is None or code.expires_at <= self.clock():
            return oauth_error(400, "invalid_grant", "code is invalid or expired")
        if form.get("redirect_uri") != code.redirect_uri:
            return oauth_error(400, "invalid_grant", "redirect_uri does not match the authorization request")
        verifier = form.get("code_verifier", "")
        if not verifier or not hmac.compare_digest(s256(verifier), code.challenge):
            return oauth_error(400, "invalid_grant", "code_verifier does not match the code_challenge")
        return self.issue(code.scopes)
