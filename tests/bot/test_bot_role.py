"""Two printfleet servers on one PostgreSQL with the bot configured: only one talks to Discord (two gateways on one
token would both answer every command and post every offer twice), and when it stops the other takes the bot over.
The same holds for the member queue's deadlines."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest
from fastapi import FastAPI

from printfleet.app import build_app
from printfleet.bot import client as bot_client
from printfleet.config import load_settings
from tests.bot.harness import CHANNEL_ID, GUILD_ID, FakeDiscord, patch_http

pytestmark = pytest.mark.postgres

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.secret-part.role-test"
LOGIN = ("GET", "/users/@me")


async def wait_for(predicate: Callable[[], bool], timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def roles(app: FastAPI) -> list[str]:
    held: list[str] = app.state.context.roles()
    return held


async def test_one_server_of_a_farm_runs_the_bot_and_another_takes_it_over(
    empty_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDiscord()
    patch_http(monkeypatch, fake)
    gateways = 0

    async def gateway(self: bot_client.QueueBotClient, *, reconnect: bool = True) -> None:
        nonlocal gateways
        gateways += 1
        self._ready.set()  # what READY from the gateway does
        await asyncio.Event().wait()

    monkeypatch.setattr(bot_client.QueueBotClient, "connect", gateway)
    settings = load_settings(
        None,
        database_url=empty_postgres_url,
        discord={"token": TOKEN, "guild_id": GUILD_ID, "queue_channel_id": CHANNEL_ID},
    )
    apps = [build_app(settings), build_app(settings)]
    async with contextlib.AsyncExitStack() as outer:
        stacks = [await outer.enter_async_context(contextlib.AsyncExitStack()) for _ in apps]
        for app, stack in zip(apps, stacks, strict=True):
            await stack.enter_async_context(app.router.lifespan_context(app))

        await wait_for(lambda: gateways == 1, timeout=10)
        await asyncio.sleep(5)  # both have tried to take the role by now (every 4 s)
        assert gateways == 1
        assert fake.requests.count(LOGIN) == 1
        [holder] = [index for index, app in enumerate(apps) if "discord.bot" in roles(app)]
        assert len([app for app in apps if "queue.deadlines" in roles(app)]) == 1

        await stacks[holder].aclose()  # the holder stops: it lets the role go at once
        survivor = apps[1 - holder]
        await wait_for(lambda: "discord.bot" in roles(survivor), timeout=10)
        await wait_for(lambda: gateways == 2, timeout=5)
        assert fake.requests.count(LOGIN) == 2
        await wait_for(lambda: "queue.deadlines" in roles(survivor), timeout=10)
