"""A Discord without the network, for the bot's tests.

The bot runs as in production: a real ``QueueBotClient``, its real ``CommandTree``, real ``discord.Interaction``
objects parsed from raw ``INTERACTION_CREATE`` payloads by the client's own gateway parser
(``ConnectionState.parse_interaction_create``, which hands them to the tree as the gateway would), a guild parsed
from a ``GUILD_CREATE`` payload (its roles are what the admin check reads). Only Discord's HTTP is replaced: the
two places every request goes through, ``HTTPClient.request`` (bot REST calls: channel messages, DMs, users) and
``AsyncWebhookAdapter.request`` (interaction callbacks and follow-ups), record the request and answer like Discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
import pytest
from discord.http import HTTPClient, Route
from discord.webhook.async_ import AsyncWebhookAdapter

GUILD_ID = 111_111_111_111_111_111
CHANNEL_ID = 222_222_222_222_222_222
APPLICATION_ID = 333_333_333_333_333_333
BOT_USER_ID = 444_444_444_444_444_444
ADMIN_ROLE_ID = 555_555_555_555_555_555
OTHER_ROLE_ID = 666_666_666_666_666_666
DM_CHANNEL_ID = 777_777_777_777_777_777

_ids = itertools.count(900_000_000_000_000_000)


def user_payload(user_id: int, name: str) -> dict[str, Any]:
    """A Discord user object."""
    return {"id": str(user_id), "username": name.lower(), "discriminator": "0", "avatar": None, "global_name": name}


def guild_create_payload() -> dict[str, Any]:
    """``GUILD_CREATE`` of the test guild: the queue channel and the roles (``@everyone``, Print Admin, Maker)."""
    role = {"color": 0, "hoist": False, "managed": False, "mentionable": False, "permissions": "0", "flags": 0}
    return {
        "id": str(GUILD_ID),
        "name": "Makerspace",
        "owner_id": "1",
        "unavailable": False,
        "member_count": 3,
        "roles": [
            {**role, "id": str(GUILD_ID), "name": "@everyone", "position": 0},
            {**role, "id": str(ADMIN_ROLE_ID), "name": "Print Admin", "position": 2},
            {**role, "id": str(OTHER_ROLE_ID), "name": "Maker", "position": 1},
        ],
        "channels": [
            {"id": str(CHANNEL_ID), "type": 0, "name": "print-queue", "position": 0, "guild_id": str(GUILD_ID)}
        ],
        "members": [],
        "emojis": [],
        "stickers": [],
        "features": [],
        "threads": [],
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def option(name: str, value: Any) -> dict[str, Any]:
    """One command option as Discord sends it (type from the value: string 3, integer 4, boolean 5)."""
    kind = 5 if isinstance(value, bool) else 4 if isinstance(value, int) else 3
    return {"name": name, "type": kind, "value": value}


def interaction_payload(
    command: str,
    *,
    user_id: int,
    user_name: str,
    roles: tuple[int, ...] = (),
    options: dict[str, Any] | None = None,
    kind: int = 2,
    focused: str | None = None,
) -> dict[str, Any]:
    """An ``INTERACTION_CREATE`` of a slash command (``kind`` 2; 4 is autocomplete, ``focused`` names the option
    being typed) by a guild member with ``roles``."""
    interaction_id = next(_ids)
    opts = [option(name, value) for name, value in (options or {}).items()]
    for opt in opts:
        if opt["name"] == focused:
            opt["focused"] = True
    return {
        "id": str(interaction_id),
        "application_id": str(APPLICATION_ID),
        "type": kind,
        "token": f"interaction-token-{interaction_id}",
        "version": 1,
        "guild_id": str(GUILD_ID),
        "channel_id": str(CHANNEL_ID),
        "channel": {"id": str(CHANNEL_ID), "type": 0, "guild_id": str(GUILD_ID), "name": "print-queue"},
        "data": {
            "id": str(next(_ids)),
            "name": command,
            "type": 1,
            "guild_id": str(GUILD_ID),
            "options": opts,
        },
        "member": {
            "user": user_payload(user_id, user_name),
            "roles": [str(r) for r in roles],
            "joined_at": "2025-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
            "permissions": "2248473465835073",
        },
        "locale": "en-US",
        "guild_locale": "en-US",
        "app_permissions": "2248473465835073",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(GUILD_ID)},
        "context": 0,
        "attachment_size_limit": 10_485_760,
    }


@dataclass
class Sent:
    """One message the bot sent: where (``channel``: an id, or ``interaction`` for a reply), the text, whether only
    the user sees it, and what it may ping (the ``allowed_mentions`` object Discord received)."""

    channel: str
    content: str
    ephemeral: bool
    allowed_mentions: dict[str, Any] | None

    @property
    def pings_nobody(self) -> bool:
        """True when Discord will notify nobody of this message."""
        mentions = self.allowed_mentions
        return (
            mentions is not None
            and mentions.get("parse") == []
            and not mentions.get("users")
            and not mentions.get("roles")
        )


@dataclass
class FakeDiscord:
    """Records what the bot sends; ``replies`` are interaction answers, ``posts`` channel and DM messages."""

    replies: list[Sent] = field(default_factory=list)
    posts: list[Sent] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    refuse_posts: bool = False
    refuse_token: bool = False
    synced: list[dict[str, Any]] | None = None
    network: str | None = None
    """``http://127.0.0.1:<port>``: every REST call first goes there through the client's own aiohttp session, so
    the network errors the bot meets (connection refused, a closed session) are aiohttp's own, not made up."""

    def _message(self, channel_id: int | str, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": str(next(_ids)),
            "channel_id": str(channel_id),
            "type": 0,
            "content": body.get("content", ""),
            "author": user_payload(BOT_USER_ID, "PrintBot"),
            "attachments": [],
            "embeds": [],
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "mention_everyone": False,
            "tts": False,
            "timestamp": "2026-11-21T12:00:00+00:00",
            "edited_timestamp": None,
            "flags": body.get("flags", 0),
            "components": [],
        }

    async def rest(self, route: Route, **kwargs: Any) -> Any:
        """``HTTPClient.request``: the bot's REST calls."""
        self.requests.append((route.method, route.path))
        body: dict[str, Any] = kwargs.get("json") or {}
        if route.method == "POST" and route.path == "/channels/{channel_id}/messages":
            if self.refuse_posts:
                raise discord.Forbidden(_Response(403), {"code": 50013, "message": "Missing Permissions"})
            channel = str(route.channel_id)
            self.posts.append(Sent(channel, body.get("content", ""), False, body.get("allowed_mentions")))
            return self._message(channel, body)
        if route.method == "GET" and route.path == "/users/@me":  # log-in
            if self.refuse_token:
                raise discord.HTTPException(_Response(401), {"code": 0, "message": "401: Unauthorized"})
            return {**user_payload(BOT_USER_ID, "PrintBot"), "bot": True}
        if route.method == "GET" and route.path == "/oauth2/applications/@me":
            return {
                "id": str(APPLICATION_ID),
                "name": "PrintBot",
                "description": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": user_payload(1, "Owner"),
                "verify_key": "0" * 64,
                "flags": 0,
            }
        if route.method == "GET" and route.path == "/users/{user_id}":
            return user_payload(int(route.url.rsplit("/", 1)[-1]), "Someone")
        if route.method == "POST" and route.path == "/users/@me/channels":
            recipient = int(body["recipient_id"])
            return {"id": str(DM_CHANNEL_ID), "type": 1, "recipients": [user_payload(recipient, "Someone")]}
        if route.method == "PUT" and route.path.endswith("/commands"):
            self.synced = list(kwargs.get("json", []))
            return [
                {**command, "id": str(next(_ids)), "application_id": str(APPLICATION_ID), "version": "1"}
                for command in self.synced
            ]
        raise AssertionError(f"unexpected Discord request {route.method} {route.path}")

    async def webhook(self, route: Route, session: Any, **kwargs: Any) -> Any:
        """``AsyncWebhookAdapter.request``: interaction callbacks and follow-ups."""
        self.requests.append((route.method, route.path))
        payload: dict[str, Any] = kwargs.get("payload") or {}
        if route.path.endswith("/callback"):
            data = payload.get("data", {})
            if payload.get("type") == 8:  # autocomplete result
                self.replies.append(Sent("autocomplete", repr(data.get("choices")), True, None))
            else:
                ephemeral = bool(data.get("flags", 0) & 64)
                self.replies.append(
                    Sent("interaction", data.get("content", ""), ephemeral, data.get("allowed_mentions"))
                )
            return {"interaction": {"id": str(route.webhook_id), "type": 2}}
        if route.method == "POST" and route.path.startswith("/webhooks/"):
            ephemeral = bool(payload.get("flags", 0) & 64)
            self.replies.append(
                Sent("followup", payload.get("content", ""), ephemeral, payload.get("allowed_mentions"))
            )
            return self._message(CHANNEL_ID, payload)
        raise AssertionError(f"unexpected webhook request {route.method} {route.path}")

    def last_reply(self) -> Sent:
        """The latest interaction answer."""
        assert self.replies, "the bot did not answer"
        return self.replies[-1]


class _Response:
    """What discord.py's HTTPException reads of an aiohttp response."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.reason = "Forbidden"


def patch_http(monkeypatch: pytest.MonkeyPatch, fake: FakeDiscord) -> None:
    """Route every Discord request of the process to ``fake``."""

    async def rest(self: HTTPClient, route: Route, **kwargs: Any) -> Any:
        if fake.network is not None:
            session: aiohttp.ClientSession = getattr(self, "_HTTPClient__session")  # noqa: B009 - name-mangled
            async with session.get(fake.network + route.path) as response:
                await response.read()
        return await fake.rest(route, **kwargs)

    async def webhook(self: AsyncWebhookAdapter, route: Route, session: Any, **kwargs: Any) -> Any:
        return await fake.webhook(route, session, **kwargs)

    monkeypatch.setattr(HTTPClient, "request", rest)
    monkeypatch.setattr(AsyncWebhookAdapter, "request", webhook)


async def dispatch(client: discord.Client, payload: dict[str, Any]) -> None:
    """Feed ``payload`` to the client's gateway parser and wait for the command tree to finish with it."""
    before = asyncio.all_tasks()
    client._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
    invokers = [task for task in asyncio.all_tasks() - before if task.get_name() == "CommandTree-invoker"]
    assert invokers, "the interaction did not reach the command tree"
    await asyncio.gather(*invokers)


async def _answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
    writer.close()


async def serve_network(port: int) -> asyncio.Server:
    """The network back on ``127.0.0.1:port`` (see ``FakeDiscord.network``): every request there is answered 200."""
    return await asyncio.start_server(_answer_ok, "127.0.0.1", port)
