"""Two printfleet servers on one PostgreSQL show one farm: what a person changes through one is on the other's
pages and WebSocket within a second (LISTEN/NOTIFY hints, re-read from the store): a job, the settings, the member
queue's pause, a printer added and removed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import websockets

from printfleet.domain.printer import PrinterConfig, PrinterKind, Secret
from tests.e2e.harness import Server

pytestmark = pytest.mark.postgres

UNREACHABLE = PrinterConfig(
    id="op-1", name="OctoPrint 1", kind=PrinterKind.OCTOPRINT, url="http://127.0.0.1:9", api_key=Secret("k" * 32)
)


async def within(seconds: float, check: Callable[[], Awaitable[bool]]) -> float:
    """How long ``check()`` took to hold; fails after ``seconds``."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not await check():
        assert loop.time() - started < seconds, f"not seen within {seconds} s"
        await asyncio.sleep(0.02)
    return loop.time() - started


async def next_frame(ws: Any, kind: str, seconds: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        frame = json.loads(await asyncio.wait_for(ws.recv(), left))
        if frame["type"] == kind:
            return dict(frame)
    raise AssertionError(f"no {kind} frame within {seconds} s")


async def test_a_change_through_one_server_shows_on_the_other(empty_postgres_url: str) -> None:
    first, second = Server(empty_postgres_url, [UNREACHABLE]), Server(empty_postgres_url, [UNREACHABLE])
    await first.start()
    await second.start()
    try:
        await asyncio.sleep(0.5)  # both listening
        async with websockets.connect(second.ws_url, additional_headers=second.headers) as ws:
            created = await first.client.post("/api/v1/jobs", json={"printer_id": "op-1", "job_name": "bracket"})
            assert created.status_code == 201, created.text
            loop = asyncio.get_running_loop()
            sent = loop.time()
            frame = await next_frame(ws, "job_updated", 1.0)
            assert frame["data"]["id"] == created.json()["id"]
            assert frame["data"]["job_name"] == "bracket"
            assert loop.time() - sent < 1.0

            saved = await first.client.put("/api/v1/settings", json={"monitoring_interval": 7})
            assert saved.status_code == 200, saved.text
            frame = await next_frame(ws, "settings_updated", 1.0)
            assert frame["data"]["monitoring_interval"] == 7

        async def settings_on_second() -> bool:
            return (await second.client.get("/api/v1/settings")).json()["monitoring_interval"] == 7

        await within(1.0, settings_on_second)

        paused = await first.client.put("/api/v1/queue/paused", json={"paused": True})
        assert paused.status_code == 200, paused.text

        async def paused_on_second() -> bool:
            return bool((await second.client.get("/api/v1/queue")).json()["paused"])

        await within(1.0, paused_on_second)

        added = await first.client.post(
            "/api/v1/printers",
            json={"id": "mk4-9", "name": "MK4 9", "type": "prusalink", "host": "127.0.0.1", "port": 9, "api_key": "x"},
        )
        assert added.status_code == 201, added.text

        async def watched_on_second() -> bool:  # shown on its Printers page (its owner connects to it)
            return "mk4-9" in {config.id for config, _ in second.runtime.monitoring.watched()}

        await within(1.0, watched_on_second)

        assert (await first.client.delete("/api/v1/printers/mk4-9")).status_code == 204

        async def gone_on_second() -> bool:
            return "mk4-9" not in {config.id for config, _ in second.runtime.monitoring.watched()}

        await within(1.0, gone_on_second)
    finally:
        await first.stop()
        await second.stop()
