"""Who a Discord member is to printfleet: their account, and the queue user id and name they act under.

With accounts (``printfleet serve`` always has them), a Discord member acts as the account linked to their Discord
id: one made for them on first use when ``discord.auto_provision`` is on (a ``member`` named after them), or a web
account they linked with a one-time code (``/link CODE``), so their Discord commands and web actions are one person
with one queue history. A linked operator or admin may use the admin commands without the Discord admin role.

Without accounts (the bot's own tests of the queue commands), a member acts under their Discord id, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import discord

from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import AuthMethod, Principal, User, queue_user_id
from printfleet.services.accounts import AccountService
from printfleet.services.errors import ServiceError

USER_PREFIX = "user:"


@dataclass(frozen=True, slots=True)
class Member:
    """A Discord member as the queue knows them: ``user_id`` and ``name`` (what the queue stores and shows),
    ``may_manage`` (their account may manage the queue), and their Discord id (to mention them)."""

    user_id: str
    name: str
    discord_id: str
    may_manage: bool = False
    account: User | None = None


class NoAccount(Exception):
    """The Discord member has no printfleet account and none is made for them (``discord.auto_provision`` off)."""


class DiscordIdentities:
    """Maps Discord members to printfleet accounts (``accounts`` None: to their bare Discord ids)."""

    def __init__(self, accounts: AccountService | None) -> None:
        self._accounts = accounts

    async def member(self, user: discord.User | discord.Member) -> Member:
        """The queue identity of ``user``. Raises NoAccount when they have no account and none is made, or their
        account is disabled."""
        discord_id = str(user.id)
        if self._accounts is None:
            return Member(user_id=discord_id, name=user.display_name, discord_id=discord_id)
        account = await self._accounts.discord_user(discord_id, user.display_name)
        if account is None or account.disabled:
            raise NoAccount
        principal = Principal(user=account, method=AuthMethod.DISCORD)
        return Member(
            user_id=queue_user_id(account.id),
            name=account.display_name,
            discord_id=discord_id,
            may_manage=principal.may(Permission.QUEUE_MANAGE),
            account=account,
        )

    async def discord_id_of(self, user_id: str) -> str | None:
        """The Discord id to mention for the queue user ``user_id``: a bare Discord id as it is, an account's linked
        Discord id, or None (a web user without Discord)."""
        if user_id.isascii() and user_id.isdigit():
            return user_id
        if self._accounts is None or not user_id.startswith(USER_PREFIX):
            return None
        number = user_id.removeprefix(USER_PREFIX)
        if not number.isdigit():
            return None
        try:
            account = await self._accounts.get_user(int(number))
        except ServiceError:  # a vanished account or a store hiccup: post without the mention
            return None
        return account.discord_id

    async def audit(
        self, member: Member, command: str, target: str, *, action: AuditAction = AuditAction.QUEUE_ADMIN
    ) -> None:
        """Record a command a member ran on Discord (a queue admin command, or ``action``) in the audit log
        (nothing without accounts)."""
        if self._accounts is None or member.account is None:
            return
        principal = Principal(user=member.account, method=AuthMethod.DISCORD)
        detail = {"command": command, "via": "discord"}
        await self._accounts.audit(principal, action, target=target, detail=detail)

    async def link(self, code: str, user: discord.User | discord.Member) -> str:
        """Link ``user``'s Discord account to the web account that was shown ``code``; the account's display name.
        Raises NoAccount without accounts, and the service's PermissionDenied / Conflict for a bad code."""
        if self._accounts is None:
            raise NoAccount
        linked = await self._accounts.link_discord(code, discord_id=str(user.id))
        return linked.display_name
