"""The bot inside ``printfleet serve``: started only when configured, never fatal to the server, token never shown."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest
import structlog
from discord.http import Route

from printfleet.app import build_app, discord_bot
from printfleet.bot import DiscordBot
from printfleet.bot import client as bot_client
from printfleet.config import DiscordSettings, load_settings
from printfleet.services.events import EventBus
from tests.bot.conftest import ALICE, World, idle
from tests.bot.harness import CHANNEL_ID, GUILD_ID, FakeDiscord, patch_http

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.secret-part.do-not-log-me"


def _settings(**changes: object) -> DiscordSettings:
    values: dict[str, object] = {"token": TOKEN, "guild_id": GUILD_ID, "queue_channel_id": CHANNEL_ID}
    return DiscordSettings.model_validate({**values, **changes})


def test_without_discord_settings_no_bot_is_built(world: World) -> None:
    unconfigured = discord_bot(DiscordSettings(), queue=world.queue, bus=EventBus())
    half = discord_bot(DiscordSettings(token="x", guild_id=1), queue=world.queue, bus=EventBus())
    configured = discord_bot(_settings(), queue=world.queue, bus=EventBus())

    assert not isinstance(unconfigured, DiscordBot)
    assert not isinstance(half, DiscordBot)
    assert isinstance(configured, DiscordBot)
    with pytest.raises(ValueError, match=r"discord\.token, discord\.guild_id and discord\.queue_channel_id"):
        DiscordBot(DiscordSettings(), queue=world.queue, bus=EventBus())


async def test_a_refused_token_is_logged_without_the_token_and_the_server_runs_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeDiscord(refuse_token=True)
    patch_http(monkeypatch, fake)
    settings = load_settings(
        None,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/printfleet.db",
        discord={"token": TOKEN, "guild_id": GUILD_ID, "queue_channel_id": CHANNEL_ID},
    )
    app = build_app(settings)
    caplog.set_level(logging.DEBUG)

    with structlog.testing.capture_logs() as logs:
        async with app.router.lifespan_context(app):
            for _ in range(100):
                if any(e["event"] == "discord.login_failed" for e in logs):
                    break
                await asyncio.sleep(0.01)
            runtime = app.state.runtime
            assert runtime.queue.view().entries == []  # the server works

    assert [e["event"] for e in logs if e["event"].startswith("discord.")] == ["discord.login_failed"]
    assert ("GET", "/users/@me") in fake.requests
    assert TOKEN not in repr(logs)
    assert TOKEN not in caplog.text
    assert "do-not-log-me" not in caplog.text


async def test_a_network_error_at_log_in_is_retried_then_offers_reach_the_channel(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot_client, "RETRY_FIRST", 0.01)
    world.farm.statuses["mk4"] = idle()
    attempts = 0
    answer = world.discord.rest

    async def flaky(route: Route, **kwargs: object) -> object:
        nonlocal attempts
        if route.path == "/users/@me":
            attempts += 1
            if attempts == 1:
                raise aiohttp.ClientConnectionError("Discord is unreachable")
        return await answer(route, **kwargs)

    monkeypatch.setattr(world.discord, "rest", flaky)
    connected = asyncio.Event()

    async def gateway(self: bot_client.QueueBotClient, *, reconnect: bool = True) -> None:
        self._ready.set()  # what READY from the gateway does
        connected.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(bot_client.QueueBotClient, "connect", gateway)
    bot = DiscordBot(_settings(), queue=world.queue, bus=world.bus)

    with structlog.testing.capture_logs() as logs:
        async with bot:
            await asyncio.wait_for(connected.wait(), 5)
            await world.queue.join(user_id=str(ALICE.id), user_name="Alice", job_name="benchy", estimate="1h")
            for _ in range(100):
                if world.discord.posts:
                    break
                await asyncio.sleep(0.01)

    assert attempts == 2
    assert [e["event"] for e in logs if e["event"].startswith("discord.")][:2] == [
        "discord.connect_failed",
        "discord.commands_synced",
    ]
    [offer] = world.discord.posts
    assert offer.content.startswith(f"<@{ALICE.id}>, **MK4 #1** is free for #1 **benchy**")
    assert TOKEN not in repr(logs)
