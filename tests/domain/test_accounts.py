"""The accounts domain: the permission table, password rules, throttling delays and session expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from printfleet.domain.accounts.credentials import digest, looks_like_api_token, new_api_token
from printfleet.domain.accounts.roles import ROLE_PERMISSIONS, Permission, Role, allows, parse_role
from printfleet.domain.accounts.sessions import SessionRecord, session_expires_at
from printfleet.domain.accounts.throttle import FailureCount, retry_after
from printfleet.domain.accounts.users import AccountInputError, check_password, normalise_username

T0 = datetime(2026, 12, 3, tzinfo=UTC)


def test_admin_may_everything_and_viewer_only_reads() -> None:
    assert all(allows(Role.ADMIN, permission) for permission in Permission)
    viewer = {permission for permission in Permission if allows(Role.VIEWER, permission)}
    assert viewer == {
        Permission.PRINTERS_READ,
        Permission.JOBS_READ,
        Permission.JOBS_READ_OWN,  # implied by reading every job
        Permission.QUEUE_READ,
        Permission.SETTINGS_READ,
        Permission.FILES_READ,
        Permission.MATERIALS_READ,
        Permission.MAINTENANCE_READ,
        Permission.SCHEDULE_READ,
        Permission.PROFILE,
        Permission.NOTIFICATIONS,
        Permission.LIVE,
    }


def test_member_queues_but_does_not_control_printers_or_manage_the_queue() -> None:
    assert allows(Role.MEMBER, Permission.QUEUE_USE)
    assert allows(Role.MEMBER, Permission.JOBS_EDIT_OWN)
    assert not allows(Role.MEMBER, Permission.PRINTERS_CONTROL)
    assert not allows(Role.MEMBER, Permission.QUEUE_MANAGE)
    assert not allows(Role.MEMBER, Permission.JOBS_READ)
    assert allows(Role.MEMBER, Permission.FILES_READ)
    assert not allows(Role.MEMBER, Permission.FILES_MANAGE)
    assert allows(Role.MEMBER, Permission.MATERIALS_READ)
    assert not allows(Role.MEMBER, Permission.MATERIALS_MANAGE)
    assert allows(Role.MEMBER, Permission.MAINTENANCE_READ)
    assert not allows(Role.MEMBER, Permission.MAINTENANCE_MANAGE)
    assert allows(Role.MEMBER, Permission.NOTIFICATIONS)  # their own channels and preferences
    assert allows(Role.MEMBER, Permission.SCHEDULE_OWN)  # their own prints, when schedule.members_may_schedule
    assert not allows(Role.MEMBER, Permission.SCHEDULE_MANAGE)


def test_operator_controls_printers_and_queue_but_not_users_settings_or_printer_setup() -> None:
    for permission in (
        Permission.PRINTERS_CONTROL,
        Permission.QUEUE_MANAGE,
        Permission.JOBS_EDIT,
        Permission.FILES_MANAGE,
        Permission.MATERIALS_MANAGE,
        Permission.MAINTENANCE_MANAGE,
        Permission.SCHEDULE_MANAGE,
    ):
        assert allows(Role.OPERATOR, permission)
    for permission in (Permission.USERS_MANAGE, Permission.SETTINGS_MANAGE, Permission.PRINTERS_MANAGE):
        assert not allows(Role.OPERATOR, permission)
    assert allows(Role.OPERATOR, Permission.JOBS_EDIT_OWN)  # implied by editing every job


def test_every_role_has_an_entry_and_roles_parse_in_any_case() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    assert parse_role(" Operator ") is Role.OPERATOR
    with pytest.raises(ValueError, match="known: admin"):
        parse_role("root")


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short", "at least 10"), ("qwertyuiop", "too common"), ("x" * 1025, "at most"), ("alice12345", "username")],
)
def test_weak_passwords_are_refused_with_their_reason(password: str, reason: str) -> None:
    with pytest.raises(AccountInputError, match=reason) as error:
        check_password(password, username="alice12345")
    assert password not in error.value.message


def test_usernames_are_case_insensitive_and_restricted() -> None:
    assert normalise_username(" Alice.B ") == "alice.b"
    for bad in ("", "-lead", "has space", "x" * 65, "ümlaut"):
        with pytest.raises(AccountInputError):
            normalise_username(bad)


def test_throttle_is_free_for_five_failures_then_doubles() -> None:
    def wait(failures: int, after: float = 0.0) -> float:
        return retry_after(FailureCount("user:a", failures, T0), T0 + timedelta(seconds=after))

    assert wait(4) == 0
    assert wait(5) == 1
    assert wait(6) == 2
    assert wait(8) == 8
    assert wait(8, after=3) == 5
    assert wait(40) == 15 * 60  # capped
    assert wait(40, after=3600) == 0  # forgotten after an hour


def test_session_expiry_is_the_earlier_of_idle_and_absolute() -> None:
    fresh = SessionRecord(key="k", user_id=1, created_at=T0, last_seen_at=T0)
    assert session_expires_at(fresh) == T0 + timedelta(days=14)
    used = SessionRecord(key="k", user_id=1, created_at=T0, last_seen_at=T0 + timedelta(days=25))
    assert session_expires_at(used) == T0 + timedelta(days=30)


def test_tokens_have_a_visible_prefix_and_are_stored_as_digests() -> None:
    token, prefix = new_api_token()
    assert looks_like_api_token(token)
    assert token.startswith(prefix)
    assert len(prefix) == 11
    assert digest(token) != token
    assert len(digest(token)) == 64
    assert not looks_like_api_token("Bearer something")
