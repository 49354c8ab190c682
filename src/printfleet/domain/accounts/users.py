"""People: the user record, username and password rules, and the principal a request acts as."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from printfleet.domain.accounts.roles import Permission, Role, allows

USERNAME_MAX = 64
DISPLAY_NAME_MAX = 100
EMAIL_MAX = 254
PASSWORD_MIN = 10
PASSWORD_MAX = 1024
"""Longer passwords are refused before hashing: argon2 would hash megabytes, a cheap way to load the server."""

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

COMMON_PASSWORDS = frozenset(
    {
        "0123456789",
        "1234567890",
        "12345678910",
        "1q2w3e4r5t",
        "1qaz2wsx3edc",
        "abcdefghij",
        "administrator",
        "changeme123",
        "football123",
        "iloveyou123",
        "letmein123",
        "password123",
        "password1234",
        "passw0rd123",
        "printfleet",
        "printfleet1",
        "printfleet123",
        "q1w2e3r4t5",
        "qwerty1234",
        "qwertyuiop",
        "welcome123",
        "0987654321",
        "1111111111",
        "0000000000",
        "aaaaaaaaaa",
        "asdfghjkl1",
        "zaq12wsxcde",
        "trustno1234",
        "sunshine123",
        "princess123",
        "dragon1234",
        "monkey1234",
        "baseball123",
        "superman123",
        "makerspace",
        "makerspace1",
        "3dprinting",
        "3dprinter1",
    }
)
"""A small list of passwords people pick first; the shortest are 10 characters, as shorter ones are refused anyway."""


class AccountInputError(ValueError):
    """A username, display name, email or password breaks a rule; ``field`` names it and ``message`` says why
    (never repeating the value, which may be a password)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def normalise_username(value: str) -> str:
    """The canonical (lower-case, trimmed) form of a username; usernames are unique case-insensitively.

    Raises AccountInputError when it is empty, longer than 64 characters, or uses other characters than letters,
    digits, ``.``, ``_`` and ``-`` (starting with a letter or digit).
    """
    name = value.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise AccountInputError(
            "username",
            f"a username is 1 to {USERNAME_MAX} letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


def check_display_name(value: str) -> str:
    """The trimmed display name; raises AccountInputError when empty or longer than 100 characters."""
    name = value.strip()
    if not name or len(name) > DISPLAY_NAME_MAX:
        raise AccountInputError("display_name", f"a display name is 1 to {DISPLAY_NAME_MAX} characters")
    return name


def check_email(value: str | None) -> str | None:
    """The trimmed email address or None; raises AccountInputError when it is not ``local@domain``."""
    if value is None or not value.strip():
        return None
    email = value.strip()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > EMAIL_MAX or any(c.isspace() for c in email):
        raise AccountInputError("email", "an email address looks like name@example.org")
    return email


def check_password(password: str, *, username: str | None = None) -> None:
    """Refuse a weak password with the reason: shorter than 10 characters, longer than 1,024, in the list of common
    passwords, or equal to the username. Raises AccountInputError (field ``password``)."""
    if len(password) < PASSWORD_MIN:
        raise AccountInputError("password", f"a password needs at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise AccountInputError("password", f"a password has at most {PASSWORD_MAX} characters")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS:
        raise AccountInputError("password", "this password is too common; choose another")
    if username is not None and lowered == username.lower():
        raise AccountInputError("password", "the password must not be the username")


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """One person. Times are aware UTC; ``discord_id`` is set once their Discord account is linked (or when the
    account was made for them on first use of the Discord bot). ``has_password`` is False for such an account until
    a password is set: it cannot sign in to the web UI."""

    id: int
    username: str
    display_name: str
    email: str | None
    role: Role
    disabled: bool
    has_password: bool
    discord_id: str | None
    created_at: datetime
    last_sign_in_at: datetime | None

    @property
    def queue_user_id(self) -> str:
        """The user id the queue and jobs know this person by (``user:<id>``)."""
        return queue_user_id(self.id)


def queue_user_id(user_id: int) -> str:
    """The queue's user id of account ``user_id`` (the queue stores user ids as text: ``user:17``)."""
    return f"user:{user_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewUser:
    """A user to create; ``username`` is already normalised and ``password_hash`` already computed (or None)."""

    username: str
    display_name: str
    email: str | None
    role: Role
    password_hash: str | None
    discord_id: str | None = None


class AuthMethod(StrEnum):
    """How a request proved who it is."""

    SESSION = "session"
    TOKEN = "token"
    DISCORD = "discord"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who a request acts as: the user, and how it signed in (``session_id`` is the stored session's key,
    ``token_id`` the personal token's id). Checks go through :meth:`may`."""

    user: User
    method: AuthMethod
    session_key: str | None = None
    token_id: int | None = None

    def may(self, permission: Permission) -> bool:
        """True when this principal's role allows ``permission`` (a token never has more rights than its owner)."""
        return not self.user.disabled and allows(self.user.role, permission)
