"""Secrets at rest: tokens a shop gave printfleet are stored encrypted with Fernet (``cryptography``: AES-128-CBC
with an HMAC-SHA256, a timestamp and a random IV per message).

The key is ``secrets.key`` (a url-safe base64 Fernet key; env ``PRINTFLEET_SECRETS__KEY``) or, when that is unset,
the key file ``secrets.key_file`` (default ``data/secrets.key``), created on first use with mode 0600. Losing the
key loses nothing but the shop tokens: the seller connects again.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class SecretUnreadable(Exception):
    """A sealed secret could not be opened: it was sealed with another key, or changed."""


class SecretBox:
    """Seal and open short secrets (text) with one Fernet key."""

    def __init__(self, key: bytes) -> None:
        """``key``: a url-safe base64 32-byte Fernet key. Raises ValueError for anything else."""
        self._fernet = Fernet(key)

    @classmethod
    def from_settings(cls, key: str | None, key_file: Path) -> SecretBox:
        """The box of ``key`` when given, else of the key in ``key_file``, which is created (mode 0600, its folder
        too) with a new random key when missing. Raises ValueError naming the setting for a malformed key."""
        if key:
            try:
                return cls(key.encode())
            except ValueError:
                raise ValueError("secrets.key: not a url-safe base64 Fernet key of 32 bytes") from None
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as written:
                written.write(Fernet.generate_key())
        try:
            return cls(key_file.read_bytes().strip())
        except ValueError:
            raise ValueError(f"secrets.key_file: {key_file} does not hold a Fernet key") from None

    def seal(self, secret: str) -> str:
        """``secret`` encrypted and authenticated, as ASCII text to store."""
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        """The secret in ``sealed``. Raises SecretUnreadable when another key sealed it or it was changed."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, UnicodeError, ValueError):
            raise SecretUnreadable("a stored secret cannot be opened with this key") from None
