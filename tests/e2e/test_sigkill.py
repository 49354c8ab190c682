"""The server killed with SIGKILL 3+ minutes into a print and restarted: still one job, with its original times."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from bench import ServerProcess, printer_entry
from printfleet.sim.bambu import BambuFarm

pytestmark = pytest.mark.usefixtures("mosquitto_binary")


async def jobs_of(server: ServerProcess) -> list[dict]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5, headers=server.headers) as client:
        return (await client.get("/api/v1/jobs")).json()["jobs"]


async def wait_for_jobs(server: ServerProcess, count: int, timeout: float = 15.0) -> list[dict]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(jobs := await jobs_of(server)) != count:
        assert loop.time() < deadline, jobs
        await asyncio.sleep(0.1)
    return jobs


async def test_sigkill_and_restart_mid_print_keeps_one_job(tmp_path: Path) -> None:
    async with BambuFarm(1, workdir=tmp_path / "bambu", report_interval_s=0.2, prepare_s=0.2) as farm:
        printer = farm[0]
        (tmp_path / "server").mkdir()
        async with ServerProcess(tmp_path / "server", [printer_entry(c) for c in farm.printer_configs()]) as server:
            await server.wait_connected(1, timeout_s=15)
            await printer.start_print("sigkill.gcode.3mf", duration_s=900)
            [before] = await wait_for_jobs(server, 1)
            assert server.process is not None
            server.process.kill()  # SIGKILL: no shutdown, nothing flushed on purpose
            await server.process.wait()
            assert printer.print is not None
            printer.print.started_at -= 200  # the print is now 3+ minutes further along
            await server.start()
            await server.wait_connected(1, timeout_s=15)
            await asyncio.sleep(1.0)
            [after] = await wait_for_jobs(server, 1)
    assert after["id"] == before["id"]
    assert after["status"] == "running"
    assert after["created_at"] == before["created_at"]
    assert after["start_time"] == before["start_time"]
    assert after["customer_info"]["discovered_on_startup"] is False
