"""The Discord client of the queue bot and its life beside the server.

:class:`QueueBotClient` is the ``discord.Client``: the queue's commands on one guild, synced at log-in. It needs
only the ``guilds`` gateway intent (the guild's roles and channels: the admin role is matched by name against
them); no privileged intent.

:class:`DiscordBot` runs it inside ``printfleet serve`` as an async context manager owning two named tasks: the
connection (log in, then discord.py's own gateway loop with its reconnects) and the :class:`Notifier`. Entering
never waits for Discord and never fails because of it: a refused token is logged and the bot stays off; a network
error while logging in is retried with a growing delay (5 s doubling to 5 min). The token is read from its
``SecretStr`` only to log in, and is never logged or shown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Self

import aiohttp
import discord
import structlog

from printfleet.bot.commands import NO_MENTIONS, QueueCommands, QueueCommandTree, install
from printfleet.bot.notifier import Notifier
from printfleet.config import DiscordSettings
from printfleet.services.events import EventBus, Subscription
from printfleet.services.queue import QueueService

log = structlog.get_logger("printfleet.bot")

EVENT_BUFFER = 1000
"""Queue events kept for the notifier while Discord is slow or not yet connected (oldest dropped beyond)."""

RETRY_FIRST = 5.0
RETRY_MAX = 300.0
"""Delays (seconds) between log-in attempts after a network error: 5 s, doubling, at most 5 min."""


_NETWORK_ERRORS = (OSError, TimeoutError, aiohttp.ClientError, discord.HTTPException, discord.GatewayNotFound)
"""Errors of a log-in that may succeed later (Discord or the network down); a refused token is not one."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class QueueBotClient(discord.Client):
    """The bot's ``discord.Client``: ``commands`` registered on guild ``guild_id`` and synced in ``setup_hook``.

    Messages it sends ping nobody unless a call says otherwise (the client's default ``allowed_mentions``).
    """

    def __init__(self, *, guild_id: int, commands: QueueCommands) -> None:
        discord.VoiceClient.warn_nacl = False  # no voice here: skip discord.py's warnings about voice libraries
        discord.VoiceClient.warn_dave = False
        super().__init__(intents=discord.Intents(guilds=True), allowed_mentions=NO_MENTIONS)
        self.guild_id = guild_id
        self.tree = QueueCommandTree(self)
        install(self.tree, commands, guild_id=guild_id)

    async def setup_hook(self) -> None:
        """Publish the commands to the guild (a failure is logged; the bot still posts notifications)."""
        try:
            synced = await self.tree.sync(guild=discord.Object(id=self.guild_id))
        except discord.Forbidden:
            log.error(
                "discord.sync_forbidden",
                guild_id=self.guild_id,
                hint="invite the bot to this server with the bot and applications.commands scopes",
            )
        except discord.HTTPException as error:
            log.error("discord.sync_failed", guild_id=self.guild_id, status=error.status, code=error.code)
        else:
            log.info("discord.commands_synced", guild_id=self.guild_id, commands=len(synced))

    async def on_ready(self) -> None:
        """Log the connection, and warn when the bot is not a member of the configured guild."""
        log.info("discord.ready", bot_user_id=self.user.id if self.user else None, guilds=len(self.guilds))
        if self.get_guild(self.guild_id) is None:
            log.warning("discord.not_in_guild", guild_id=self.guild_id, hint="invite the bot to the server")


class DiscordBot:
    """The queue bot for ``settings`` (which must be ``enabled``) over ``queue``, notified through ``bus``.

    ``async with DiscordBot(...)``: subscribes to the bus at once (no event is missed while connecting) and starts
    the connection and notifier tasks; leaving closes the connection and stops both. Raises ValueError when
    ``settings`` lack the token, the guild or the channel.
    """

    def __init__(
        self,
        settings: DiscordSettings,
        *,
        queue: QueueService,
        bus: EventBus,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if not settings.enabled or settings.token is None or settings.guild_id is None:
            raise ValueError("the Discord bot needs discord.token, discord.guild_id and discord.queue_channel_id")
        assert settings.queue_channel_id is not None  # enabled says so
        self._token = settings.token
        self._bus = bus
        self.client = QueueBotClient(
            guild_id=settings.guild_id, commands=QueueCommands(queue, admin_role=settings.admin_role)
        )
        self.notifier = Notifier(
            self.client,
            channel_id=settings.queue_channel_id,
            guild_id=settings.guild_id,
            printer_names=lambda: {slot.id: slot.name for slot in queue.view().printers},
            dm_offers=settings.dm_offers,
            clock=clock,
        )
        self._subscription: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Self:
        self._subscription = self._bus.subscribe(maxsize=EVENT_BUFFER)
        await self.client.__aenter__()  # binds the client to the running loop (its ready event, its HTTP client)
        self._tasks = [
            asyncio.create_task(self._connect(), name="discord-connection"),
            asyncio.create_task(self.notifier.run(self._subscription), name="discord-notifier"),
        ]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._subscription is not None:
            self._subscription.close()
        with contextlib.suppress(Exception):  # a close that fails must not hide the server's own shutdown
            await self.client.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _connect(self) -> None:
        """Log in and stay connected; a refused token or a fatal gateway close ends the bot (logged), a network
        error while logging in is retried."""
        delay = RETRY_FIRST
        while not self.client.is_closed():
            try:
                await self.client.start(self._token.get_secret_value())
                return
            except discord.LoginFailure:
                log.error("discord.login_failed", hint="Discord refused the token: check discord.token")
                break
            except discord.PrivilegedIntentsRequired:  # never asked for; kept for a clear message if that changes
                log.error("discord.intents_refused", hint="enable the intents in the developer portal")
                break
            except (
                OSError,
                TimeoutError,
                aiohttp.ClientError,
                discord.HTTPException,
                discord.GatewayNotFound,
            ) as error:
                if self.client.is_closed():
                    log.error("discord.stopped", error=type(error).__name__)
                    break
                log.warning("discord.connect_failed", error=type(error).__name__, retry_in_s=delay)
                await self.client.http.close()  # the next log-in opens a fresh HTTP session
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
            except discord.ConnectionClosed as closed:
                log.error("discord.gateway_closed", code=closed.code, reason=closed.reason)
                break
            except Exception:
                log.exception("discord.crashed")
                break
        if self._subscription is not None:
            self._subscription.close()  # nothing will post the events: stop buffering them
