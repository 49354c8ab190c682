"""The accounts repository: :class:`SqlAccountRepository` (users, sessions, tokens, failures, codes).

Each public method is one transaction. A username or Discord id taken by another account fails at the database's
unique constraint, whichever process inserts, and becomes :class:`~printfleet.services.errors.Conflict`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from printfleet.domain.accounts.roles import Role
from printfleet.domain.accounts.sessions import ApiToken, SessionRecord
from printfleet.domain.accounts.throttle import FailureCount
from printfleet.domain.accounts.users import NewUser, User
from printfleet.services.errors import Conflict, NotFound
from printfleet.store.accounts.tables import (
    ApiTokenRow,
    OneTimeCodeRow,
    SignInFailureRow,
    UserRow,
    UserSessionRow,
)
from printfleet.store.database import Database

USER_COLUMNS = frozenset({"display_name", "email", "role", "disabled", "password_hash", "discord_id"})
"""The columns :meth:`SqlAccountRepository.update_user` may set."""


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def user_from_row(row: UserRow) -> User:
    """The domain user of a ``users`` row (never its password hash)."""
    return User(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        email=row.email,
        role=Role(row.role),
        disabled=row.disabled,
        has_password=row.password_hash is not None,
        discord_id=row.discord_id,
        created_at=row.created_at.astimezone(UTC),
        last_sign_in_at=_utc(row.last_sign_in_at),
    )


def _token_from_row(row: ApiTokenRow) -> ApiToken:
    return ApiToken(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at.astimezone(UTC),
        expires_at=_utc(row.expires_at),
        last_used_at=_utc(row.last_used_at),
        revoked_at=_utc(row.revoked_at),
    )


def _session_from_row(row: UserSessionRow) -> SessionRecord:
    return SessionRecord(
        key=row.key,
        user_id=row.user_id,
        created_at=row.created_at.astimezone(UTC),
        last_seen_at=row.last_seen_at.astimezone(UTC),
        client=row.client,
    )


def _taken(error: IntegrityError) -> Conflict:
    text = str(error.orig).lower()
    if "discord" in text:
        return Conflict("this Discord account is linked to another user already")
    return Conflict("this username is taken")


class SqlAccountRepository:
    """Users, sessions, personal API tokens, sign-in failure counts and one-time codes in the database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    # --- users ------------------------------------------------------------------------------------------------

    async def count_users(self) -> int:
        """How many accounts exist (disabled ones included)."""
        async with self._database.transaction() as session:
            return int(await session.scalar(select(func.count()).select_from(UserRow)) or 0)

    async def create_user(self, user: NewUser, *, now: datetime) -> User:
        """Insert ``user``; raises Conflict when its username or Discord id is taken."""
        row = UserRow(
            username=user.username,
            display_name=user.display_name,
            email=user.email,
            role=user.role.value,
            disabled=False,
            password_hash=user.password_hash,
            discord_id=user.discord_id,
            created_at=now,
            updated_at=now,
            last_sign_in_at=None,
        )
        try:
            async with self._database.transaction() as session:
                if await session.scalar(select(UserRow.id).where(UserRow.username == user.username)) is not None:
                    raise Conflict("this username is taken")
                session.add(row)
        except IntegrityError as error:
            raise _taken(error) from error
        return user_from_row(row)

    async def get_user(self, user_id: int) -> User | None:
        """The user with ``user_id``, or None."""
        async with self._database.transaction() as session:
            row = await session.get(UserRow, user_id)
            return None if row is None else user_from_row(row)

    async def find_user(self, username: str) -> tuple[User, str | None] | None:
        """The user with the (normalised) ``username`` and their password hash, or None."""
        async with self._database.transaction() as session:
            row = await session.scalar(select(UserRow).where(UserRow.username == username))
            return None if row is None else (user_from_row(row), row.password_hash)

    async def password_hash(self, user_id: int) -> str | None:
        """The stored password hash of ``user_id`` (None: no password set, or no such user)."""
        async with self._database.transaction() as session:
            return await session.scalar(select(UserRow.password_hash).where(UserRow.id == user_id))

    async def find_by_discord(self, discord_id: str) -> User | None:
        """The user linked to Discord account ``discord_id``, or None."""
        async with self._database.transaction() as session:
            row = await session.scalar(select(UserRow).where(UserRow.discord_id == discord_id))
            return None if row is None else user_from_row(row)

    async def list_users(self) -> list[User]:
        """Every user, by username."""
        async with self._database.transaction() as session:
            rows = await session.scalars(select(UserRow).order_by(UserRow.username))
            return [user_from_row(row) for row in rows]

    async def update_user(self, user_id: int, *, now: datetime, **changes: Any) -> User:
        """Set ``changes`` (columns in :data:`USER_COLUMNS`; ``role`` as a Role) on ``user_id``.

        Raises NotFound for an unknown user, Conflict when the Discord id is linked to someone else, ValueError for
        a column that may not be set.
        """
        unknown = set(changes) - USER_COLUMNS
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        values = {key: (value.value if isinstance(value, Role) else value) for key, value in changes.items()}
        try:
            async with self._database.transaction() as session:
                row = await session.get(UserRow, user_id, with_for_update=True)
                if row is None:
                    raise NotFound(f"no user with id {user_id}")
                for key, value in values.items():
                    setattr(row, key, value)
                row.updated_at = now
        except IntegrityError as error:
            raise _taken(error) from error
        return user_from_row(row)

    async def record_sign_in(self, user_id: int, *, now: datetime) -> None:
        """Set the user's last sign-in time."""
        async with self._database.transaction() as session:
            await session.execute(update(UserRow).where(UserRow.id == user_id).values(last_sign_in_at=now))

    # --- sessions ---------------------------------------------------------------------------------------------

    async def add_session(self, record: SessionRecord) -> None:
        """Store a new session."""
        async with self._database.transaction() as session:
            session.add(
                UserSessionRow(
                    key=record.key,
                    user_id=record.user_id,
                    created_at=record.created_at,
                    last_seen_at=record.last_seen_at,
                    client=record.client,
                )
            )

    async def find_session(self, key: str) -> tuple[SessionRecord, User] | None:
        """The session stored under ``key`` and its user, in one query, or None."""
        async with self._database.transaction() as session:
            row = (
                await session.execute(
                    select(UserSessionRow, UserRow)
                    .join(UserRow, UserRow.id == UserSessionRow.user_id)
                    .where(UserSessionRow.key == key)
                )
            ).first()
            return None if row is None else (_session_from_row(row[0]), user_from_row(row[1]))

    async def touch_session(self, key: str, *, now: datetime) -> None:
        """Record a use of the session (its idle expiry moves on)."""
        async with self._database.transaction() as session:
            await session.execute(update(UserSessionRow).where(UserSessionRow.key == key).values(last_seen_at=now))

    async def delete_session(self, key: str) -> None:
        """End one session."""
        async with self._database.transaction() as session:
            await session.execute(delete(UserSessionRow).where(UserSessionRow.key == key))

    async def delete_sessions(self, user_id: int, *, keep: str | None = None) -> int:
        """End every session of ``user_id`` but ``keep``; returns how many ended."""
        async with self._database.transaction() as session:
            statement = delete(UserSessionRow).where(UserSessionRow.user_id == user_id)
            if keep is not None:
                statement = statement.where(UserSessionRow.key != keep)
            result = await session.execute(statement)
            return int(getattr(result, "rowcount", 0) or 0)

    async def delete_sessions_before(self, *, last_seen_before: datetime, created_before: datetime) -> int:
        """Forget expired sessions (idle since ``last_seen_before`` or created before ``created_before``)."""
        async with self._database.transaction() as session:
            result = await session.execute(
                delete(UserSessionRow).where(
                    (UserSessionRow.last_seen_at < last_seen_before) | (UserSessionRow.created_at < created_before)
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    # --- personal API tokens ----------------------------------------------------------------------------------

    async def add_token(
        self, *, user_id: int, name: str, prefix: str, token_hash: str, now: datetime, expires_at: datetime | None
    ) -> ApiToken:
        """Store a new token's digest; returns the token as listed."""
        row = ApiTokenRow(
            user_id=user_id,
            name=name,
            prefix=prefix,
            token_hash=token_hash,
            created_at=now,
            expires_at=expires_at,
            last_used_at=None,
            revoked_at=None,
        )
        async with self._database.transaction() as session:
            session.add(row)
        return _token_from_row(row)

    async def find_token(self, token_hash: str) -> tuple[ApiToken, User] | None:
        """The token whose digest is ``token_hash`` and its owner, or None."""
        async with self._database.transaction() as session:
            row = (
                await session.execute(
                    select(ApiTokenRow, UserRow)
                    .join(UserRow, UserRow.id == ApiTokenRow.user_id)
                    .where(ApiTokenRow.token_hash == token_hash)
                )
            ).first()
            return None if row is None else (_token_from_row(row[0]), user_from_row(row[1]))

    async def touch_token(self, token_id: int, *, now: datetime) -> None:
        """Record a use of the token."""
        async with self._database.transaction() as session:
            await session.execute(update(ApiTokenRow).where(ApiTokenRow.id == token_id).values(last_used_at=now))

    async def list_tokens(self, user_id: int) -> list[ApiToken]:
        """The tokens of ``user_id``, newest first (revoked ones too)."""
        async with self._database.transaction() as session:
            rows = await session.scalars(
                select(ApiTokenRow).where(ApiTokenRow.user_id == user_id).order_by(ApiTokenRow.id.desc())
            )
            return [_token_from_row(row) for row in rows]

    async def revoke_token(self, token_id: int, *, user_id: int | None, now: datetime) -> ApiToken:
        """Revoke a token (of ``user_id`` when given); raises NotFound. Revoking twice keeps the first time."""
        async with self._database.transaction() as session:
            row = await session.get(ApiTokenRow, token_id, with_for_update=True)
            if row is None or (user_id is not None and row.user_id != user_id):
                raise NotFound(f"no token with id {token_id}")
            if row.revoked_at is None:
                row.revoked_at = now
            return _token_from_row(row)

    # --- sign-in failures -------------------------------------------------------------------------------------

    async def failures(self, keys: Sequence[str]) -> list[FailureCount]:
        """The failure counts stored under ``keys`` (missing keys are left out)."""
        async with self._database.transaction() as session:
            rows = await session.scalars(select(SignInFailureRow).where(SignInFailureRow.key.in_(list(keys))))
            return [FailureCount(row.key, row.failures, row.last_at.astimezone(UTC)) for row in rows]

    async def set_failures(self, counts: Sequence[FailureCount]) -> None:
        """Store ``counts`` (insert or replace each key)."""
        async with self._database.transaction() as session:
            for count in counts:
                row = await session.get(SignInFailureRow, count.key, with_for_update=True)
                if row is None:
                    session.add(SignInFailureRow(key=count.key, failures=count.failures, last_at=count.last_at))
                else:
                    row.failures, row.last_at = count.failures, count.last_at

    async def clear_failures(self, key: str) -> None:
        """Forget the failures under ``key``."""
        async with self._database.transaction() as session:
            await session.execute(delete(SignInFailureRow).where(SignInFailureRow.key == key))

    # --- one-time codes ---------------------------------------------------------------------------------------

    async def add_code(self, *, code_hash: str, purpose: str, user_id: int | None, expires_at: datetime) -> None:
        """Store a one-time code's digest; a user's older code of the same purpose is replaced."""
        async with self._database.transaction() as session:
            if user_id is not None:
                await session.execute(
                    delete(OneTimeCodeRow).where(OneTimeCodeRow.user_id == user_id, OneTimeCodeRow.purpose == purpose)
                )
            session.add(OneTimeCodeRow(code_hash=code_hash, purpose=purpose, user_id=user_id, expires_at=expires_at))

    async def take_code(self, *, code_hash: str, purpose: str, now: datetime) -> tuple[bool, int | None]:
        """Use up a one-time code: ``(True, user_id)`` when it existed for ``purpose`` and had not expired; it is
        deleted either way, so it works once."""
        async with self._database.transaction() as session:
            row = await session.get(OneTimeCodeRow, code_hash, with_for_update=True)
            if row is None or row.purpose != purpose:
                return False, None
            await session.delete(row)
            return row.expires_at.astimezone(UTC) > now, row.user_id

    async def code_exists(self, *, code_hash: str, purpose: str, now: datetime) -> bool:
        """True when an unexpired code of ``purpose`` with this digest is stored (it is not used up)."""
        async with self._database.transaction() as session:
            row = await session.get(OneTimeCodeRow, code_hash)
            return row is not None and row.purpose == purpose and row.expires_at.astimezone(UTC) > now
