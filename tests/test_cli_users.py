"""``printfleet users``: accounts made and changed from the shell, on the configured database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from printfleet.cli import cli
from printfleet.cli_users import account_service
from printfleet.config import load_settings
from printfleet.domain.accounts.roles import Permission, Role

PASSWORD = "a long enough password"


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/printfleet.db"
    monkeypatch.setenv("PRINTFLEET_DATABASE_URL", url)
    return url


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    """Exit status and what was printed (stdout and stderr)."""
    result = CliRunner().invoke(cli, ["users", *args], input=stdin)
    return result.exit_code, result.output


def stdout_of(*args: str) -> str:
    """Only the standard output (what ``TOKEN=$(printfleet users token ...)`` captures)."""
    result = CliRunner().invoke(cli, ["users", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_users_are_created_listed_promoted_disabled_and_given_tokens(database_url: str) -> None:
    code, output = run("create", "Carol", "--role", "operator", "--password-stdin", stdin=PASSWORD + "\n")
    assert (code, "created carol (operator)" in output) == (0, True)
    code, output = run("create", "carol", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 1
    assert "taken" in output
    code, output = run("create", "dave", "--password-stdin", stdin="short\n")
    assert code == 1
    assert "at least 10" in output
    assert "short" not in output.replace("short\n", "")  # the refused password is never repeated

    token = stdout_of("token", "carol", "--name", "home assistant").strip()
    assert token.startswith("pf_")
    assert "\n" not in token
    assert run("set-role", "carol", "admin")[0] == 0

    async def check() -> tuple[bool, bool]:
        async with account_service(load_settings(None, database_url=database_url)) as accounts:
            principal = await accounts.token_principal(token)
            assert principal is not None
            may_manage = principal.may(Permission.USERS_MANAGE)
            await accounts.create_user(username="root", password=PASSWORD, role=Role.ADMIN)
            return may_manage, True

    assert asyncio.run(check()) == (True, True)
    code, listed = run("list")
    assert code == 0
    assert "carol" in listed
    assert "admin" in listed
    assert run("disable", "carol")[0] == 0

    async def disabled() -> bool:
        async with account_service(load_settings(None, database_url=database_url)) as accounts:
            return await accounts.token_principal(token) is None

    assert asyncio.run(disabled())
    assert run("set-role", "carol", "root")[0] == 2  # not a role: a usage error naming the roles
    assert run("reset-password", "nobody", "--password-stdin", stdin=PASSWORD + "\n")[0] == 1
