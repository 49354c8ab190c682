"""Accounts helpers for tests: a cheap argon2id hasher (same algorithm, test-sized cost)."""

from __future__ import annotations

from printfleet.security.passwords import Argon2PasswordHasher


def fast_hasher() -> Argon2PasswordHasher:
    """argon2id with 1 pass over 1 MiB: the real code path at a fraction of the production cost."""
    return Argon2PasswordHasher(time_cost=1, memory_cost=1024)
