"""Wire shapes of accounts: users, sign-in, personal API tokens, the audit log. No password, hash or token digest
ever appears in a response; a new token's value appears once, in :class:`TokenCreated`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from printfleet.domain.accounts.audit import AuditAction, AuditRecord
from printfleet.domain.accounts.roles import Permission, Role, allows
from printfleet.domain.accounts.sessions import ApiToken
from printfleet.domain.accounts.users import DISPLAY_NAME_MAX, EMAIL_MAX, PASSWORD_MAX, USERNAME_MAX, User


class UserPublic(BaseModel):
    """A person: times ISO 8601 UTC. ``has_password`` is false for an account made for a Discord member that has not
    set a web password; ``discord_linked`` tells whether a Discord account is linked (never its id)."""

    id: int
    username: str
    display_name: str
    email: str | None
    role: Role
    disabled: bool
    has_password: bool
    discord_linked: bool
    created_at: datetime
    last_sign_in_at: datetime | None

    @classmethod
    def from_domain(cls, user: User) -> UserPublic:
        """Map a domain user."""
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            email=user.email,
            role=user.role,
            disabled=user.disabled,
            has_password=user.has_password,
            discord_linked=user.discord_id is not None,
            created_at=user.created_at,
            last_sign_in_at=user.last_sign_in_at,
        )


class Me(UserPublic):
    """The signed-in person, with the permissions their role grants (what the UI may offer)."""

    permissions: list[Permission]

    @classmethod
    def of(cls, user: User) -> Me:
        """The signed-in ``user`` with their permissions."""
        return cls(
            **UserPublic.from_domain(user).model_dump(),
            permissions=[permission for permission in Permission if allows(user.role, permission)],
        )


class UserList(BaseModel):
    """``GET /api/v1/users``: every account, by username."""

    users: list[UserPublic]


class SignIn(BaseModel):
    """``POST /api/v1/auth/sign-in``."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=USERNAME_MAX)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)


class UserCreate(BaseModel):
    """``POST /api/v1/users`` (admin). ``display_name`` defaults to the username."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=USERNAME_MAX)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)
    role: Role = Role.MEMBER
    display_name: str | None = Field(default=None, min_length=1, max_length=DISPLAY_NAME_MAX)
    email: str | None = Field(default=None, max_length=EMAIL_MAX)


class UserUpdate(BaseModel):
    """``PATCH /api/v1/users/{id}`` (admin): any of role, disabled, display name, email (``""`` clears it)."""

    model_config = ConfigDict(extra="forbid")
    role: Role | None = None
    disabled: bool | None = None
    display_name: str | None = Field(default=None, min_length=1, max_length=DISPLAY_NAME_MAX)
    email: str | None = Field(default=None, max_length=EMAIL_MAX)


class ProfileUpdate(BaseModel):
    """``PATCH /api/v1/me``: one's own display name and email (``""`` clears it)."""

    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(default=None, min_length=1, max_length=DISPLAY_NAME_MAX)
    email: str | None = Field(default=None, max_length=EMAIL_MAX)


class PasswordChange(BaseModel):
    """``POST /api/v1/me/password``: the current password and the new one (at least 10 characters, not common)."""

    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=PASSWORD_MAX)
    new_password: str = Field(min_length=1, max_length=PASSWORD_MAX)


class PasswordReset(BaseModel):
    """``POST /api/v1/users/{id}/password`` (admin): the new password; every session of that user ends."""

    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)


class TokenCreate(BaseModel):
    """``POST /api/v1/me/tokens``: a name to tell it apart, and an optional expiry (ISO 8601 with offset)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    expires_at: datetime | None = None


class TokenPublic(BaseModel):
    """A personal API token as listed: its visible ``prefix`` (``pf_AbCdEfGh``), never the token."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_domain(cls, token: ApiToken) -> TokenPublic:
        """Map a domain token record."""
        return cls(
            id=token.id,
            name=token.name,
            prefix=token.prefix,
            created_at=token.created_at,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
        )


class TokenCreated(TokenPublic):
    """A new token: ``token`` is shown this once (send it as ``Authorization: Bearer <token>``)."""

    token: str


class TokenList(BaseModel):
    """``GET /api/v1/me/tokens``: newest first, revoked ones included."""

    tokens: list[TokenPublic]


class LinkCode(BaseModel):
    """``POST /api/v1/me/discord-link``: type ``/link <code>`` in Discord before ``expires_at``."""

    code: str
    expires_at: datetime


class AuditPublic(BaseModel):
    """One audit record: who (``actor_name``; null ``actor_id`` when nobody was signed in), did what, to what."""

    id: int
    at: datetime
    action: AuditAction
    actor_id: int | None
    actor_name: str
    target: str | None
    detail: dict[str, Any]
    client: str | None

    @classmethod
    def from_domain(cls, record: AuditRecord) -> AuditPublic:
        """Map a stored audit record."""
        return cls(
            id=record.id,
            at=record.at,
            action=record.action,
            actor_id=record.actor_id,
            actor_name=record.actor_name,
            target=record.target,
            detail=record.detail,
            client=record.client,
        )


class AuditList(BaseModel):
    """``GET /api/v1/audit``: newest first, ``total`` matching."""

    records: list[AuditPublic]
    total: int
