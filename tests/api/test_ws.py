"""WebSocket /ws end to end: simulated printers on their real protocols → adapters → server → a ws client."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from printfleet.api.ws import event_frame
from printfleet.domain.events import PrinterStatusUpdated
from printfleet.domain.printer import PrinterConfig, PrinterKind, PrinterState, PrinterStatus, Secret
from printfleet.sim.bambu import BambuFarm
from printfleet.sim.prusalink import SimulatedPrusaLinkPrinter
from tests.api.conftest import RunningServer, admin_headers, start_server

pytestmark = pytest.mark.usefixtures("mosquitto_binary")


@pytest.fixture
async def farm_server(tmp_path: Path) -> AsyncIterator[tuple[RunningServer, BambuFarm, SimulatedPrusaLinkPrinter]]:
    async with (
        BambuFarm(1, workdir=tmp_path / "bambu", report_interval_s=0.1, prepare_s=0.3) as farm,
        SimulatedPrusaLinkPrinter("mk4") as prusa,
    ):
        uv, task, base_url = await start_server(f"sqlite+aiosqlite:///{tmp_path}/printfleet.db")
        headers = await admin_headers(uv)
        async with httpx.AsyncClient(base_url=base_url, timeout=10, headers=headers) as client:
            server = RunningServer(
                base_url=base_url, client=client, runtime=uv.config.app.state.runtime, headers=headers
            )
            for config in [*farm.printer_configs(), prusa.printer_config(poll_interval=0.5)]:
                await server.runtime.printers.add(config)
            yield server, farm, prusa
        uv.should_exit = True
        await asyncio.wait_for(task, 15)


async def next_frame(ws: Any, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if predicate(frame):
                return frame


def is_state(printer_id: str, state: str) -> Any:
    return lambda f: (
        f["type"] == "printer_status_update"
        and f["data"]["id"] == printer_id
        and (f["data"]["status"]["state"] == state)
    )


async def test_state_changes_of_both_kinds_arrive_as_frames(farm_server: Any) -> None:
    server, farm, prusa = farm_server
    bambu = farm[0]
    async with websockets.connect(server.ws_url, additional_headers=server.headers) as ws:
        await next_frame(ws, is_state(bambu.printer_id, "idle"))
        await bambu.start_print("benchy.gcode.3mf", duration_s=30)
        frame = await next_frame(ws, is_state(bambu.printer_id, "printing"))
        assert frame["data"]["status"]["file_name"] == "benchy.gcode.3mf"
        assert frame["data"]["has_access_code"] is True
        assert bambu.access_code not in json.dumps(frame)

        await prusa.start_print("box.bgcode", duration_s=30)
        frame = await next_frame(ws, is_state("mk4", "printing"))
        assert frame["data"]["status"]["native_job_id"] is not None

        await bambu.pause()
        await next_frame(ws, is_state(bambu.printer_id, "paused"))
        await bambu.cancel()
        await next_frame(ws, is_state(bambu.printer_id, "cancelled"))


async def test_telemetry_is_at_most_one_frame_per_printer_per_second(farm_server: Any) -> None:
    server, farm, _ = farm_server
    bambu = farm[0]
    await bambu.start_print("long.gcode.3mf", duration_s=60)
    async with websockets.connect(server.ws_url, additional_headers=server.headers) as ws:
        await next_frame(ws, is_state(bambu.printer_id, "printing"))
        frames: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + 3.2
        while (left := end - loop.time()) > 0:
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), left))
            except TimeoutError:
                break
            if frame["data"].get("id") == bambu.printer_id:
                frames.append(frame)
    # the simulator reports every 0.1 s (about 30 reports); we may push at most one telemetry frame per second
    assert 2 <= len(frames) <= 5, [f["data"]["status"]["progress"] for f in frames]
    progress = [f["data"]["status"]["progress"] for f in frames]
    assert progress == sorted(progress)
    assert progress[-1] > progress[0]


async def test_commands_through_the_api_reach_the_printer(farm_server: Any) -> None:
    server, farm, prusa = farm_server
    bambu = farm[0]
    await bambu.start_print("clip.gcode.3mf", duration_s=60)
    await prusa.start_print("clip.bgcode", duration_s=60)
    async with websockets.connect(server.ws_url, additional_headers=server.headers) as ws:
        await next_frame(ws, is_state(bambu.printer_id, "printing"))
        await next_frame(ws, is_state("mk4", "printing"))
        for printer_id in (bambu.printer_id, "mk4"):
            assert (await server.client.post(f"/api/v1/printers/{printer_id}/pause")).status_code == 202
            await next_frame(ws, is_state(printer_id, "paused"))
            assert (await server.client.post(f"/api/v1/printers/{printer_id}/resume")).status_code == 202
            await next_frame(ws, is_state(printer_id, "printing"))
            assert (await server.client.post(f"/api/v1/printers/{printer_id}/stop")).status_code == 202
            await next_frame(ws, is_state(printer_id, "cancelled"))


async def test_a_printer_that_vanishes_goes_offline_while_the_other_keeps_updating(farm_server: Any) -> None:
    server, farm, prusa = farm_server
    bambu = farm[0]
    async with websockets.connect(server.ws_url, additional_headers=server.headers) as ws:
        await next_frame(ws, is_state("mk4", "idle"))
        disconnect = asyncio.create_task(prusa.disconnect(8))
        frame = await next_frame(ws, is_state("mk4", "offline"))
        assert frame["data"]["status"]["offline_reason"] in ("unreachable", "timeout")
        await bambu.start_print("during_outage.gcode.3mf", duration_s=30)
        await next_frame(ws, is_state(bambu.printer_id, "printing"))
        await disconnect
        await next_frame(ws, is_state("mk4", "idle"), timeout=20)


def strict_json(text: str) -> Any:
    """``json.loads`` as a browser's ``JSON.parse`` reads it: the bare NaN/Infinity tokens are an error."""

    def refuse(token: str) -> None:
        raise ValueError(f"not JSON: bare {token}")

    return json.loads(text, parse_constant=refuse)


async def test_non_finite_readings_reach_the_browser_as_null_in_valid_json(farm_server: Any) -> None:
    server, farm, _ = farm_server
    bambu = farm[0]
    async with websockets.connect(server.ws_url, additional_headers=server.headers) as ws:
        async with asyncio.timeout(10):
            while True:  # every frame must parse strictly, the snapshot ones included
                frame = strict_json(await ws.recv())
                if is_state(bambu.printer_id, "idle")(frame) and frame["data"]["status"]["nozzle_temp"] is not None:
                    break
        await bambu.send_raw(
            b'{"print":{"command":"push_status","nozzle_temper":Infinity,"bed_temper":-Infinity,"mc_percent":NaN}}'
        )
        async with asyncio.timeout(10):
            while True:
                frame = strict_json(await ws.recv())
                data = frame["data"]
                if data.get("id") == bambu.printer_id and data["status"]["nozzle_temp"] is None:
                    break
    assert data["status"]["bed_temp"] is None
    assert data["status"]["progress"] is None
    assert data["status"]["state"] == "idle"


def test_a_frame_holding_nan_or_infinity_is_sent_as_valid_json_with_null() -> None:
    config = PrinterConfig(id="p1", name="P1", kind=PrinterKind.PRUSALINK, host="127.0.0.1", api_key=Secret("k"))
    status = PrinterStatus(
        state=PrinterState.PRINTING, progress=math.nan, nozzle_temp=math.inf, bed_temp=-math.inf, bed_target=60.0
    )
    frame = strict_json(event_frame(PrinterStatusUpdated(printer=config, status=status)))
    assert frame["type"] == "printer_status_update"
    shown = frame["data"]["status"]
    assert (shown["progress"], shown["nozzle_temp"], shown["bed_temp"], shown["bed_target"]) == (None, None, None, 60.0)
