"""Discord notification channels on a server that runs the bot: a message is a direct message to the user's linked
Discord account, or a post in a Discord channel, sent through the bot (Discord's HTTP answered by the harness), each
once, pinging nobody; a refusal that retrying cannot change fails the message for good with the reason."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from printfleet.app import build_app
from printfleet.bot import client as bot_client
from printfleet.config import load_settings
from printfleet.domain.accounts.roles import Role
from printfleet.domain.events import PrinterWentOffline
from printfleet.domain.notifications.model import ChannelKind, DeliveryState, NotificationEvent, OutboxMessage
from tests.bot.harness import CHANNEL_ID, DM_CHANNEL_ID, GUILD_ID, FakeDiscord, patch_http

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.secret-part.notify-test"
LINKED = "123456789012345678"
FARM_CHANNEL = 888_888_888_888_888_888


@pytest.fixture
async def started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[FastAPI, FakeDiscord]]:
    fake = FakeDiscord()
    patch_http(monkeypatch, fake)

    async def gateway(self: bot_client.QueueBotClient, *, reconnect: bool = True) -> None:
        self._ready.set()  # what READY from the gateway does
        await asyncio.Event().wait()

    monkeypatch.setattr(bot_client.QueueBotClient, "connect", gateway)
    settings = load_settings(
        None,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/printfleet.db",
        discord={"token": TOKEN, "guild_id": GUILD_ID, "queue_channel_id": CHANNEL_ID},
        notifications={"retry_initial": 60},
    )
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        yield app, fake


async def _history(app: FastAPI, user_id: int, channel_id: int, count: int) -> list[OutboxMessage]:
    notifications = app.state.runtime.notifications
    for _ in range(200):
        messages, _ = await notifications.history(user_id, channel_id)
        if len(messages) >= count and all(m.state is not DeliveryState.PENDING or m.attempts for m in messages):
            return list(messages)
        await asyncio.sleep(0.025)
    raise AssertionError(f"channel {channel_id} never sent {count} message(s): {messages}")


async def _channel(app: FastAPI, user_id: int, target: str) -> int:
    notifications = app.state.runtime.notifications
    channel = await notifications.add_channel(
        user_id, kind=ChannelKind.DISCORD, name=f"discord {target}", target=target
    )
    await notifications.add_rule(
        user_id, channel_id=channel.id, events=frozenset({NotificationEvent.PRINTER_OFFLINE}), printer_ids=frozenset()
    )
    return int(channel.id)


def _offline(printer_id: str) -> PrinterWentOffline:
    return PrinterWentOffline(
        # now: a rule applies to what happens after it was made
        printer_id=printer_id,
        since=datetime.now(UTC),
        reason="unreachable",
        detail=None,
    )


async def test_the_bot_sends_a_direct_message_and_a_channel_post_each_once(
    started: tuple[FastAPI, FakeDiscord],
) -> None:
    app, fake = started
    runtime: Any = app.state.runtime
    user = await runtime.accounts.create_user(username="mara", password=None, role=Role.ADMIN, discord_id=LINKED)
    direct = await _channel(app, user.id, "dm")
    farm = await _channel(app, user.id, str(FARM_CHANNEL))
    assert "discord.bot" in app.state.context.roles()
    assert "notifications.delivery" not in app.state.context.roles()  # delivery goes with the bot

    runtime.bus.publish(_offline("x1c-7"))
    [to_user] = await _history(app, user.id, direct, 1)
    [to_farm] = await _history(app, user.id, farm, 1)

    assert (to_user.state, to_farm.state) == (DeliveryState.DELIVERED, DeliveryState.DELIVERED)
    posts = {post.channel: post for post in fake.posts}
    assert set(posts) == {str(DM_CHANNEL_ID), str(FARM_CHANNEL)}
    assert ("POST", "/users/@me/channels") in fake.requests  # the direct message channel with the linked user
    for post in posts.values():
        assert post.content.startswith(f"**{to_user.title}**")
        assert "x1c-7" in post.content
        assert post.pings_nobody
    await asyncio.sleep(0.3)
    assert len(fake.posts) == 2  # once each


async def test_a_channel_the_bot_may_not_post_in_fails_for_good_with_the_reason(
    started: tuple[FastAPI, FakeDiscord],
) -> None:
    app, fake = started
    runtime: Any = app.state.runtime
    user = await runtime.accounts.create_user(username="otto", password=None, role=Role.ADMIN)
    farm = await _channel(app, user.id, str(FARM_CHANNEL))
    unlinked = await _channel(app, user.id, "dm")
    fake.refuse_posts = True

    runtime.bus.publish(_offline("mk4-2"))
    [refused] = await _history(app, user.id, farm, 1)
    [nobody] = await _history(app, user.id, unlinked, 1)

    assert refused.state is DeliveryState.FAILED
    assert refused.last_error == "the bot may not post in that Discord channel (give it View Channel and Send Messages)"
    assert nobody.state is DeliveryState.FAILED
    assert nobody.last_error == "the account is not linked to Discord (use /link in Discord)"
    assert fake.posts == []
