"""The global ``monitoring_interval`` is the poll interval of every polled printer without its own, at once.

A real server with the real PrusaLink adapter against the PrusaLink simulator: what is measured is when the
simulator's state change shows up in the API, and how many requests the simulator serves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from printfleet.domain.printer import PrinterState
from printfleet.sim.prusalink import SimulatedPrusaLinkPrinter
from printfleet.store.printers import SqlPrinterRepository
from tests.api.conftest import RunningServer, admin_headers, start_server

PASSWORD = "pw-6120-secret"
SLOW_S = 30.0
FAST_S = 0.5


@pytest.fixture
async def slow_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A server whose global poll interval starts at 30 s."""
    uv, task, base_url = await start_server(f"sqlite+aiosqlite:///{tmp_path}/printfleet.db", monitoring_interval=SLOW_S)
    async with httpx.AsyncClient(base_url=base_url, timeout=10, headers=await admin_headers(uv)) as client:
        yield RunningServer(base_url=base_url, client=client, runtime=uv.config.app.state.runtime)
    uv.should_exit = True
    await asyncio.wait_for(task, 15)


@pytest.fixture
async def sims() -> AsyncIterator[tuple[SimulatedPrusaLinkPrinter, SimulatedPrusaLinkPrinter]]:
    async with (
        SimulatedPrusaLinkPrinter("mk4", password=PASSWORD) as follower,
        SimulatedPrusaLinkPrinter("mk4-own", password=PASSWORD) as own,
    ):
        yield follower, own


def body(sim: SimulatedPrusaLinkPrinter, **extra: Any) -> dict[str, Any]:
    return {
        "id": sim.printer_id,
        "type": "prusalink",
        "host": "127.0.0.1",
        "port": sim.port,
        "username": "maker",
        "password": PASSWORD,
        **extra,
    }


async def state_of(server: RunningServer, printer_id: str) -> str:
    response = await server.client.get(f"/api/v1/printers/{printer_id}")
    return str(response.json()["status"]["state"])


async def seconds_until(server: RunningServer, printer_id: str, state: str, *, limit: float) -> float | None:
    """How long until the API shows ``state`` for the printer; None when not within ``limit`` seconds."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < limit:
        if await state_of(server, printer_id) == state:
            return loop.time() - started
        await asyncio.sleep(0.05)
    return None


async def requests_within(sim: SimulatedPrusaLinkPrinter, seconds: float) -> int:
    before = sim.requests_served
    await asyncio.sleep(seconds)
    return sim.requests_served - before


async def test_a_printer_without_its_own_interval_polls_at_the_global_setting_at_once(
    slow_server: RunningServer, sims: tuple[SimulatedPrusaLinkPrinter, SimulatedPrusaLinkPrinter]
) -> None:
    server = slow_server
    follower, own = sims
    added = await server.client.post("/api/v1/printers", json=body(follower))
    assert added.status_code == 201, added.text
    assert added.json()["poll_interval"] is None  # follows the global setting
    assert (await server.client.post("/api/v1/printers", json=body(own, poll_interval=SLOW_S))).status_code == 201
    for sim in sims:
        assert await seconds_until(server, sim.printer_id, "idle", limit=5) is not None  # the first poll

    # At 30 s nothing more is asked for a while, and a print start goes unseen.
    assert await requests_within(follower, 1.0) == 0
    await follower.start_print("before.bgcode", duration_s=120)
    assert await seconds_until(server, "mk4", "printing", limit=1.0) is None
    await follower.cancel()

    saved = await server.client.put("/api/v1/settings", json={"monitoring_interval": FAST_S})
    assert saved.status_code == 200, saved.text
    await asyncio.sleep(0.5)  # the reconnected follower's first poll

    # The follower now polls every 0.5 s (two requests a poll: status and job): a start shows within ~one poll.
    assert await requests_within(follower, 2.0) >= 6
    await follower.start_print("after.bgcode", duration_s=120)
    seen_after = await seconds_until(server, "mk4", "printing", limit=3.0)
    assert seen_after is not None
    assert seen_after < FAST_S + 0.5
    # The printer with its own 30 s was left alone: no reconnect, no polls, its print start unseen.
    assert await requests_within(own, 1.0) == 0
    await own.start_print("own.bgcode", duration_s=120)
    assert await seconds_until(server, "mk4-own", "printing", limit=1.5) is None
    listed = {p["id"]: p["poll_interval"] for p in (await server.client.get("/api/v1/printers")).json()["printers"]}
    assert listed == {"mk4": None, "mk4-own": SLOW_S}

    # PATCH null: the printer follows the global setting from now on.
    patched = await server.client.patch("/api/v1/printers/mk4-own", json={"poll_interval": None})
    assert patched.status_code == 200, patched.text
    assert patched.json()["poll_interval"] is None
    assert await seconds_until(server, "mk4-own", "printing", limit=3.0) is not None
    await own.cancel()
    assert await seconds_until(server, "mk4-own", "cancelled", limit=FAST_S + 1.0) is not None

    # Reconnecting for the new interval wrote no transition of its own: one row per real state change.
    transitions = await SqlPrinterRepository(server.runtime.database).list_transitions("mk4")
    assert [t.to_state for t in reversed(transitions)] == [
        PrinterState.IDLE,
        PrinterState.CANCELLED,  # the print started and cancelled before the change went unseen
        PrinterState.PRINTING,
    ]

    # Back to slow: the followers are reconnected again and stop polling often.
    assert (await server.client.put("/api/v1/settings", json={"monitoring_interval": SLOW_S})).status_code == 200
    await asyncio.sleep(0.3)
    assert await requests_within(follower, 1.0) == 0
    assert await requests_within(own, 1.0) == 0


async def test_a_configuration_file_printer_without_poll_interval_shows_null_and_follows(
    tmp_path: Path, sims: tuple[SimulatedPrusaLinkPrinter, SimulatedPrusaLinkPrinter]
) -> None:
    follower, own = sims
    printers = [
        body(follower),
        body(own, poll_interval=SLOW_S),
    ]
    url = f"sqlite+aiosqlite:///{tmp_path}/printfleet.db"
    uv, task, base_url = await start_server(url, monitoring_interval=FAST_S, printers=printers)
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=10, headers=await admin_headers(uv)) as client:
            server = RunningServer(base_url=base_url, client=client, runtime=uv.config.app.state.runtime)
            listed = {p["id"]: p["poll_interval"] for p in (await client.get("/api/v1/printers")).json()["printers"]}
            assert listed == {"mk4": None, "mk4-own": SLOW_S}
            assert await seconds_until(server, "mk4", "idle", limit=5) is not None
            await follower.start_print("file.bgcode", duration_s=120)
            assert await seconds_until(server, "mk4", "printing", limit=FAST_S + 1.0) is not None
    finally:
        uv.should_exit = True
        await asyncio.wait_for(task, 15)
