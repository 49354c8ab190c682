"""AccountService on a real migrated database (SQLite and PostgreSQL): sign-in, sessions and their expiry,
sign-out everywhere, throttling, tokens and revocation, role and disable rules, first-run set-up, Discord linking,
and the audit log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from printfleet.domain.accounts.audit import AuditAction, AuditFilter
from printfleet.domain.accounts.roles import Permission, Role
from printfleet.services.accounts import AccountService, AccountSettings
from printfleet.services.errors import AuthenticationFailed, Conflict, InvalidInput, PermissionDenied, RateLimited
from printfleet.store.accounts.audit import SqlAuditRepository
from printfleet.store.accounts.repository import SqlAccountRepository
from printfleet.store.database import Database
from tests.support_accounts import fast_hasher

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
PASSWORD = "long enough secret 1"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def accounts(database: Database, clock: Clock) -> AsyncIterator[AccountService]:
    return AccountService(
        repository=SqlAccountRepository(database),
        audit=SqlAuditRepository(database),
        hasher=fast_hasher(),
        settings=AccountSettings(session_idle=timedelta(days=14), session_absolute=timedelta(days=30)),
        clock=clock,
    )


async def test_sign_in_opens_a_session_the_cookie_id_resolves(accounts: AccountService) -> None:
    created = await accounts.create_user(username="Alice", password=PASSWORD, role=Role.OPERATOR)
    signed = await accounts.sign_in("ALICE", PASSWORD, client="10.0.0.5")
    principal = await accounts.session_principal(signed.session_id)
    assert principal is not None
    assert principal.user.id == created.id
    assert principal.user.username == "alice"
    assert principal.may(Permission.PRINTERS_CONTROL)
    assert not principal.may(Permission.USERS_MANAGE)
    assert await accounts.session_principal("not-a-session") is None


async def test_unknown_user_and_wrong_password_get_the_same_answer(accounts: AccountService) -> None:
    await accounts.create_user(username="alice", password=PASSWORD, role=Role.MEMBER)
    with pytest.raises(AuthenticationFailed) as unknown:
        await accounts.sign_in("mallory", PASSWORD, client=None)
    with pytest.raises(AuthenticationFailed) as wrong:
        await accounts.sign_in("alice", "wrong password!", client=None)
    assert unknown.value.message == wrong.value.message


async def test_disabled_user_cannot_sign_in_and_loses_sessions(accounts: AccountService) -> None:
    admin = await accounts.create_user(username="root", password=PASSWORD, role=Role.ADMIN)
    user = await accounts.create_user(username="bob", password=PASSWORD, role=Role.MEMBER)
    signed = await accounts.sign_in("bob", PASSWORD, client=None)
    await accounts.set_disabled(user.id, True, actor=None)
    assert await accounts.session_principal(signed.session_id) is None
    with pytest.raises(AuthenticationFailed, match="disabled"):
        await accounts.sign_in("bob", PASSWORD, client=None)
    assert admin.role is Role.ADMIN


async def test_session_slides_with_use_but_ends_after_the_absolute_limit(
    accounts: AccountService, clock: Clock
) -> None:
    await accounts.create_user(username="alice", password=PASSWORD, role=Role.MEMBER)
    session_id = (await accounts.sign_in("alice", PASSWORD, client=None)).session_id
    for _ in range(2):  # used every 13 days: the idle limit (14 days) never runs out
        clock.advance(days=13)
        assert await accounts.session_principal(session_id) is not None
    clock.advance(days=5)  # 31 days after sign-in: past the absolute limit
    assert await accounts.session_principal(session_id) is None


async def test_idle_session_expires(accounts: AccountService, clock: Clock) -> None:
    await accounts.create_user(username="alice", password=PASSWORD, role=Role.MEMBER)
    session_id = (await accounts.sign_in("alice", PASSWORD, client=None)).session_id
    clock.advance(days=14, seconds=1)
    assert await accounts.session_principal(session_id) is None


async def test_password_change_ends_other_sessions_and_sign_out_everywhere_ends_all(
    accounts: AccountService,
) -> None:
    await accounts.create_user(username="alice", password=PASSWORD, role=Role.MEMBER)
    phone = await accounts.sign_in("alice", PASSWORD, client=None)
    laptop = await accounts.sign_in("alice", PASSWORD, client=None)
    with pytest.raises(AuthenticationFailed):
        await accounts.change_password(phone.principal, current="not the password", new="another long secret")
    await accounts.change_password(phone.principal, current=PASSWORD, new="another long secret")
    assert await accounts.session_principal(phone.session_id) is not None
    assert await accounts.session_principal(laptop.session_id) is None
    again = await accounts.sign_in("alice", "another long secret", client=None)
    await accounts.sign_out(again.principal, everywhere=True)
    assert await accounts.session_principal(phone.session_id) is None
    assert await accounts.session_principal(again.session_id) is None


async def test_repeated_failures_are_throttled_per_username_and_per_address(
    accounts: AccountService, clock: Clock
) -> None:
    await accounts.create_user(username="alice", password=PASSWORD, role=Role.MEMBER)
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            await accounts.sign_in("alice", "wrong password!", client="10.0.0.9")
    with pytest.raises(RateLimited) as limited:
        await accounts.sign_in("alice", PASSWORD, client="10.0.0.7")  # the right password, from elsewhere, waits
    assert 0 < limited.value.retry_after <= 1
    with pytest.raises(RateLimited):  # the address is throttled for other usernames too
        await accounts.sign_in("someone", "whatever pass", client="10.0.0.9")
    clock.advance(seconds=1.5)
    await accounts.sign_in("alice", PASSWORD, client="10.0.0.7")
    for _ in range(5):  # a success cleared the username's count: five more mistakes are free again
        with pytest.raises(AuthenticationFailed):
            await accounts.sign_in("alice", "wrong password!", client="10.0.0.8")


async def test_weak_passwords_are_refused_with_the_reason(accounts: AccountService) -> None:
    with pytest.raises(InvalidInput, match="at least 10"):
        await accounts.create_user(username="alice", password="short", role=Role.MEMBER)
    with pytest.raises(InvalidInput, match="too common"):
        await accounts.create_user(username="alice", password="Password123", role=Role.MEMBER)
    with pytest.raises(InvalidInput, match="username"):
        await accounts.create_user(username="bad name!", password=PASSWORD, role=Role.MEMBER)


async def test_usernames_are_unique_in_any_case(accounts: AccountService) -> None:
    await accounts.create_user(username="Alice", password=PASSWORD, role=Role.MEMBER)
    with pytest.raises(Conflict):
        await accounts.create_user(username="ALICE", password=PASSWORD, role=Role.MEMBER)


async def test_token_acts_as_its_owner_until_revoked_or_expired(accounts: AccountService, clock: Clock) -> None:
    viewer = await accounts.create_user(username="wall", password=PASSWORD, role=Role.VIEWER)
    token, record = await accounts.create_token(viewer.id, name="wall screen", actor=None)
    assert token.startswith("pf_")
    assert record.prefix == token[:11]
    principal = await accounts.token_principal(token)
    assert principal is not None
    assert principal.user.id == viewer.id
    assert principal.may(Permission.PRINTERS_READ)
    assert not principal.may(Permission.PRINTERS_CONTROL)
    await accounts.revoke_token(record.id, owner_id=viewer.id, actor=None)
    assert await accounts.token_principal(token) is None

    short, _ = await accounts.create_token(viewer.id, name="short", expires_at=T0 + timedelta(hours=1), actor=None)
    assert await accounts.token_principal(short) is not None
    clock.advance(hours=1)
    assert await accounts.token_principal(short) is None


async def test_token_follows_its_owners_role_and_state(accounts: AccountService) -> None:
    await accounts.create_user(username="root", password=PASSWORD, role=Role.ADMIN)
    user = await accounts.create_user(username="op", password=PASSWORD, role=Role.OPERATOR)
    token, _ = await accounts.create_token(user.id, name="script", actor=None)
    await accounts.set_role(user.id, Role.VIEWER, actor=None)
    principal = await accounts.token_principal(token)
    assert principal is not None
    assert not principal.may(Permission.PRINTERS_CONTROL)
    await accounts.set_disabled(user.id, True, actor=None)
    assert await accounts.token_principal(token) is None


async def test_the_last_admin_cannot_be_demoted_or_disabled(accounts: AccountService) -> None:
    admin = await accounts.create_user(username="root", password=PASSWORD, role=Role.ADMIN)
    with pytest.raises(Conflict):
        await accounts.set_role(admin.id, Role.MEMBER, actor=None)
    with pytest.raises(Conflict):
        await accounts.set_disabled(admin.id, True, actor=None)
    await accounts.create_user(username="second", password=PASSWORD, role=Role.ADMIN)
    assert (await accounts.set_role(admin.id, Role.MEMBER, actor=None)).role is Role.MEMBER


async def test_setup_token_creates_the_first_admin_once(accounts: AccountService, clock: Clock) -> None:
    token = await accounts.issue_setup_token()
    assert token is not None
    assert await accounts.setup_token_valid(token)
    with pytest.raises(PermissionDenied):
        await accounts.complete_setup("wrong", username="root", password=PASSWORD, display_name=None, client=None)
    admin = await accounts.complete_setup(token, username="root", password=PASSWORD, display_name="Root", client=None)
    assert admin.role is Role.ADMIN
    with pytest.raises(PermissionDenied):
        await accounts.complete_setup(token, username="two", password=PASSWORD, display_name=None, client=None)
    assert await accounts.issue_setup_token() is None


async def test_setup_token_expires_after_an_hour(accounts: AccountService, clock: Clock) -> None:
    token = await accounts.issue_setup_token()
    assert token is not None
    clock.advance(hours=1, seconds=1)
    assert not await accounts.setup_token_valid(token)


async def test_discord_member_is_provisioned_once_and_linking_merges_into_the_web_account(
    accounts: AccountService,
) -> None:
    first = await accounts.discord_user("4242", "Maker Mo")
    assert first is not None
    assert first.role is Role.MEMBER
    assert first.display_name == "Maker Mo"
    again = await accounts.discord_user("4242", "Maker Mo")
    assert again is not None
    assert again.id == first.id

    web = await accounts.create_user(username="mo", password=PASSWORD, role=Role.OPERATOR)
    signed = await accounts.sign_in("mo", PASSWORD, client=None)
    code = await accounts.issue_link_code(signed.principal)
    linked = await accounts.link_discord(code.lower(), discord_id="4242")
    assert linked.id == web.id
    now_linked = await accounts.discord_user("4242", "Maker Mo")
    assert now_linked is not None
    assert now_linked.id == web.id
    assert now_linked.role is Role.OPERATOR
    with pytest.raises(PermissionDenied):
        await accounts.link_discord(code, discord_id="4242")  # used up


async def test_link_code_expires_after_ten_minutes(accounts: AccountService, clock: Clock) -> None:
    await accounts.create_user(username="mo", password=PASSWORD, role=Role.MEMBER)
    signed = await accounts.sign_in("mo", PASSWORD, client=None)
    code = await accounts.issue_link_code(signed.principal)
    clock.advance(minutes=10, seconds=1)
    with pytest.raises(PermissionDenied):
        await accounts.link_discord(code, discord_id="99")


async def test_without_auto_provisioning_an_unknown_discord_member_has_no_account(database: Database) -> None:
    accounts = AccountService(
        repository=SqlAccountRepository(database),
        audit=SqlAuditRepository(database),
        hasher=fast_hasher(),
        settings=AccountSettings(discord_auto_provision=False),
    )
    assert await accounts.discord_user("77", "Someone") is None


async def test_audit_log_records_sign_ins_and_changes_without_secrets(accounts: AccountService) -> None:
    user = await accounts.create_user(username="alice", password=PASSWORD, role=Role.MEMBER)
    with pytest.raises(AuthenticationFailed):
        await accounts.sign_in("alice", "wrong password!", client="10.1.1.1")
    signed = await accounts.sign_in("alice", PASSWORD, client="10.1.1.1")
    token, _ = await accounts.create_token(user.id, name="ha", actor=signed.principal)
    records, total = await accounts.list_audit(AuditFilter(), limit=50, offset=0)
    actions = [record.action for record in records]
    assert actions == [
        AuditAction.TOKEN_CREATED,
        AuditAction.SIGN_IN,
        AuditAction.SIGN_IN_FAILED,
        AuditAction.USER_CREATED,
    ]
    assert total == 4
    assert records[2].client == "10.1.1.1"
    assert records[2].actor_name == "alice"
    text = repr(records)
    assert PASSWORD not in text
    assert "wrong password!" not in text
    assert token not in text
    failed, _ = await accounts.list_audit(AuditFilter(action=AuditAction.SIGN_IN_FAILED), limit=50, offset=0)
    assert len(failed) == 1


async def test_a_sign_out_in_another_process_is_seen_within_the_cache_time(database: Database) -> None:
    def service() -> AccountService:
        return AccountService(
            repository=SqlAccountRepository(database),
            audit=SqlAuditRepository(database),
            hasher=fast_hasher(),
            settings=AccountSettings(principal_cache_s=0.2),
        )

    here, there = service(), service()
    await here.create_user(username="alice", password=PASSWORD, role=Role.MEMBER)
    signed = await here.sign_in("alice", PASSWORD, client=None)
    assert await here.session_principal(signed.session_id) is not None  # now cached here
    elsewhere = await there.session_principal(signed.session_id)
    assert elsewhere is not None
    await there.sign_out(elsewhere, everywhere=True)
    assert await there.session_principal(signed.session_id) is None  # at once where it happened
    await asyncio.sleep(0.25)
    assert await here.session_principal(signed.session_id) is None  # and here once the cache time ran out


async def test_expired_sessions_are_purged_and_live_ones_kept(accounts: AccountService, clock: Clock) -> None:
    await accounts.create_user(username="alice", password=PASSWORD, role=Role.MEMBER)
    old = await accounts.sign_in("alice", PASSWORD, client=None)
    clock.advance(days=15)
    fresh = await accounts.sign_in("alice", PASSWORD, client=None)
    assert await accounts.purge_sessions() == 1
    assert await accounts.session_principal(fresh.session_id) is not None
    assert await accounts.session_principal(old.session_id) is None
