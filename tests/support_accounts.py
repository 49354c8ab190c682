"""Accounts helpers for tests: a cheap argon2id hasher (same algorithm, test-sized cost)."""

from __future__ import annotations

from printfleet.domain.accounts.roles import Role
from printfleet.domain.accounts.users import User
from printfleet.security.passwords import Argon2PasswordHasher
from printfleet.services.accounts import AccountService
from printfleet.services.errors import NotFound

TEST_PASSWORD = "test password 123"
"""The password of the accounts tests create."""


def fast_hasher() -> Argon2PasswordHasher:
    """argon2id with 1 pass over 1 MiB: the real code path at a fraction of the production cost."""
    return Argon2PasswordHasher(time_cost=1, memory_cost=1024)


async def create_account(
    accounts: AccountService, *, username: str = "admin", role: Role = Role.ADMIN, password: str = TEST_PASSWORD
) -> User:
    """A user with ``role`` (the password defaults to :data:`TEST_PASSWORD`)."""
    return await accounts.create_user(username=username, password=password, role=role)


async def bearer_headers(
    accounts: AccountService, *, username: str = "admin", role: Role = Role.ADMIN
) -> dict[str, str]:
    """``Authorization`` headers of a new user ``username`` with ``role`` (created once; reused when it exists)."""
    try:
        user = await accounts.find_user(username)
    except NotFound:
        user = await create_account(accounts, username=username, role=role)
    token, _ = await accounts.create_token(user.id, name="tests", actor=None)
    return {"Authorization": f"Bearer {token}"}


async def session_cookie(accounts: AccountService, *, username: str = "admin", role: Role = Role.ADMIN) -> str:
    """A signed-in session id (the cookie value) of ``username``, created with ``role`` when missing."""
    try:
        await accounts.find_user(username)
    except NotFound:
        await create_account(accounts, username=username, role=role)
    return (await accounts.sign_in(username, TEST_PASSWORD, client=None)).session_id
