"""Opaque credentials: session ids, personal API tokens and one-time codes, and how each is stored.

Only a SHA-256 digest of each credential is stored, so a copy of the database lets nobody sign in. Tokens look like
``pf_<32 url-safe characters>``; the first 8 characters after ``pf_`` are kept in clear as the token's visible
prefix, so a person can tell their tokens apart.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "pf_"
TOKEN_VISIBLE = 8
"""Characters of a token shown after ``pf_`` in lists (``pf_AbCdEfGh…``)."""

LINK_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""One-time Discord link codes avoid characters people mistake for each other (0/O, 1/I)."""


def digest(credential: str) -> str:
    """The hex SHA-256 of ``credential``: what the store keeps instead of the credential itself."""
    return hashlib.sha256(credential.encode("utf-8")).hexdigest()


def new_session_id() -> str:
    """A fresh session id for the cookie: 256 random bits, URL-safe text."""
    return secrets.token_urlsafe(32)


def new_api_token() -> tuple[str, str]:
    """A fresh personal API token and its visible prefix: ``("pf_…", "pf_AbCdEfGh")``."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(24)
    return token, token[: len(TOKEN_PREFIX) + TOKEN_VISIBLE]


def looks_like_api_token(value: str) -> bool:
    """True when ``value`` has a personal token's shape (``pf_`` and at least 16 more characters)."""
    return value.startswith(TOKEN_PREFIX) and 16 <= len(value) - len(TOKEN_PREFIX) <= 128


def new_setup_token() -> str:
    """The one-time token of the first-run set-up URL."""
    return secrets.token_urlsafe(24)


def new_link_code() -> str:
    """An 8-character code a person types into Discord (``/link CODE``) to link their account."""
    return "".join(secrets.choice(LINK_CODE_ALPHABET) for _ in range(8))


def new_password(length: int = 16) -> str:
    """A random password of ``length`` letters and digits (for the demo's users and password resets)."""
    alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))
