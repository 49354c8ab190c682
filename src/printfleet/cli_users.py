"""``printfleet users …``: accounts from the shell (list, create, set-role, disable, enable, reset-password, token).

Works on the configured database directly (migrating it first), so the first admin can be made before the server
ever ran, and a locked-out admin can be helped from the machine. Every change is written to the audit log with the
actor ``-`` (the shell).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from printfleet.config import Settings
from printfleet.domain.accounts.roles import Role, parse_role
from printfleet.observability.logging import configure_logging
from printfleet.security.passwords import Argon2PasswordHasher
from printfleet.services.accounts import AccountService, AccountSettings
from printfleet.services.errors import ServiceError
from printfleet.store.accounts.audit import SqlAuditRepository
from printfleet.store.accounts.repository import SqlAccountRepository
from printfleet.store.database import Database, migrate

users_cli = typer.Typer(no_args_is_help=True, help="Manage accounts: list, create, set-role, disable, token, ...")
out = Console()
err = Console(stderr=True)

T = TypeVar("T")
SettingsLoader = Callable[[Path | None], Settings]

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML configuration file (or PRINTFLEET_CONFIG).", show_default=False),
]


@asynccontextmanager
async def account_service(settings: Settings) -> AsyncIterator[AccountService]:
    """An AccountService on the configured database, migrated first."""
    await migrate(settings.database_url)
    async with Database(settings.database_url) as database:
        yield AccountService(
            repository=SqlAccountRepository(database),
            audit=SqlAuditRepository(database),
            hasher=Argon2PasswordHasher(),
            settings=AccountSettings(discord_auto_provision=settings.discord.auto_provision),
        )


def _run(settings: Settings, work: Callable[[AccountService], Awaitable[T]]) -> T:
    async def main() -> T:
        async with account_service(settings) as accounts:
            return await work(accounts)

    configure_logging(level=settings.logging.level)  # log lines to stderr: stdout carries only the results
    try:
        return asyncio.run(main())
    except ServiceError as error:
        err.print(f"[bold red]printfleet users:[/] {error.message}", highlight=False)
        raise typer.Exit(code=1) from None


def _load(config: Path | None) -> Settings:
    from printfleet.cli import load_or_exit

    return load_or_exit(config)


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = typer.prompt("Password", hide_input=True)
    second = typer.prompt("Repeat the password", hide_input=True)
    if first != second:
        err.print("[bold red]printfleet users:[/] the passwords differ", highlight=False)
        raise typer.Exit(code=1)
    return str(first)


def _role(value: str) -> Role:
    try:
        return parse_role(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input.")
]


@users_cli.command("list")
def list_users(config: ConfigOption = None) -> None:
    """Every account with its role and last sign-in."""
    users = _run(_load(config), lambda accounts: accounts.list_users())
    table = Table("id", "username", "display name", "role", "state", "last sign-in (UTC)")
    for user in users:
        table.add_row(
            str(user.id),
            user.username,
            user.display_name,
            user.role.value,
            "disabled" if user.disabled else "active",
            user.last_sign_in_at.isoformat(timespec="seconds") if user.last_sign_in_at else "never",
        )
    out.print(table)


@users_cli.command("create")
def create_user(
    username: Annotated[str, typer.Argument(help="Letters, digits, '.', '_' or '-'; unique in any case.")],
    role: Annotated[str, typer.Option(help="admin, operator, member or viewer.")] = "member",
    display_name: Annotated[str | None, typer.Option(help="Shown name (default: the username).")] = None,
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    password_stdin: PasswordStdin = False,
    config: ConfigOption = None,
) -> None:
    """Create an account; the password is prompted for (twice), or read from stdin with --password-stdin."""
    chosen = _role(role)
    settings = _load(config)
    password = _read_password(password_stdin)
    user = _run(
        settings,
        lambda accounts: accounts.create_user(
            username=username, password=password, role=chosen, display_name=display_name, email=email
        ),
    )
    out.print(f"created {user.username} ({user.role.value}), id {user.id}", highlight=False)


@users_cli.command("set-role")
def set_role(
    username: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Argument(help="admin, operator, member or viewer.")],
    config: ConfigOption = None,
) -> None:
    """Give an account another role."""
    chosen = _role(role)

    async def work(accounts: AccountService) -> str:
        user = await accounts.find_user(username)
        return (await accounts.set_role(user.id, chosen, actor=None)).role.value

    out.print(f"{username}: {_run(_load(config), work)}", highlight=False)


def _set_disabled(username: str, disabled: bool, config: Path | None) -> None:
    async def work(accounts: AccountService) -> None:
        user = await accounts.find_user(username)
        await accounts.set_disabled(user.id, disabled, actor=None)

    _run(_load(config), work)
    out.print(f"{username}: {'disabled (every session ended)' if disabled else 'enabled'}", highlight=False)


@users_cli.command("disable")
def disable(username: Annotated[str, typer.Argument()], config: ConfigOption = None) -> None:
    """Disable an account and end its sessions; its tokens stop working."""
    _set_disabled(username, True, config)


@users_cli.command("enable")
def enable(username: Annotated[str, typer.Argument()], config: ConfigOption = None) -> None:
    """Enable a disabled account again."""
    _set_disabled(username, False, config)


@users_cli.command("reset-password")
def reset_password(
    username: Annotated[str, typer.Argument()], password_stdin: PasswordStdin = False, config: ConfigOption = None
) -> None:
    """Set an account's password (prompted, or from stdin); every session of that account ends."""
    settings = _load(config)
    password = _read_password(password_stdin)

    async def work(accounts: AccountService) -> None:
        user = await accounts.find_user(username)
        await accounts.reset_password(user.id, password, actor=None)

    _run(settings, work)
    out.print(f"{username}: password set, sessions ended", highlight=False)


@users_cli.command("token")
def token(
    username: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Option(help="What the token is for (e.g. 'home assistant').")],
    config: ConfigOption = None,
) -> None:
    """Create a personal API token for an account and print it once (send it as 'Authorization: Bearer …')."""

    async def work(accounts: AccountService) -> str:
        user = await accounts.find_user(username)
        value, _ = await accounts.create_token(user.id, name=name, actor=None)
        return value

    # Only the token on stdout, so scripts can capture it: TOKEN=$(printfleet users token ...)
    print(_run(_load(config), work))
