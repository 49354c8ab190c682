"""Password hashing with argon2id through pwdlib, the maintained successor of passlib's hashers.

pwdlib's recommended argon2id parameters (RFC 9106's second recommended option: 64 MiB memory, 3 passes) take
tens of milliseconds on a small machine; the figure is printed by ``make bench accounts``.
"""

from __future__ import annotations

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher

DEFAULT_TIME_COST = 3
DEFAULT_MEMORY_KIB = 64 * 1024
"""pwdlib's defaults (argon2-cffi's RFC 9106 low-memory profile): 3 passes over 64 MiB, 4 lanes."""


class Argon2PasswordHasher:
    """The production :class:`~printfleet.services.accounts.ports.PasswordHasher`: argon2id, salted per hash.

    ``time_cost`` and ``memory_cost`` (KiB) may be lowered for tests; the defaults are pwdlib's recommendation.
    """

    def __init__(self, *, time_cost: int | None = None, memory_cost: int | None = None) -> None:
        hasher = Argon2Hasher(
            time_cost=DEFAULT_TIME_COST if time_cost is None else time_cost,
            memory_cost=DEFAULT_MEMORY_KIB if memory_cost is None else memory_cost,
        )
        self._hash = PasswordHash((hasher,))

    def hash(self, password: str) -> str:
        """The encoded argon2id hash of ``password`` (``$argon2id$v=19$m=…``)."""
        return self._hash.hash(password)

    def verify(self, password: str, hashed: str) -> bool:
        """True when ``password`` matches ``hashed``; False for a wrong password or a hash this hasher cannot read."""
        try:
            return self._hash.verify(password, hashed)
        except UnknownHashError:
            return False
