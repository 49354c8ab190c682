"""Every print becomes exactly one job: the required scenarios, end to end.

Simulated printers speak their real protocols (Bambu Lab MQTT over TLS through mosquitto, PrusaLink HTTP with
Digest) to a real printfleet server on SQLite and on PostgreSQL; assertions read the public jobs API and WebSocket.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from printfleet.sim.bambu import BambuFarm, SimulatedBambuPrinter
from printfleet.sim.octoprint import SimulatedOctoPrintPrinter
from printfleet.sim.prusalink import SimulatedPrusaLinkPrinter
from tests.e2e.harness import Server, collect_frames, running, statuses

pytestmark = pytest.mark.usefixtures("mosquitto_binary")


@pytest.fixture
async def farm(tmp_path: Path) -> AsyncIterator[BambuFarm]:
    async with BambuFarm(2, workdir=tmp_path / "bambu", report_interval_s=0.1, prepare_s=0.2) as bambu:
        yield bambu


@pytest.fixture
async def server(database_url: str, farm: BambuFarm) -> AsyncIterator[Server]:
    running = Server(database_url, farm.printer_configs())
    await running.start()
    await running.wait_online()
    yield running
    await running.stop()


def finished(printer: SimulatedBambuPrinter) -> bool:
    return printer.print is not None and not printer.print.active


async def test_same_file_twice_in_a_row_makes_two_jobs(server: Server, farm: BambuFarm) -> None:
    printer = farm[0]
    await printer.start_print("benchy.gcode.3mf", duration_s=0.8)
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"])
    await printer.start_print("benchy.gcode.3mf", duration_s=0.8)
    jobs = await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed", "completed"])
    assert [job["job_name"] for job in jobs] == ["benchy", "benchy"]
    first = jobs[0]
    assert first["customer_info"]["auto_created"] is True
    assert first["customer_info"]["discovered_on_startup"] is False
    assert first["end_time"] is not None
    assert first["duration_seconds"] is not None
    assert first["progress"] == 100.0


async def test_pause_then_resume_is_one_job(server: Server, farm: BambuFarm) -> None:
    printer = farm[0]
    await printer.start_print("clip.gcode.3mf", duration_s=30)
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
    await printer.pause()
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["paused"])
    await printer.resume()
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
    await printer.cancel()
    jobs = await server.wait_jobs(lambda jobs: statuses(jobs) == ["cancelled"])
    assert jobs[0]["end_time"] is not None


async def test_failed_print_ends_its_job_failed(server: Server, farm: BambuFarm) -> None:
    printer = farm[0]
    await printer.start_print("warp.gcode.3mf", duration_s=30)
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
    await printer.fail()
    [job] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["failed"])
    assert job["end_reason"].startswith("printer error (0300800A")  # the print_error, kept for whoever investigates


async def test_a_network_drop_mid_print_keeps_one_job(server: Server, farm: BambuFarm) -> None:
    # The drop is seconds, not minutes: identity never depends on how long the printer was away.
    printer = farm[0]
    await printer.start_print("vase.gcode.3mf", duration_s=120)
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
    await printer.disconnect(3)
    await server.wait_printer(printer.printer_id, "offline")
    await server.wait_printer(printer.printer_id, "printing", timeout=30)
    await asyncio.sleep(0.5)
    assert statuses(await server.jobs()) == ["running"]


async def test_a_restart_mid_print_adopts_the_running_job(server: Server, farm: BambuFarm) -> None:
    printer = farm[0]
    await printer.start_print("gridfinity.gcode.3mf", duration_s=600)
    [before] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
    await server.stop()
    assert printer.print is not None
    printer.print.started_at -= 200  # the print is now 3+ minutes further along than when we last saw it
    await server.start()
    await server.wait_printer(printer.printer_id, "printing")
    await asyncio.sleep(0.5)
    [after] = await server.jobs()
    assert after["id"] == before["id"]
    assert after["created_at"] == before["created_at"]
    assert after["start_time"] == before["start_time"]
    metrics = (await server.client.get("/metrics")).text
    assert 'auto_jobs_duplicate_prevented_total{kind="bambu"} 1.0' in metrics


async def test_a_print_running_at_start_up_is_discovered(database_url: str, farm: BambuFarm) -> None:
    printer = farm[0]
    await printer.start_print("bracket.gcode.3mf", duration_s=600)
    server = Server(database_url, farm.printer_configs())
    await server.start()
    try:
        [job] = await server.wait_jobs(lambda jobs: len(jobs) == 1)
        assert job["status"] == "running"
        assert job["customer_info"]["discovered_on_startup"] is True
        assert job["customer_info"]["printer_start_time"] is None  # Bambu firmware gives no start time
        discovery = datetime.fromisoformat(job["customer_info"]["discovery_time"])
        assert datetime.fromisoformat(job["start_time"]) == discovery  # no printer start time: discovery time
        assert discovery.utcoffset() == timedelta(0)
        metrics = (await server.client.get("/metrics")).text
        assert 'auto_jobs_startup_detected_total{kind="bambu"} 1.0' in metrics
        assert 'auto_jobs_without_start_time_total{kind="bambu"} 1.0' in metrics
    finally:
        await server.stop()


async def test_a_print_on_a_printer_added_while_running_is_discovered_but_not_on_startup(database_url: str) -> None:
    async with SimulatedPrusaLinkPrinter("mk4-new") as prusa:
        await prusa.start_print("hook.bgcode", duration_s=600)
        server = Server(database_url, [])
        await server.start()
        try:
            config = prusa.printer_config(poll_interval=0.5)
            body = {"id": config.id, "type": "prusalink", "host": config.host, "port": config.port}
            if config.api_key:
                body["api_key"] = config.api_key.reveal()
            else:
                body |= {"username": config.username, "password": config.password.reveal() if config.password else ""}
            assert (await server.client.post("/api/v1/printers", json=body)).status_code == 201
            [job] = await server.wait_jobs(lambda jobs: len(jobs) == 1)
            assert job["customer_info"]["auto_created"] is True
            assert job["customer_info"]["discovered_on_startup"] is False  # no "(on startup)" for a new printer
        finally:
            await server.stop()


async def test_same_file_printed_again_while_the_server_was_down(server: Server, farm: BambuFarm) -> None:
    printer = farm[0]
    await printer.start_print("tag.gcode.3mf", duration_s=600)
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
    assert printer.print is not None
    printer.print.started_at -= 300  # half way through
    # Progress is checkpointed into the job every 15 s of printing, without any state change.
    await server.wait_jobs(lambda jobs: jobs[0]["progress"] is not None and jobs[0]["progress"] > 40, timeout=25)
    await server.stop()
    await printer.cancel()
    await printer.start_print("tag.gcode.3mf", duration_s=600)  # the same file again, from the start
    await server.start()
    jobs = await server.wait_jobs(lambda jobs: statuses(jobs) == ["unknown", "running"])
    assert jobs[0]["end_reason"]


async def test_two_printers_printing_the_same_file_make_two_jobs(server: Server, farm: BambuFarm) -> None:
    await asyncio.gather(*(p.start_print("plate.gcode.3mf", duration_s=30) for p in farm.printers))
    jobs = await server.wait_jobs(lambda jobs: statuses(jobs) == ["running", "running"])
    assert {job["printer_id"] for job in jobs} == {p.printer_id for p in farm.printers}


async def test_a_pending_manual_job_becomes_the_running_job(server: Server, farm: BambuFarm) -> None:
    printer = farm[0]
    manual = await server.client.post(
        "/api/v1/jobs",
        json={"printer_id": printer.printer_id, "filename": "order_42.gcode.3mf", "customer_info": {"name": "Ada"}},
    )
    assert manual.status_code == 201, manual.text
    assert manual.json()["status"] == "pending"
    await printer.start_print("order_42.gcode.3mf", duration_s=30)
    [job] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
    assert job["id"] == manual.json()["id"]
    assert "auto_created" not in job["customer_info"]
    assert job["customer_info"]["name"] == "Ada"


async def test_a_placeholder_after_reconnect_ends_and_creates_nothing(server: Server, farm: BambuFarm) -> None:
    printer = farm[0]
    await printer.start_print("long.gcode.3mf", duration_s=60)
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
    await printer.send_placeholder()
    await asyncio.sleep(0.5)
    assert statuses(await server.jobs()) == ["running"]


async def test_finish_still_shown_after_a_restart_creates_no_job(server: Server, farm: BambuFarm) -> None:
    printer = farm[0]
    await printer.start_print("done.gcode.3mf", duration_s=0.5)
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"])
    await server.stop()
    await server.start()
    await server.wait_printer(printer.printer_id, "finished")
    await asyncio.sleep(0.5)
    assert statuses(await server.jobs()) == ["completed"]


async def test_a_very_short_print_on_a_push_printer_is_not_missed(server: Server, farm: BambuFarm) -> None:
    await farm[0].start_print("tiny.gcode.3mf", duration_s=0.2)
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"])


async def test_a_deleted_auto_job_is_not_recreated_for_its_print(server: Server, farm: BambuFarm) -> None:
    printer = farm[0]
    await printer.start_print("oops.gcode.3mf", duration_s=60)
    [job] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
    assert (await server.client.delete(f"/api/v1/jobs/{job['id']}")).status_code == 204
    await printer.pause()
    await printer.resume()
    await server.stop()
    await server.start()
    await server.wait_printer(printer.printer_id, "printing")
    await asyncio.sleep(0.5)
    assert await server.jobs() == []
    await printer.cancel()
    await printer.start_print("next.gcode.3mf", duration_s=60)  # the next print is tracked again
    await server.wait_jobs(lambda jobs: [j["job_name"] for j in jobs] == ["next"])


async def test_auto_creation_off_then_on_while_a_print_runs(server: Server, farm: BambuFarm) -> None:
    saved = await server.client.put("/api/v1/settings", json={"job_creation_auto_create": False})
    assert saved.json() == {"status": "success", "message": "Settings updated successfully"}
    printer = farm[0]
    await printer.start_print("quiet.gcode.3mf", duration_s=60)
    await server.wait_printer(printer.printer_id, "printing")
    await asyncio.sleep(0.5)
    assert await server.jobs() == []
    await server.client.put("/api/v1/settings", json={"job_creation_auto_create": True})
    [job] = await server.wait_jobs(lambda jobs: len(jobs) == 1)
    assert job["job_name"] == "quiet"
    settings = (await server.client.get("/api/v1/settings")).json()
    assert settings["job_creation_auto_create"] is True


async def test_auto_creation_off_for_one_printer_only(server: Server, farm: BambuFarm) -> None:
    quiet, busy = farm[0], farm[1]
    edited = await server.client.patch(f"/api/v1/printers/{quiet.printer_id}", json={"auto_create_jobs": False})
    assert edited.status_code == 200
    await asyncio.gather(
        quiet.start_print("a.gcode.3mf", duration_s=30), busy.start_print("b.gcode.3mf", duration_s=30)
    )
    await server.wait_printer(quiet.printer_id, "printing")
    jobs = await server.wait_jobs(lambda jobs: len(jobs) == 1)
    assert jobs[0]["printer_id"] == busy.printer_id


async def test_a_deleted_printer_makes_no_new_jobs_and_its_job_ends(server: Server, farm: BambuFarm) -> None:
    gone, other = farm[0], farm[1]
    await gone.start_print("a.gcode.3mf", duration_s=30)
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
    assert (await server.client.delete(f"/api/v1/printers/{gone.printer_id}")).status_code == 204
    jobs = await server.wait_jobs(lambda jobs: statuses(jobs) == ["unknown"])
    assert jobs[0]["end_reason"] == "printer deleted"
    await gone.cancel()
    await gone.start_print("b.gcode.3mf", duration_s=30)
    await other.start_print("c.gcode.3mf", duration_s=30)
    jobs = await server.wait_jobs(lambda jobs: len(jobs) == 2)
    await asyncio.sleep(0.5)
    assert [job["job_name"] for job in await server.jobs()] == ["a", "c"]


async def test_job_events_arrive_after_commit(server: Server, farm: BambuFarm) -> None:
    printer = farm[0]
    collector = asyncio.create_task(
        collect_frames(server.ws_url, {"job_auto_created", "job_updated"}, 4.0, headers=server.headers)
    )
    await asyncio.sleep(0.3)
    await printer.start_print("frame.gcode.3mf", duration_s=1.0)
    frames = await collector
    assert [f["type"] for f in frames] == ["job_auto_created", "job_updated"]
    created, ended = frames
    assert created["data"]["status"] == "running"
    assert ended["data"]["status"] == "completed"
    stored = (await server.client.get(f"/api/v1/jobs/{created['data']['id']}")).json()
    assert stored["status"] == "completed"


async def test_a_prusalink_print_is_one_job_with_its_native_id(database_url: str) -> None:
    async with SimulatedPrusaLinkPrinter("mk4") as prusa:
        server = Server(database_url, [prusa.printer_config(poll_interval=0.5)])
        await server.start()
        try:
            await prusa.start_print("raspberry_pi_case.bgcode", duration_s=3)
            [running] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
            assert running["native_job_id"] is not None
            # The printer reports the file by its 8.3 alias (RASPBE~1.BGC) besides its long name: only the long
            # name reaches the job, the printer's status and the Printers page.
            assert (running["job_name"], running["filename"]) == ("raspberry_pi_case", "/usb/raspberry_pi_case.bgcode")
            printer = (await server.client.get(f"/api/v1/printers/{prusa.printer_id}")).json()
            assert printer["status"]["file_name"] == "/usb/raspberry_pi_case.bgcode"
            assert "~1" not in (await server.client.get("/")).text
            assert running["customer_info"]["printer_start_time"] is not None  # PrusaLink reports time_printing
            jobs = await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"], timeout=20)
            assert jobs[0]["id"] == running["id"]
        finally:
            await server.stop()


async def test_job_api_edits_and_errors(server: Server, farm: BambuFarm) -> None:
    printer = farm[0]
    await printer.start_print("edit_me.gcode.3mf", duration_s=30)
    [job] = await server.wait_jobs(lambda jobs: len(jobs) == 1)
    url = f"/api/v1/jobs/{job['id']}"
    edited = await server.client.patch(
        url, json={"job_name": "Customer part", "is_business": True, "customer_info": {"auto_created": False, "x": 1}}
    )
    assert edited.status_code == 200, edited.text
    body: dict[str, Any] = edited.json()
    assert (body["job_name"], body["is_business"]) == ("Customer part", True)
    assert body["customer_info"]["auto_created"] is True  # the auto-creation keys are kept
    assert body["customer_info"]["x"] == 1
    read_only = await server.client.patch(url, json={"filename": "other.gcode"})
    assert read_only.status_code == 422
    assert "read-only" in read_only.json()["detail"]
    converted = await server.client.post(f"{url}/convert-to-manual")
    assert "auto_created" not in converted.json()["customer_info"]
    assert (await server.client.get("/api/v1/jobs/999999")).status_code == 404
    assert (await server.client.get("/api/v1/jobs", params={"status": "nope"})).status_code == 422
    assert (await server.client.get("/api/v1/jobs", params={"since": "2026-01-01T00:00:00"})).status_code == 422
    filtered = await server.client.get(
        "/api/v1/jobs", params={"auto_created": "false", "printer_id": printer.printer_id}
    )
    assert filtered.json()["total"] == 1


async def test_bambu_mid_print_stages_stay_one_job(server: Server, farm: BambuFarm) -> None:
    printer = farm[0]
    await printer.start_print("multicolour.gcode.3mf", duration_s=60)
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
    # stg_cur 4 changing filament, 2 heatbed preheating, 8 calibrating extrusion (OpenBambuAPI stage table)
    for stage in (4, 2, 8, 0):
        await printer.send_raw(json.dumps({"print": {"command": "push_status", "stg_cur": stage}}).encode())
        await asyncio.sleep(0.2)
    await printer.pause()  # a filament run-out shows as PAUSE
    await printer.resume()
    await asyncio.sleep(0.3)
    assert statuses(await server.jobs()) == ["running"]


async def test_clock_jumps_during_a_print_keep_one_job(database_url: str, farm: BambuFarm) -> None:
    offset = timedelta(0)

    def jumpy_clock() -> datetime:
        return datetime.now(UTC) + offset

    server = Server(database_url, farm.printer_configs(), clock=jumpy_clock)
    await server.start()
    try:
        await server.wait_online()
        printer = farm[0]
        await printer.start_print("clock.gcode.3mf", duration_s=60)
        await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
        for jump in (timedelta(minutes=10), timedelta(minutes=-10), timedelta(minutes=-20)):
            offset += jump
            await printer.pause()
            await printer.resume()
            await asyncio.sleep(0.3)
        await printer.cancel()
        [job] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["cancelled"])
        assert job["duration_seconds"] == 0  # the clock went back past the start: never negative
    finally:
        await server.stop()


async def test_two_processes_on_one_database_make_one_job(empty_postgres_url: str, farm: BambuFarm) -> None:
    # Several processes share PostgreSQL; SQLite refuses a second process (tests/test_cli.py).
    first = Server(empty_postgres_url, farm.printer_configs())
    second = Server(empty_postgres_url, farm.printer_configs())
    await first.start()
    await second.start()
    try:
        await first.wait_online()
        await second.wait_online()
        # Long enough that one process's view lagging the other's by a report or two is not a progress rewind
        # (2 % of the print): with both tracking every printer, each sees the other's progress in the job row.
        await asyncio.gather(*(p.start_print("shared.gcode.3mf", duration_s=6) for p in farm.printers))
        jobs = await first.wait_jobs(lambda jobs: statuses(jobs) == ["completed", "completed"])
        await asyncio.sleep(0.5)
        assert len(await second.jobs()) == 2
        assert sorted(job["printer_id"] for job in jobs) == sorted(p.printer_id for p in farm.printers)
    finally:
        await first.stop()
        await second.stop()


async def test_an_octoprint_print_failed_on_an_error_says_which_in_words(tmp_path: Path) -> None:
    async with SimulatedOctoPrintPrinter("ender", poll_interval=0.5) as octoprint:
        server = Server(f"sqlite+aiosqlite:///{tmp_path}/printfleet.db", [octoprint.printer_config(poll_interval=0.5)])
        async with running(server):
            await octoprint.start_print("hook.gcode", duration_s=60.0)
            await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
            await octoprint.fail()
            [job] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["failed"], timeout=20)
            assert job["end_reason"] == "printer error (OCTOPRINT_LINK_LOST)"
            page = await server.client.get(f"/jobs/{job['id']}")
            assert "OctoPrint lost its connection to the printer" in page.text
