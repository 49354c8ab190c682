"""Sending a print to a PrusaLink printer and an OctoPrint server from printfleet, end to end.

The PrusaLink simulator takes the ``PUT`` with ``Print-After-Upload`` (Digest auth, ``Content-Length`` required,
as the firmware wants) and the OctoPrint simulator the multipart upload with ``print``; each prints the uploaded
file for its predicted time, sped up. A real printfleet server on SQLite and on PostgreSQL; assertions read the
public API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from printfleet.services.dispatch.service import DispatchTimings
from printfleet.sim.octoprint import SimulatedOctoPrintPrinter
from printfleet.sim.prusalink import SimulatedPrusaLinkPrinter
from tests.e2e.harness import Server, statuses
from tests.files_samples import prusa_bgcode, prusa_gcode

FAST = DispatchTimings(confirm_window_s=3.0, confirm_extension_s=1.0, poll_s=0.05, reconcile_wait_s=10)


@dataclass
class Farm:
    prusalink: SimulatedPrusaLinkPrinter
    octoprint: SimulatedOctoPrintPrinter


@pytest.fixture
async def farm() -> AsyncIterator[Farm]:
    # The sample .bgcode predicts 7,510 s and the sample G-code 93,784 s: about 2.5 s at these speeds.
    async with (
        SimulatedPrusaLinkPrinter("mk4", speed_factor=3_000, poll_interval=0.5) as prusalink,
        SimulatedOctoPrintPrinter("ender", speed_factor=40_000, poll_interval=0.5) as octoprint,
    ):
        yield Farm(prusalink, octoprint)


@pytest.fixture
async def server(database_url: str, farm: Farm, tmp_path: Path) -> AsyncIterator[Server]:
    running = Server(
        database_url,
        [farm.prusalink.printer_config(), farm.octoprint.printer_config()],
        files={"directory": str(tmp_path / "lib")},
        dispatch_timings=FAST,
    )
    await running.start()
    await running.wait_online()
    yield running
    await running.stop()


async def upload(server: Server, name: str, content: bytes) -> int:
    response = await server.client.post("/api/v1/files", files={"file": (name, content, "application/octet-stream")})
    assert response.status_code in (200, 201), response.text
    file_id: int = response.json()["id"]
    return file_id


async def wait_dispatch(server: Server, dispatch_id: int, state: str, *, timeout: float = 20) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        body: dict[str, Any] = (await server.client.get(f"/api/v1/dispatches/{dispatch_id}")).json()
        if body["state"] == state:
            return body
        if body["state"] in ("started", "failed") or loop.time() > deadline:
            raise AssertionError(f"dispatch never became {state}: {body}")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("kind", "name", "content", "remote"),
    [
        ("prusalink", "Bracket v2.bgcode", prusa_bgcode(), "Bracket_v2.bgcode"),
        ("octoprint", "Bracket v2.gcode", prusa_gcode(), "Bracket_v2.gcode"),
    ],
)
async def test_a_sent_file_prints_as_one_job_carrying_the_file_and_the_sender(
    server: Server, farm: Farm, kind: str, name: str, content: bytes, remote: str
) -> None:
    printer = farm.prusalink if kind == "prusalink" else farm.octoprint
    file_id = await upload(server, name, content)

    response = await server.client.post(f"/api/v1/printers/{printer.printer_id}/print", json={"file_id": file_id})
    assert response.status_code == 202, response.text
    dispatch = response.json()
    started = await wait_dispatch(server, dispatch["id"], "started")
    [job] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"], timeout=20)

    assert started["attempts"] == 1
    assert job["id"] == started["job_id"]
    assert job["file_id"] == str(file_id)
    assert job["dispatch_id"] == dispatch["id"]
    assert job["requested_by"] is not None
    assert job["customer_info"].get("auto_created") is None  # printfleet sent it: not an auto-created job
    assert printer.files[remote].size == len(content)


async def test_a_prusalink_printer_busy_when_the_file_arrives_keeps_it_and_the_dispatch_fails_busy(
    server: Server, farm: Farm
) -> None:
    printer = farm.prusalink
    file_id = await upload(server, "bracket.bgcode", prusa_bgcode())
    # Someone starts a print at the printer while printfleet is sending: it is ready when checked, busy when the
    # file lands.
    printer.start_during_next_upload("someone_elses.bgcode", duration_s=60)
    response = await server.client.post(f"/api/v1/printers/{printer.printer_id}/print", json={"file_id": file_id})
    assert response.status_code == 202, response.text
    failed = await wait_dispatch(server, response.json()["id"], "failed")

    assert failed["error"] == "printer_busy"
    assert "bracket.bgcode" in printer.files  # the file stays on the printer
    assert printer.current is not None
    assert printer.current.file_name == "someone_elses.bgcode"
