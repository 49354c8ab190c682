"""Standard Webhooks signatures (standardwebhooks.com spec: ``webhook-id``, ``webhook-timestamp``,
``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``; the key is the base64 part of a
``whsec_`` secret). Apprise's json/form senders do not sign (research materials-notifications.md §5.1)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every secret, not a secret
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret. Raises ValueError (never quoting the secret) when it is not
    one, or its key is shorter than 24 or longer than 64 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with 'whsec_'")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(f"a webhook secret's key is {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes")
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value: ``v1,<base64 signature>``. ``timestamp`` in Unix seconds."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, message_id: str, timestamp: int, body: bytes, header: str) -> bool:
    """True when one of the space-separated ``v1,`` signatures in ``header`` signs the message with ``secret``."""
    expected = sign(secret, message_id, timestamp, body)
    return any(hmac.compare_digest(candidate, expected) for candidate in header.split())
