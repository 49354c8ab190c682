"""A print on the real Moonraker + Klippy becomes exactly one job, through pause/resume, a Moonraker restart and
printfleet killed with SIGKILL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from bench import ServerProcess, printer_entry
from printfleet.domain.printer import PrinterConfig, PrinterKind
from printfleet.services.dispatch.steps import DispatchTimings
from tests.e2e.harness import Server, statuses
from tests.printers.moonraker.stack import FIXTURES, MoonrakerStack


def klipper_config(url: str, printer_id: str = "voron") -> PrinterConfig:
    """A ``type: moonraker`` printer at ``url`` (trusted network: no API key)."""
    return PrinterConfig(id=printer_id, name="Voron 2.4", kind=PrinterKind.MOONRAKER, url=url)


async def test_a_klipper_print_paused_and_resumed_is_one_job_then_completed(
    moonraker_stack: MoonrakerStack, tmp_path: Path
) -> None:
    server = Server(f"sqlite+aiosqlite:///{tmp_path}/printfleet.db", [klipper_config(moonraker_stack.url)])
    await server.start()
    try:
        await server.wait_online()
        # The file holds itself at a PAUSE line: the print is seen printing, then paused.
        await asyncio.to_thread(moonraker_stack.upload, "pause_mid.gcode", as_name="bracket.gcode", start=True)
        [paused] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["paused"])
        assert paused["printer_type"] == "moonraker"
        assert paused["job_name"] == "bracket"
        printer = await server.wait_printer("voron", "paused")
        assert printer["status"]["file_name"] == "bracket.gcode"
        assert printer["status"]["total_layers"] == 3
        answer = await server.client.post("/api/v1/printers/voron/resume")
        assert answer.status_code == 202, answer.text
        jobs = await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"], timeout=20)
        assert jobs[0]["id"] == paused["id"]
        assert jobs[0]["progress"] == 100.0
        await asyncio.sleep(1.0)  # print_stats keeps "complete" and the file name: no second job from it
        assert statuses(await server.jobs()) == ["completed"]
    finally:
        await server.stop()


async def test_moonraker_then_printfleet_restarted_mid_print_leave_one_job_that_completes(
    moonraker_stack: MoonrakerStack, tmp_path: Path
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path}/printfleet.db"
    server = Server(database, [klipper_config(moonraker_stack.url)])
    await server.start()
    try:
        await server.wait_online()
        await asyncio.to_thread(moonraker_stack.upload, "pause_mid.gcode", as_name="gear.gcode", start=True)
        [paused] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["paused"])
        # Moonraker goes away and comes back; Klippy (and the print) stays. Moonraker's own history marks the
        # entry "interrupted" and never records the rest of the print.
        await asyncio.to_thread(moonraker_stack.stop_moonraker)
        await server.wait_printer("voron", "offline")
        await asyncio.to_thread(moonraker_stack.start_moonraker)
        await server.wait_printer("voron", "paused", timeout=30)
        assert statuses(await server.jobs()) == ["paused"]
        # printfleet restarts too: the print it finds paused is the job it already has.
        await server.stop()
        server = Server(database, [klipper_config(moonraker_stack.url)])
        await server.start()
        await server.wait_printer("voron", "paused")
        assert [job["id"] for job in await server.jobs()] == [paused["id"]]
        await asyncio.to_thread(moonraker_stack.rpc, "printer.print.resume")
        jobs = await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"], timeout=20)
        assert [job["id"] for job in jobs] == [paused["id"]]
    finally:
        await server.stop()


async def test_a_print_printfleet_sends_to_klipper_is_one_job_carrying_the_file(
    moonraker_stack: MoonrakerStack, tmp_path: Path
) -> None:
    server = Server(
        f"sqlite+aiosqlite:///{tmp_path}/printfleet.db",
        [klipper_config(moonraker_stack.url)],
        files={"directory": str(tmp_path / "lib")},
        dispatch_timings=DispatchTimings(confirm_window_s=5.0, confirm_extension_s=2.0, poll_s=0.05),
    )
    await server.start()
    try:
        await server.wait_online()
        file_id = await server.upload("hook.gcode", (FIXTURES / "pause_mid.gcode").read_bytes())
        dispatch = await server.send("voron", file_id)
        started = await server.wait_dispatch(dispatch["id"], "started")
        [paused] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["paused"])
        assert await asyncio.to_thread(moonraker_stack.print_state) == "paused"
        await asyncio.to_thread(moonraker_stack.rpc, "printer.print.resume")
        [done] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"], timeout=20)
    finally:
        await server.stop()
    assert started["job_id"] == paused["id"] == done["id"]
    assert done["file_id"] == str(file_id)
    assert done["dispatch_id"] == dispatch["id"]
    stored = (moonraker_stack.data / "gcodes" / "hook.gcode").read_bytes()
    assert stored == (FIXTURES / "pause_mid.gcode").read_bytes()


async def _jobs(server: ServerProcess) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5, headers=server.headers) as client:
        jobs: list[dict[str, Any]] = (await client.get("/api/v1/jobs")).json()["jobs"]
        return jobs


async def _wait_statuses(server: ServerProcess, wanted: list[str], timeout: float = 20.0) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while statuses(jobs := await _jobs(server)) != wanted:
        assert loop.time() < deadline, jobs
        await asyncio.sleep(0.1)
    return jobs


async def test_printfleet_sigkilled_mid_print_and_restarted_keeps_the_one_job(
    moonraker_stack: MoonrakerStack, tmp_path: Path
) -> None:
    (tmp_path / "server").mkdir()
    entries = [printer_entry(klipper_config(moonraker_stack.url))]
    async with ServerProcess(tmp_path / "server", entries) as server:
        await server.wait_connected(1, timeout_s=20)
        await asyncio.to_thread(moonraker_stack.upload, "pause_mid.gcode", as_name="knob.gcode", start=True)
        [before] = await _wait_statuses(server, ["paused"])
        assert server.process is not None
        server.process.kill()  # SIGKILL: no shutdown, nothing flushed
        await server.process.wait()
        await server.start()
        await server.wait_connected(1, timeout_s=20)
        await asyncio.sleep(1.0)
        [after] = await _wait_statuses(server, ["paused"])
        assert after["id"] == before["id"]
        assert after["start_time"] == before["start_time"]
        await asyncio.to_thread(moonraker_stack.rpc, "printer.print.resume")
        [done] = await _wait_statuses(server, ["completed"])
        assert done["id"] == before["id"]
