"""The accounts service: who is asking, and may they.

Sign-in checks the password (argon2id, off the event loop), throttles repeated failures per username and per client
address (stored, so every process counts the same), and opens a server-side session; the cookie carries only the
session's random id, the store only its digest. Personal API tokens (``pf_…``) act as their owner with the owner's
role. Changing a password or disabling a user ends their other sessions.

Every change of a user, role, password or token, and every sign-in (failed or not), is written to the audit log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from printfleet.domain.accounts import credentials
from printfleet.domain.accounts.audit import AuditAction, AuditEvent, AuditFilter, AuditRecord
from printfleet.domain.accounts.roles import Permission, Role
from printfleet.domain.accounts.sessions import (
    ABSOLUTE,
    IDLE,
    ApiToken,
    SessionRecord,
    needs_touch,
    session_expires_at,
    session_is_live,
)
from printfleet.domain.accounts.throttle import FailureCount, next_failures, retry_after
from printfleet.domain.accounts.users import (
    AccountInputError,
    AuthMethod,
    NewUser,
    Principal,
    User,
    check_display_name,
    check_email,
    check_password,
    normalise_username,
)
from printfleet.services.accounts.ports import AccountRepository, AuditRepository, PasswordHasher
from printfleet.services.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
)

log = structlog.get_logger("printfleet.accounts")

SIGN_IN_REFUSED = "wrong username or password"
"""The one answer for an unknown user and a wrong password, so a stranger cannot tell which usernames exist."""

SETUP = "setup"
LINK = "link"
SETUP_VALID = timedelta(hours=1)
LINK_VALID = timedelta(minutes=10)
TOKEN_NAME_MAX = 100


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountSettings:
    """Session lifetimes and Discord auto-provisioning (from ``auth.*`` and ``discord.auto_provision``)."""

    session_idle: timedelta = IDLE
    session_absolute: timedelta = ABSOLUTE
    discord_auto_provision: bool = True
    principal_cache_s: float = 2.0
    """How long (seconds) a looked-up session or token is trusted without asking the store again. A change made in
    this process (sign-out, disable, role, password, revocation) takes effect at once; one made by another process
    sharing the database within this time. Measured: the lookup costs about 2 ms per request on SQLite, the cache
    hit microseconds (``make bench accounts``)."""


CACHE_LIMIT = 10_000
"""Cached principals kept at most (a farm has far fewer signed-in browsers and tokens)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedIn:
    """A successful sign-in: who, and the session id to put in the cookie (shown once, never stored)."""

    principal: Principal
    session_id: str


def _input(error: AccountInputError) -> InvalidInput:
    return InvalidInput(f"{error.field}: {error.message}")


class AccountService:
    """Users, roles, sign-in, sessions, tokens, one-time codes and the audit log over the store's repositories."""

    def __init__(
        self,
        *,
        repository: AccountRepository,
        audit: AuditRepository,
        hasher: PasswordHasher,
        settings: AccountSettings | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._repository = repository
        self._audit = audit
        self._hasher = hasher
        self._settings = settings or AccountSettings()
        self._clock = clock
        self._dummy_hash: str | None = None
        self._cache: dict[str, tuple[Principal, float, datetime | None]] = {}

    @property
    def settings(self) -> AccountSettings:
        """Session lifetimes and provisioning settings."""
        return self._settings

    # --- audit -------------------------------------------------------------------------------------------------

    async def record(self, event: AuditEvent) -> None:
        """Append ``event`` to the audit log. A store failure here is logged, never raised into the action."""
        try:
            await self._audit.add(event, at=self._clock())
        except Exception:  # the action itself succeeded; losing its audit line must not undo or fail it
            log.exception("audit.write_failed", action=event.action.value)

    async def audit(self, principal: Principal | None, action: AuditAction, **fields: object) -> None:
        """Record ``action`` by ``principal`` (None: nobody signed in); ``fields`` are AuditEvent's target, detail,
        client."""
        await self.record(
            AuditEvent(
                action=action,
                actor_id=None if principal is None else principal.user.id,
                actor_name="-" if principal is None else principal.user.username,
                **fields,  # type: ignore[arg-type]
            )
        )

    async def list_audit(self, query: AuditFilter, *, limit: int, offset: int) -> tuple[list[AuditRecord], int]:
        """A page of the audit log, newest first, and the number of matching records."""
        return await self._audit.list(query, limit=limit, offset=offset)

    # --- users -------------------------------------------------------------------------------------------------

    async def has_users(self) -> bool:
        """True once any account exists."""
        return await self._repository.count_users() > 0

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _verify(self, password: str, hashed: str | None) -> bool:
        if hashed is None:
            # Spend the same time as a real check, so the answer's delay does not reveal that the user is unknown.
            if self._dummy_hash is None:
                self._dummy_hash = await self._hash(credentials.new_password())
            await asyncio.to_thread(self._hasher.verify, password, self._dummy_hash)
            return False
        return await asyncio.to_thread(self._hasher.verify, password, hashed)

    async def create_user(
        self,
        *,
        username: str,
        password: str | None,
        role: Role,
        display_name: str | None = None,
        email: str | None = None,
        discord_id: str | None = None,
        actor: Principal | None = None,
        client: str | None = None,
    ) -> User:
        """Create an account. Raises InvalidInput (bad username, weak password: the reason, never the value),
        Conflict (username or Discord id taken)."""
        try:
            name = normalise_username(username)
            shown = check_display_name(display_name if display_name is not None else username)
            mail = check_email(email)
            if password is not None:
                check_password(password, username=name)
        except AccountInputError as error:
            raise _input(error) from None
        hashed = None if password is None else await self._hash(password)
        user = await self._repository.create_user(
            NewUser(
                username=name, display_name=shown, email=mail, role=role, password_hash=hashed, discord_id=discord_id
            ),
            now=self._clock(),
        )
        await self.audit(
            actor, AuditAction.USER_CREATED, target=f"user:{user.username}", detail={"role": role.value}, client=client
        )
        log.info("account.created", username=user.username, role=role.value)
        return user

    async def list_users(self) -> list[User]:
        """Every account, by username."""
        return await self._repository.list_users()

    async def get_user(self, user_id: int) -> User:
        """The account ``user_id``; raises NotFound."""
        user = await self._repository.get_user(user_id)
        if user is None:
            raise NotFound(f"no user with id {user_id}")
        return user

    async def find_user(self, username: str) -> User:
        """The account named ``username`` (any case); raises NotFound."""
        try:
            found = await self._repository.find_user(normalise_username(username))
        except AccountInputError:
            found = None
        if found is None:
            raise NotFound(f"no user named {username.strip()[:64]!r}")
        return found[0]

    async def set_role(self, user_id: int, role: Role, *, actor: Principal | None, client: str | None = None) -> User:
        """Give ``user_id`` another role. The last enabled admin cannot lose the role (Conflict)."""
        user = await self.get_user(user_id)
        if user.role is Role.ADMIN and role is not Role.ADMIN:
            await self._keep_an_admin(user)
        updated = await self._repository.update_user(user_id, now=self._clock(), role=role)
        self._forget(user_id=user_id)
        await self.audit(
            actor,
            AuditAction.ROLE_CHANGED,
            target=f"user:{user.username}",
            detail={"from": user.role.value, "to": role.value},
            client=client,
        )
        return updated

    async def _keep_an_admin(self, leaving: User) -> None:
        admins = [u for u in await self._repository.list_users() if u.role is Role.ADMIN and not u.disabled]
        if [u.id for u in admins] == [leaving.id]:
            raise Conflict("this is the last enabled admin; make someone else admin first")

    async def set_disabled(
        self, user_id: int, disabled: bool, *, actor: Principal | None, client: str | None = None
    ) -> User:
        """Disable (ending every session of) or enable an account. The last enabled admin cannot be disabled."""
        user = await self.get_user(user_id)
        if disabled and user.role is Role.ADMIN and not user.disabled:
            await self._keep_an_admin(user)
        updated = await self._repository.update_user(user_id, now=self._clock(), disabled=disabled)
        self._forget(user_id=user_id)
        if disabled:
            await self._repository.delete_sessions(user_id)
        action = AuditAction.USER_DISABLED if disabled else AuditAction.USER_ENABLED
        await self.audit(actor, action, target=f"user:{user.username}", client=client)
        return updated

    async def update_profile(
        self,
        user_id: int,
        *,
        display_name: str | None = None,
        email: str | None = None,
        actor: Principal | None,
        client: str | None = None,
    ) -> User:
        """Change a display name and/or email (``email=""`` clears it). Raises InvalidInput, NotFound."""
        changes: dict[str, object] = {}
        try:
            if display_name is not None:
                changes["display_name"] = check_display_name(display_name)
            if email is not None:
                changes["email"] = check_email(email)
        except AccountInputError as error:
            raise _input(error) from None
        user = await self.get_user(user_id)
        if not changes:
            return user
        updated = await self._repository.update_user(user_id, now=self._clock(), **changes)
        self._forget(user_id=user_id)
        await self.audit(
            actor,
            AuditAction.USER_UPDATED,
            target=f"user:{user.username}",
            detail={"fields": sorted(changes)},
            client=client,
        )
        return updated

    async def change_password(self, principal: Principal, *, current: str, new: str, client: str | None = None) -> None:
        """A person changes their own password: the current one must be right (AuthenticationFailed otherwise);
        every other session of theirs ends."""
        user = principal.user
        if not await self._verify(current, await self._repository.password_hash(user.id)):
            raise AuthenticationFailed("the current password is wrong")
        await self._set_password(user, new)
        await self._repository.delete_sessions(user.id, keep=principal.session_key)
        self._forget(user_id=user.id)
        await self.audit(principal, AuditAction.PASSWORD_CHANGED, target=f"user:{user.username}", client=client)

    async def reset_password(
        self, user_id: int, new: str, *, actor: Principal | None, client: str | None = None
    ) -> None:
        """An admin (or the CLI) sets someone's password; every session of theirs ends."""
        user = await self.get_user(user_id)
        await self._set_password(user, new)
        await self._repository.delete_sessions(user.id)
        self._forget(user_id=user.id)
        await self.audit(actor, AuditAction.PASSWORD_RESET, target=f"user:{user.username}", client=client)

    async def _set_password(self, user: User, password: str) -> None:
        try:
            check_password(password, username=user.username)
        except AccountInputError as error:
            raise _input(error) from None
        await self._repository.update_user(user.id, now=self._clock(), password_hash=await self._hash(password))

    # --- sign-in and sessions -----------------------------------------------------------------------------------

    async def sign_in(self, username: str, password: str, *, client: str | None) -> SignedIn:
        """Check a username and password and open a session.

        Raises RateLimited (``retry_after`` seconds) after repeated failures for this username or this client
        address, AuthenticationFailed with :data:`SIGN_IN_REFUSED` for an unknown user or a wrong password, and
        AuthenticationFailed "this account is disabled" for a disabled account whose password was right.
        """
        now = self._clock()
        try:
            name = normalise_username(username)
        except AccountInputError:
            name = username.strip().lower()[:64]
        keys = [f"user:{name}"] + ([f"addr:{client}"] if client else [])
        counts = {count.key: count for count in await self._repository.failures(keys)}
        wait = max((retry_after(counts.get(key), now) for key in keys), default=0.0)
        if wait > 0:
            raise RateLimited(wait)
        found = await self._repository.find_user(name)
        user, hashed = found if found is not None else (None, None)
        if user is None or not await self._verify(password, hashed):
            await self._repository.set_failures(
                [FailureCount(key, next_failures(counts.get(key), now), now) for key in keys]
            )
            await self.record(
                AuditEvent(
                    action=AuditAction.SIGN_IN_FAILED,
                    actor_id=None if user is None else user.id,
                    actor_name=name or "-",
                    client=client,
                )
            )
            raise AuthenticationFailed(SIGN_IN_REFUSED)
        if user.disabled:
            raise AuthenticationFailed("this account is disabled")
        await self._repository.clear_failures(f"user:{name}")
        session_id = credentials.new_session_id()
        key = credentials.digest(session_id)
        await self._repository.add_session(
            SessionRecord(key=key, user_id=user.id, created_at=now, last_seen_at=now, client=client)
        )
        await self._repository.record_sign_in(user.id, now=now)
        principal = Principal(user=user, method=AuthMethod.SESSION, session_key=key)
        await self.audit(principal, AuditAction.SIGN_IN, target=f"user:{user.username}", client=client)
        return SignedIn(principal=principal, session_id=session_id)

    def _cached(self, key: str) -> Principal | None:
        hit = self._cache.get(key)
        if hit is None:
            return None
        principal, until, expires_at = hit
        if time.monotonic() >= until or (expires_at is not None and self._clock() >= expires_at):
            del self._cache[key]
            return None
        return principal

    def _remember(self, key: str, principal: Principal, expires_at: datetime | None) -> None:
        if self._settings.principal_cache_s <= 0:
            return
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = (principal, time.monotonic() + self._settings.principal_cache_s, expires_at)

    def _forget(self, *, user_id: int | None = None, token_id: int | None = None) -> None:
        """Drop cached principals of ``user_id`` (or of token ``token_id``), so a change takes effect at once."""
        for key, (principal, _, _) in list(self._cache.items()):
            if principal.user.id == user_id or (token_id is not None and principal.token_id == token_id):
                del self._cache[key]

    async def session_principal(self, session_id: str) -> Principal | None:
        """Who the cookie's ``session_id`` belongs to, or None when it is unknown, expired, or its user disabled.
        A use moves the idle expiry on (stored at most once a minute). A found session is trusted for
        ``principal_cache_s`` without another store lookup."""
        if not session_id or len(session_id) > 128:
            return None
        key = credentials.digest(session_id)
        cached = self._cached("s:" + key)
        if cached is not None:
            return cached
        found = await self._repository.find_session(key)
        if found is None:
            return None
        record, user = found
        now = self._clock()
        live = session_is_live(record, now, idle=self._settings.session_idle, absolute=self._settings.session_absolute)
        if not live or user.disabled:
            await self._repository.delete_session(key)
            return None
        if needs_touch(record, now):
            await self._repository.touch_session(key, now=now)
        principal = Principal(user=user, method=AuthMethod.SESSION, session_key=key)
        expires = session_expires_at(record, idle=self._settings.session_idle, absolute=self._settings.session_absolute)
        self._remember("s:" + key, principal, expires)
        return principal

    async def purge_sessions(self) -> int:
        """Forget the sessions that have expired (called at start-up); returns how many."""
        now = self._clock()
        return await self._repository.delete_sessions_before(
            last_seen_before=now - self._settings.session_idle, created_before=now - self._settings.session_absolute
        )

    async def sign_out(self, principal: Principal, *, everywhere: bool = False, client: str | None = None) -> None:
        """End the principal's session (``everywhere``: every session of the user)."""
        if everywhere:
            await self._repository.delete_sessions(principal.user.id)
            self._forget(user_id=principal.user.id)
        elif principal.session_key is not None:
            await self._repository.delete_session(principal.session_key)
            self._cache.pop("s:" + principal.session_key, None)
        await self.audit(
            principal,
            AuditAction.SIGN_OUT,
            target=f"user:{principal.user.username}",
            detail={"everywhere": everywhere},
            client=client,
        )

    # --- personal API tokens -------------------------------------------------------------------------------------

    async def create_token(
        self,
        user_id: int,
        *,
        name: str,
        expires_at: datetime | None = None,
        actor: Principal | None,
        client: str | None = None,
    ) -> tuple[str, ApiToken]:
        """A new personal API token for ``user_id``: ``(token, record)``. The token is returned this once only.
        Raises InvalidInput for an empty or over-long name or an expiry in the past."""
        clean = name.strip()
        if not clean or len(clean) > TOKEN_NAME_MAX:
            raise InvalidInput(f"name: a token name is 1 to {TOKEN_NAME_MAX} characters")
        now = self._clock()
        if expires_at is not None and (expires_at.tzinfo is None or expires_at <= now):
            raise InvalidInput("expires_at: must be a time in the future, with its UTC offset")
        user = await self.get_user(user_id)
        token, prefix = credentials.new_api_token()
        record = await self._repository.add_token(
            user_id=user.id,
            name=clean,
            prefix=prefix,
            token_hash=credentials.digest(token),
            now=now,
            expires_at=expires_at,
        )
        await self.audit(
            actor,
            AuditAction.TOKEN_CREATED,
            target=f"user:{user.username}",
            detail={"token_id": record.id, "name": clean, "prefix": prefix},
            client=client,
        )
        return token, record

    async def token_principal(self, token: str) -> Principal | None:
        """Who a ``Bearer pf_…`` token belongs to, or None when unknown, revoked, expired or its user disabled."""
        if not credentials.looks_like_api_token(token):
            return None
        digest = credentials.digest(token)
        cached = self._cached("t:" + digest)
        if cached is not None:
            return cached
        found = await self._repository.find_token(digest)
        if found is None:
            return None
        record, user = found
        now = self._clock()
        if not record.is_usable(now) or user.disabled:
            return None
        if record.last_used_at is None or now - record.last_used_at >= timedelta(minutes=1):
            await self._repository.touch_token(record.id, now=now)
        principal = Principal(user=user, method=AuthMethod.TOKEN, token_id=record.id)
        self._remember("t:" + digest, principal, record.expires_at)
        return principal

    async def list_tokens(self, user_id: int) -> list[ApiToken]:
        """The tokens of ``user_id`` (never the tokens themselves), newest first."""
        return await self._repository.list_tokens(user_id)

    async def revoke_token(
        self, token_id: int, *, owner_id: int | None, actor: Principal | None, client: str | None = None
    ) -> ApiToken:
        """Revoke a token; ``owner_id`` limits it to that user's tokens (NotFound otherwise)."""
        record = await self._repository.revoke_token(token_id, user_id=owner_id, now=self._clock())
        self._forget(token_id=record.id)
        await self.audit(
            actor,
            AuditAction.TOKEN_REVOKED,
            target=f"token:{record.id}",
            detail={"prefix": record.prefix},
            client=client,
        )
        return record

    # --- first run ------------------------------------------------------------------------------------------------

    async def issue_setup_token(self) -> str | None:
        """A one-time token (valid 1 hour) for the first-run set-up page, or None once any user exists."""
        if await self.has_users():
            return None
        token = credentials.new_setup_token()
        await self._repository.add_code(
            code_hash=credentials.digest(token), purpose=SETUP, user_id=None, expires_at=self._clock() + SETUP_VALID
        )
        return token

    async def setup_token_valid(self, token: str) -> bool:
        """True while ``token`` may still create the first admin."""
        if not token or len(token) > 128 or await self.has_users():
            return False
        return await self._repository.code_exists(code_hash=credentials.digest(token), purpose=SETUP, now=self._clock())

    async def complete_setup(
        self, token: str, *, username: str, password: str, display_name: str | None, client: str | None
    ) -> User:
        """Create the first admin with the set-up ``token`` (used up). Raises PermissionDenied for a wrong, used or
        expired token or when a user exists already, InvalidInput for a weak password."""
        if not await self.setup_token_valid(token):
            raise PermissionDenied("this set-up link is not valid (used, expired, or an account exists already)")
        try:
            check_password(password, username=username)
        except AccountInputError as error:
            raise _input(error) from None
        valid, _ = await self._repository.take_code(
            code_hash=credentials.digest(token), purpose=SETUP, now=self._clock()
        )
        if not valid or await self.has_users():
            raise PermissionDenied("this set-up link is not valid (used, expired, or an account exists already)")
        return await self.create_user(
            username=username, password=password, role=Role.ADMIN, display_name=display_name, client=client
        )

    # --- Discord ----------------------------------------------------------------------------------------------------

    async def discord_user(self, discord_id: str, display_name: str) -> User | None:
        """The account behind a Discord member: the linked one, or (with ``discord.auto_provision``) a new
        ``member`` account named after them. None when there is none and auto-provisioning is off."""
        user = await self._repository.find_by_discord(discord_id)
        if user is not None or not self._settings.discord_auto_provision:
            return user
        base = "discord-" + discord_id
        try:
            return await self.create_user(
                username=base,
                password=None,
                role=Role.MEMBER,
                display_name=(display_name.strip() or base)[:100],
                discord_id=discord_id,
            )
        except Conflict:
            # Another process provisioned the same member a moment ago.
            return await self._repository.find_by_discord(discord_id)

    async def issue_link_code(self, principal: Principal) -> str:
        """A one-time code (valid 10 minutes) the person types as ``/link CODE`` in Discord."""
        code = credentials.new_link_code()
        await self._repository.add_code(
            code_hash=credentials.digest(code),
            purpose=LINK,
            user_id=principal.user.id,
            expires_at=self._clock() + LINK_VALID,
        )
        return code

    async def link_discord(self, code: str, *, discord_id: str) -> User:
        """Link the Discord account ``discord_id`` to the user who was shown ``code``.

        An account that was provisioned for this Discord member and never used otherwise is disabled and its
        Discord id moves to the linked user. Raises PermissionDenied for a wrong or expired code.
        """
        valid, user_id = await self._repository.take_code(
            code_hash=credentials.digest(code.strip().upper()), purpose=LINK, now=self._clock()
        )
        if not valid or user_id is None:
            raise PermissionDenied("this link code is not valid (wrong, used, or older than 10 minutes)")
        target = await self.get_user(user_id)
        previous = await self._repository.find_by_discord(discord_id)
        if previous is not None and previous.id != target.id:
            if previous.has_password:
                raise Conflict("this Discord account is linked to another user already")
            await self._repository.update_user(previous.id, now=self._clock(), discord_id=None, disabled=True)
        linked = await self._repository.update_user(target.id, now=self._clock(), discord_id=discord_id)
        self._forget(user_id=target.id)
        await self.audit(
            Principal(user=linked, method=AuthMethod.DISCORD),
            AuditAction.DISCORD_LINKED,
            target=f"user:{linked.username}",
        )
        return linked

    # --- checks ------------------------------------------------------------------------------------------------------

    @staticmethod
    def require(principal: Principal, permission: Permission) -> None:
        """Raise PermissionDenied naming ``permission`` when ``principal`` may not do it."""
        if not principal.may(permission):
            raise PermissionDenied(
                f"your role ({principal.user.role.value}) may not do this: {permission.value}",
                permission=permission.value,
            )
