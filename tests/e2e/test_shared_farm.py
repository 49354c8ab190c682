"""Two printfleet servers on one PostgreSQL share a farm of four simulated Bambu printers (one mosquitto each): every
printer is connected by exactly one of them (counted by the printer's own broker), both show all four live, a pause
and a print asked of the process that does not own the printer reach it through its owner, and when one process
stops the other takes its printers over."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from printfleet.sim.bambu import BambuFarm
from printfleet.sim.base import SimPhase
from printfleet.sim.prusalink import SimulatedPrusaLinkPrinter
from tests.e2e.harness import Server, collect_frames, printer_owner, statuses
from tests.e2e.test_dispatch_bambu import FAST
from tests.files_samples import PNG, bambu_3mf

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("mosquitto_binary")]

TTL_S = 12.0  # the default printer lease


@pytest.fixture
async def farm(tmp_path: Path) -> AsyncIterator[BambuFarm]:
    async with BambuFarm(
        4, workdir=tmp_path / "bambu", report_interval_s=0.2, prepare_s=0.2, speed_factor=3000
    ) as bambu:
        yield bambu


async def until(seconds: float, check: Callable[[], Awaitable[bool] | bool], what: str) -> float:
    """Seconds until ``check()`` held; fails naming ``what`` after ``seconds``."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        held = check()
        if not isinstance(held, bool):
            held = await held
        if held:
            return loop.time() - started
        assert loop.time() - started < seconds, f"{what}: not within {seconds} s"
        await asyncio.sleep(0.05)


def owned(server: Server) -> set[str]:
    return {config.id for config, _ in server.runtime.monitoring.connected()}


def clients(farm: BambuFarm) -> dict[str, tuple[int, int]]:
    """Per printer: printfleet's clients connected to its broker now, and the most ever at once."""
    counts = {}
    for printer in farm.printers:
        assert printer.broker is not None
        now, peak = printer.broker.client_sessions("pf-")
        counts[printer.printer_id] = (len(now), peak)
    return counts


async def shown(server: Server) -> dict[str, dict[str, Any]]:
    answer = await server.client.get("/api/v1/printers")
    assert answer.status_code == 200, answer.text
    return {printer["id"]: printer["status"] for printer in answer.json()["printers"]}


async def test_each_printer_has_one_owner_and_both_processes_show_and_command_all(
    empty_postgres_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    settings: dict[str, Any] = {"files": {"directory": str(tmp_path / "lib")}, "dispatch_timings": FAST}
    first = Server(empty_postgres_url, farm.printer_configs(), **settings)
    second = Server(empty_postgres_url, farm.printer_configs(), **settings)
    every = {printer.printer_id for printer in farm.printers}
    await first.start()
    try:
        await first.wait_online()
        assert owned(first) == every  # alone, it owns the farm
        await second.start()
        # The first lets go of the printers the second wins at its next round; the second claims them at its next.
        await until(2 * TTL_S / 3 + 5, lambda: len(owned(first)) == 2 and len(owned(second)) == 2, "two each")
        assert owned(first) | owned(second) == every
        health = (await second.client.get("/healthz")).json()
        assert health["printers"] == 4
        assert health["printers_owned"] == 2

        async def one_client_each() -> bool:
            return all(now == 1 for now, _ in clients(farm).values())

        await until(5, one_client_each, "one printfleet client on each printer's broker")
        assert all(peak == 1 for _, peak in clients(farm).values()), clients(farm)  # never two at once

        # Both show all four printers online, from their owners' reports.
        for server in (first, second):
            await until(5, lambda s=server: _all_online(s), "every printer online on both")

        # A print started on a printer the second owns shows on the first's page within a second or so.
        target = next(p for p in farm.printers if p.printer_id in owned(second))
        await target.start_print("bracket.gcode", duration_s=30, total_layers=10)

        async def printing_on_first() -> bool:
            return (await shown(first))[target.printer_id]["state"] == "printing"

        assert await until(3, printing_on_first, "the print shown on the other process") < 2.0

        # A pause asked of the first reaches the printer through its owner, the second.
        paused = await first.client.post(f"/api/v1/printers/{target.printer_id}/pause")
        assert paused.status_code in (200, 202), paused.text
        await until(5, lambda: target.print is not None and target.print.phase is SimPhase.PAUSED, "paused")

        async def paused_on_first() -> bool:
            return (await shown(first))[target.printer_id]["state"] == "paused"

        await until(3, paused_on_first, "the pause shown on the asking process")
        await first.client.post(f"/api/v1/printers/{target.printer_id}/stop")
        await until(5, lambda: target.print is None or target.print.phase is SimPhase.CANCELLED, "the print stopped")

        # A print sent through the first to a printer the second owns is uploaded and started by the second, once.
        other = next(p for p in farm.printers if p.printer_id in owned(second) and p is not target)
        file_id = await first.upload("cube.gcode.3mf", bambu_3mf())
        dispatch = await first.send(other.printer_id, file_id)
        started = await first.wait_dispatch(dispatch["id"], "started", timeout=30)
        assert started["attempts"] == 1
        assert len(other.start_commands) == 1
        await first.wait_jobs(
            lambda jobs: [j["status"] for j in jobs if j["printer_id"] == other.printer_id] == ["completed"],
            timeout=30,
        )

        # A printer added through one process is owned at once (a round on the spot), not at the next round.
        added = await first.client.post(
            "/api/v1/printers",
            json={"id": "mk4-9", "name": "MK4 9", "type": "prusalink", "host": "127.0.0.1", "port": 9, "api_key": "x"},
        )
        assert added.status_code == 201, added.text
        await printer_owner([first, second], "mk4-9", timeout=2.0)
        assert (await first.client.delete("/api/v1/printers/mk4-9")).status_code == 204
    finally:
        await second.stop()
    # The second stopped and let its printers go: the first takes them over at its next round.
    try:
        await until(TTL_S / 3 + 5, lambda: owned(first) == every, "the first owns every printer again")
        await until(5, lambda: all(now == 1 for now, _ in clients(farm).values()), "one client each")
        assert all(peak == 1 for _, peak in clients(farm).values()), clients(farm)
        jobs = await first.jobs()
        assert statuses([j for j in jobs if j["printer_id"] == other.printer_id]) == ["completed"]  # no duplicate
    finally:
        await first.stop()


async def test_telemetry_of_a_printer_owned_elsewhere_is_live_for_a_watcher_and_current_when_asked(
    empty_postgres_url: str, farm: BambuFarm
) -> None:
    """The first process reads another's telemetry (progress, temperatures) only while someone watches it live;
    asked through its API with nobody watching, it still answers with what the owner shared last."""
    first = Server(empty_postgres_url, farm.printer_configs())
    second = Server(empty_postgres_url, farm.printer_configs())
    await first.start()
    try:
        await first.wait_online()
        await second.start()
        await until(2 * TTL_S / 3 + 5, lambda: len(owned(first)) == 2 and len(owned(second)) == 2, "two each")

        async def second_shows_all_online() -> bool:  # /healthz reads what is shown, nothing more
            return bool((await second.client.get("/healthz")).json()["printers_connected"] == 4)

        # The second read the states shared before it started listening: the first's printers show online there
        # though none of them changed state since.
        await until(5, second_shows_all_online, "the second shows every printer online")
        target = next(p for p in farm.printers if p.printer_id in owned(second))
        await target.start_print("tall_vase.gcode", duration_s=120, total_layers=120, prepare_s=0.2)
        own_view = second.runtime.monitoring

        async def printing_on_first() -> bool:
            return (await shown(first))[target.printer_id]["state"] == "printing"

        await until(5, printing_on_first, "the print shown on the first")
        sharing = first.runtime.sharing
        assert sharing.watchers == 0

        # Nobody watches the first: what its API answers is still what the owner shared a moment ago.
        answered = []
        for _ in range(3):
            await asyncio.sleep(1.5)
            progress = (await shown(first))[target.printer_id]["progress"]
            owners = own_view.status(target.printer_id).progress
            assert owners - progress <= 5, (progress, owners)  # a 120 s print: a few seconds behind at most
            answered.append(progress)
        assert answered[-1] > answered[0], answered

        # A WebSocket client of the first sees the printer's progress move about every second.
        frames = await collect_frames(first.ws_url, {"printer_status_update"}, 4.5, headers=first.headers)
        progress_seen = [
            frame["data"]["status"]["progress"] for frame in frames if frame["data"]["id"] == target.printer_id
        ]
        assert len(set(progress_seen)) >= 3, progress_seen  # the snapshot, then at least two updates
        assert progress_seen == sorted(progress_seen)
        assert sharing.watchers == 0  # the client went away
    finally:
        await second.stop()
        await first.stop()


async def _all_online(server: Server) -> bool:
    return all(status["state"] != "offline" for status in (await shown(server)).values())


async def test_a_prusalink_preview_shows_on_the_process_that_does_not_own_the_printer(empty_postgres_url: str) -> None:
    """The card of a PrusaLink print on the other process shows the printer's own preview: fetched from the printer
    by the process asked (PrusaLink serves any number of HTTP clients), with the printer's credentials."""
    async with SimulatedPrusaLinkPrinter("mk4", poll_interval=0.5) as mk4:
        config = mk4.printer_config(poll_interval=0.5)
        first, second = Server(empty_postgres_url, [config]), Server(empty_postgres_url, [config])
        await first.start()
        try:
            await second.start()
            owner = await printer_owner([first, second], "mk4", timeout=TTL_S)
            other = second if owner is first else first
            await mk4.start_print("benchy_0.4n_0.2mm_PLA_MK4_1h2m.bgcode", duration_s=60.0)

            async def url_on_other() -> bool:
                return bool((await shown(other))["mk4"]["thumbnail_url"])

            await until(10, url_on_other, "the preview's address shown on the other process")
            url = (await shown(other))["mk4"]["thumbnail_url"]
            image = await other.client.get(url)
            assert image.status_code == 200, image.text
            assert image.headers["content-type"] == "image/png"
            assert image.content == PNG
            assert not other.runtime.monitoring.owns("mk4")  # still served by the process that does not own it
        finally:
            await second.stop()
            await first.stop()
