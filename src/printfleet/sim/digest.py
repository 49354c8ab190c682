"""Server side of HTTP Digest (MD5) for the simulated printers: PrusaLink on Buddy firmware (RFC 2069 style, no
``qop``, short-lived nonces) and on a Raspberry Pi (RFC 7616 with ``qop="auth"`` and ``opaque``)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import urllib.request
from typing import Literal


class DigestAuthority:
    """Server side of HTTP Digest, MD5 (RFC 7616 with ``qop="auth"``, or RFC 2069 without ``qop``).

    Nonces are random, remembered with their issue time, and valid ``nonce_lifetime_s`` seconds; a correct
    answer to an expired or unknown nonce gets a new challenge with ``stale=true``.
    """

    def __init__(self, *, username: str, password: str, realm: str, with_qop: bool, nonce_lifetime_s: float) -> None:
        self._username = username
        self._password = password
        self.realm = realm
        self._with_qop = with_qop
        self._lifetime = nonce_lifetime_s
        self._opaque = secrets.token_hex(8) if with_qop else None
        self._nonces: dict[str, float] = {}

    def challenge(self, *, stale: bool = False) -> str:
        """A fresh ``WWW-Authenticate`` header value."""
        now = time.monotonic()
        self._nonces = {n: t for n, t in self._nonces.items() if now - t < 2 * self._lifetime}
        nonce = secrets.token_hex(8)
        self._nonces[nonce] = now
        parts = [f'Digest realm="{self.realm}"', f'nonce="{nonce}"']
        if self._with_qop:
            parts += ['qop="auth"', "algorithm=MD5", f'opaque="{self._opaque}"']
        parts.append(f"stale={'true' if stale else 'false'}")
        return ", ".join(parts)

    def check(self, *, method: str, uri: str, authorization: str | None) -> Literal["ok", "stale", "denied"]:
        """Verify an ``Authorization`` header for ``method`` on ``uri`` (path with query, as sent)."""
        if not authorization or authorization[:7].lower() != "digest ":
            return "denied"
        try:
            fields = urllib.request.parse_keqv_list(urllib.request.parse_http_list(authorization[7:]))
        except ValueError:
            return "denied"
        algorithm = fields.get("algorithm", "MD5")
        required = ("username", "realm", "nonce", "uri", "response")
        if any(key not in fields for key in required) or algorithm.upper() != "MD5":
            return "denied"
        if fields["username"] != self._username or fields["realm"] != self.realm or fields["uri"] != uri:
            return "denied"
        ha1 = _md5(f"{self._username}:{self.realm}:{self._password}")
        ha2 = _md5(f"{method}:{fields['uri']}")
        qop = fields.get("qop")
        if self._with_qop:
            if qop != "auth" or "nc" not in fields or "cnonce" not in fields:
                return "denied"
            if fields.get("opaque") != self._opaque:
                return "denied"
            expected = _md5(f"{ha1}:{fields['nonce']}:{fields['nc']}:{fields['cnonce']}:auth:{ha2}")
        else:
            expected = _md5(f"{ha1}:{fields['nonce']}:{ha2}")
        if not hmac.compare_digest(expected, fields["response"].lower()):
            return "denied"
        issued = self._nonces.get(fields["nonce"])
        if issued is None or time.monotonic() - issued > self._lifetime:
            return "stale"
        return "ok"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
