"""The bot inside ``printfleet serve``: started only when configured, never fatal to the server, token never shown."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import structlog

from printfleet.app import build_app, discord_bot
from printfleet.bot import DiscordBot
from printfleet.bot import client as bot_client
from printfleet.config import DiscordSettings, load_settings
from printfleet.services.events import EventBus
from tests.bot.conftest import ALICE, World, idle
from tests.bot.harness import CHANNEL_ID, GUILD_ID, FakeDiscord, patch_http, serve_network
from tests.support import free_port

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


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_network_errors_at_log_in_are_retried_with_backoff_until_discord_answers(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.farm.statuses["mk4"] = idle()
    port = free_port()
    world.discord.network = f"http://127.0.0.1:{port}"  # nothing listens there yet: connection refused
    logins_before = world.discord.requests.count(("GET", "/users/@me"))  # the world's own client logged in
    connected = asyncio.Event()

    async def gateway(self: bot_client.QueueBotClient, *, reconnect: bool = True) -> None:
        self._ready.set()  # what READY from the gateway does
        connected.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(bot_client.QueueBotClient, "connect", gateway)
    bot = DiscordBot(_settings(), queue=world.queue, bus=world.bus, retry_first=0.05, retry_max=0.2)

    with structlog.testing.capture_logs() as logs:
        async with bot:
            failed = lambda: [e for e in logs if e["event"] == "discord.connect_failed"]  # noqa: E731
            await wait_for(lambda: len(failed()) >= 1)
            problem = bot.problem
            await wait_for(lambda: len(failed()) == 4)
            network = await serve_network(port)  # the network is back
            try:
                await asyncio.wait_for(connected.wait(), 5)
                assert bot.problem is None
                await world.queue.join(user_id=str(ALICE.id), user_name="Alice", job_name="benchy", estimate="1h")
                await wait_for(lambda: bool(world.discord.posts))
            finally:
                network.close()

    assert problem is not None
    assert problem.startswith("discord: not connected, retrying in ")
    assert problem.endswith(" s (ClientConnectorError)")
    retries = [e for e in logs if e["event"] == "discord.connect_failed"]
    assert [(e["attempt"], e["error"]) for e in retries] == [(n, "ClientConnectorError") for n in (1, 2, 3, 4)]
    waits = [e["retry_in_s"] for e in retries]
    assert 0.04 <= waits[0] < waits[1] < waits[2] <= 0.2  # doubling, with ±20 % jitter, never above the cap
    assert 0.16 <= waits[3] <= 0.2  # at the cap
    assert [e["event"] for e in logs if e["event"].startswith("discord.")][4:6] == [
        "discord.commands_synced",
        "discord.logged_in",
    ]
    assert world.discord.requests.count(("GET", "/users/@me")) == logins_before + 1  # the attempt that got through
    [offer] = world.discord.posts
    assert offer.content.startswith(f"<@{ALICE.id}>, **MK4 #1** is free for #1 **benchy**")
    assert TOKEN not in repr(logs)


async def test_healthz_reports_the_bot_retrying_and_the_token_is_not_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDiscord(network=f"http://127.0.0.1:{free_port()}")  # Discord unreachable
    patch_http(monkeypatch, fake)
    settings = load_settings(
        None,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/printfleet.db",
        discord={"token": TOKEN, "guild_id": GUILD_ID, "queue_channel_id": CHANNEL_ID},
    )
    app = build_app(settings)

    with structlog.testing.capture_logs() as logs:
        async with app.router.lifespan_context(app):
            await wait_for(lambda: any(e["event"] == "discord.connect_failed" for e in logs))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                answer = await client.get("/healthz")
                health = answer.json()

    assert (answer.status_code, health["status"]) == (503, "degraded")
    [reason] = health["reasons"]
    assert reason.startswith("discord: not connected, retrying in ")
    assert TOKEN not in repr(health)


async def test_a_token_refused_after_network_errors_leaves_the_bot_stopped_with_the_reason(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    world.discord.network = f"http://127.0.0.1:{port}"
    world.discord.refuse_token = True
    bot = DiscordBot(_settings(), queue=world.queue, bus=world.bus, retry_first=0.01, retry_max=0.01)

    with structlog.testing.capture_logs() as logs:
        async with bot:
            await wait_for(lambda: any(e["event"] == "discord.connect_failed" for e in logs))
            network = await serve_network(port)
            try:
                await wait_for(lambda: any(e["event"] == "discord.login_failed" for e in logs))
                problem = bot.problem
            finally:
                network.close()

    assert problem == "discord: stopped, Discord refused the token (check discord.token)"


async def test_healthz_is_ok_without_a_discord_bot(tmp_path: Path) -> None:
    app = build_app(load_settings(None, database_url=f"sqlite+aiosqlite:///{tmp_path}/printfleet.db"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            health = (await client.get("/healthz")).json()

    assert (health["status"], health["reasons"]) == ("ok", [])


def test_a_server_without_the_bot_does_not_load_discord_py() -> None:
    """discord.py costs a process about 20 MB; a farm that does not use Discord does not pay it."""
    script = (
        "import sys\n"
        "from printfleet.app.parts import discord_bot\n"
        "import printfleet.app.root, printfleet.cli\n"
        "from printfleet.config import DiscordSettings\n"
        "discord_bot(DiscordSettings(), queue=None, bus=None)\n"
        "print(sorted(name for name in sys.modules if name == 'discord' or name.startswith('printfleet.bot')))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
