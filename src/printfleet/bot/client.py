"""The Discord client of the queue bot and its life beside the server.

:class:`QueueBotClient` is the ``discord.Client``: the queue's commands on one guild, synced at log-in. It needs
only the ``guilds`` gateway intent (the guild's roles and channels: the admin role is matched by name against
them); no privileged intent.

:class:`DiscordBot` runs it inside ``printfleet serve`` as an async context manager owning two named tasks: the
connection (log in, then discord.py's own gateway loop with its reconnects) and the :class:`Notifier`. Entering
never waits for Discord and never fails because of it: a refused token is logged and the bot stays off; a network
error while logging in is logged and retried with a fresh client after a growing delay (5 s doubling to 5 min,
with jitter), and :attr:`DiscordBot.problem` says so meanwhile (shown by ``/healthz``). The token is read from its
``SecretStr`` only to log in, and is never logged or shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Self

import aiohttp
import discord
import structlog

from printfleet.bot.commands import NO_MENTIONS, QueueCommands, QueueCommandTree, install
from printfleet.bot.identity import DiscordIdentities
from printfleet.bot.notifier import Notifier
from printfleet.bot.poster import BotPoster
from printfleet.config import DiscordSettings
from printfleet.services.accounts import AccountService
from printfleet.services.dispatch.plates import PlateService
from printfleet.services.events import EventBus, Subscription
from printfleet.services.notifications.ports import DiscordPoster
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
    the connection task, which starts the notifier once logged in; leaving closes the connection and stops both.
    A network error while logging in is retried after ``retry_first`` seconds, doubling up to ``retry_max``
    seconds (each delay ±20 % so that many servers do not retry in step), each time with a fresh client; while it
    waits, :attr:`problem` says so. Raises ValueError when ``settings`` lack the token, the guild or the channel.
    """

    def __init__(
        self,
        settings: DiscordSettings,
        *,
        queue: QueueService,
        bus: EventBus,
        clock: Callable[[], datetime] = _utcnow,
        retry_first: float = RETRY_FIRST,
        retry_max: float = RETRY_MAX,
        accounts: AccountService | None = None,
        plates: PlateService | None = None,
        on_poster: Callable[[DiscordPoster | None], None] | None = None,
    ) -> None:
        """``accounts``: members act as their printfleet accounts (made on first use or linked with ``/link``);
        None: under their bare Discord ids. ``plates``: the plate-clear gate ``/cleared`` confirms. ``on_poster``
        is given the bot as a poster of notifications once it is logged in, and None when it stops."""
        if not settings.enabled or settings.token is None or settings.guild_id is None:
            raise ValueError("the Discord bot needs discord.token, discord.guild_id and discord.queue_channel_id")
        assert settings.queue_channel_id is not None  # enabled says so
        self._token = settings.token
        self._bus = bus
        self._guild_id = settings.guild_id
        identities = DiscordIdentities(accounts)
        self._commands = QueueCommands(queue, admin_role=settings.admin_role, identities=identities, plates=plates)
        self._retry_first = retry_first
        self._retry_max = retry_max
        self.client = self._new_client()
        """The current attempt's client (a new one after each failed log-in)."""
        self._notifier_options: dict[str, Any] = {
            "channel_id": settings.queue_channel_id,
            "guild_id": settings.guild_id,
            "printer_names": lambda: {slot.id: slot.name for slot in queue.view().printers},
            "dm_offers": settings.dm_offers,
            "clock": clock,
            "identities": identities,
        }
        self._subscription: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._problem: str | None = None
        self._retry: tuple[float, str] | None = None  # (monotonic time of the next attempt, last error's name)
        self._on_poster = on_poster

    def _new_client(self) -> QueueBotClient:
        return QueueBotClient(guild_id=self._guild_id, commands=self._commands)

    @property
    def problem(self) -> str | None:
        """Why the bot is not working, for ``/healthz`` (``"discord: not connected, retrying in 40 s
        (ClientConnectorError)"``, ``"discord: stopped, …"``); None while it logs in or is logged in."""
        if self._retry is not None:
            at, error = self._retry
            return f"discord: not connected, retrying in {max(0, math.ceil(at - time.monotonic()))} s ({error})"
        return self._problem

    async def __aenter__(self) -> Self:
        self._subscription = self._bus.subscribe(maxsize=EVENT_BUFFER)
        self._tasks = [asyncio.create_task(self._connect(), name="discord-connection")]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing = True
        if self._on_poster is not None:
            self._on_poster(None)
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

    def _stopped(self, problem: str) -> None:
        self._retry = None
        self._problem = f"discord: stopped, {problem}"
        if self._on_poster is not None:
            self._on_poster(None)
        if self._subscription is not None:
            self._subscription.close()  # nothing will post the events: stop buffering them

    async def _connect(self) -> None:
        """Log in, start the notifier, then run discord.py's gateway loop with its own reconnects; a refused token
        or a fatal gateway close ends the bot (logged, and kept in :attr:`problem`)."""
        client = await self._log_in()
        if client is None:
            return
        assert self._subscription is not None
        if self._on_poster is not None:
            self._on_poster(BotPoster(client))  # REST only: it can post as soon as the bot is logged in
        notifier = Notifier(client, **self._notifier_options)
        self._tasks.append(asyncio.create_task(notifier.run(self._subscription), name="discord-notifier"))
        try:
            await client.connect(reconnect=True)
        except discord.PrivilegedIntentsRequired:  # never asked for; kept for a clear message if that changes
            log.error("discord.intents_refused", hint="enable the intents in the developer portal")
            self._stopped("Discord refused the gateway intents")
        except discord.ConnectionClosed as closed:
            log.error("discord.gateway_closed", code=closed.code, reason=closed.reason)
            self._stopped(f"the gateway closed the connection (code {closed.code})")
        except Exception as error:
            log.exception("discord.crashed")
            self._stopped(f"crashed ({type(error).__name__})")

    async def _log_in(self) -> QueueBotClient | None:
        """The logged-in client; a network error is retried (logged, with a growing delay) on a fresh client. None
        when the bot is leaving, the token is refused or logging in crashed."""
        delay = self._retry_first
        attempt = 1
        while not self._closing:
            client = self.client
            try:
                await client.__aenter__()  # binds the client to the running loop (its ready event, its HTTP client)
                await client.login(self._token.get_secret_value())
            except discord.LoginFailure:
                log.error("discord.login_failed", hint="Discord refused the token: check discord.token")
                self._stopped("Discord refused the token (check discord.token)")
                return None
            except _NETWORK_ERRORS as error:
                with contextlib.suppress(Exception):
                    await client.close()  # its HTTP session and connector; the next attempt opens its own
                if self._closing:
                    return None
                wait = min(self._retry_max, delay * random.uniform(0.8, 1.2))
                self._retry = (time.monotonic() + wait, type(error).__name__)
                log.warning(
                    "discord.connect_failed", error=type(error).__name__, attempt=attempt, retry_in_s=round(wait, 2)
                )
                await asyncio.sleep(wait)
                delay = min(delay * 2, self._retry_max)
                attempt += 1
                self.client = self._new_client()
                continue
            except Exception as error:
                log.exception("discord.crashed")
                self._stopped(f"crashed while logging in ({type(error).__name__})")
                return None
            self._retry = None
            if attempt > 1:
                log.info("discord.logged_in", attempts=attempt)
            return client
        return None
