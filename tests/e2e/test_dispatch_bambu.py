"""Sending a print to a Bambu Lab printer from printfleet, end to end.

Simulated printers speak MQTT over TLS through mosquitto and serve implicit FTPS (refusing a data connection that
does not reuse the TLS session, as the firmware does); the simulator prints the uploaded 3MF for its plate's
predicted time, sped up. A real printfleet server on SQLite and on PostgreSQL; assertions read the public API.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from printfleet.domain.accounts.roles import Role
from printfleet.services.dispatch.steps import DispatchTimings
from printfleet.sim.bambu import BambuFarm
from printfleet.sim.base import SimPhase
from tests.e2e.harness import Server, collect_frames, running, statuses
from tests.files_samples import bambu_3mf
from tests.support_accounts import bearer_headers

pytestmark = pytest.mark.usefixtures("mosquitto_binary")

FAST = DispatchTimings(confirm_window_s=1.5, confirm_extension_s=1.0, poll_s=0.05, reconcile_wait_s=10)


@pytest.fixture
async def farm(tmp_path: Path) -> AsyncIterator[BambuFarm]:
    # Plate 1 of the sample is predicted at 5,935 s: about 2 s at 3,000 times the speed.
    async with BambuFarm(
        2, workdir=tmp_path / "bambu", report_interval_s=0.1, prepare_s=0.2, speed_factor=3000
    ) as bambu:
        yield bambu


def _server(database_url: str, farm: BambuFarm, tmp_path: Path) -> Server:
    return Server(
        database_url, farm.printer_configs(), files={"directory": str(tmp_path / "lib")}, dispatch_timings=FAST
    )


@pytest.fixture
async def server(database_url: str, farm: BambuFarm, tmp_path: Path) -> AsyncIterator[Server]:
    async with running(_server(database_url, farm, tmp_path)) as started:
        yield started


@pytest.fixture
async def sqlite_server(sqlite_database_url: str, farm: BambuFarm, tmp_path: Path) -> AsyncIterator[Server]:
    """The server on SQLite only: for the retry tests, whose subject (the printer dropping starts) is the same on
    both stores and whose waits are long."""
    async with running(_server(sqlite_database_url, farm, tmp_path)) as started:
        yield started


async def test_a_sent_3mf_prints_as_one_job_carrying_the_file_and_the_sender(server: Server, farm: BambuFarm) -> None:
    printer = farm[0]
    content = bambu_3mf()
    file_id = await server.upload("Cube (v2).gcode.3mf", content)
    frames = asyncio.create_task(
        collect_frames(server.ws_url, {"dispatch_updated", "printer_status_update"}, 6, headers=server.headers)
    )
    await asyncio.sleep(0.3)  # the WebSocket is subscribed

    response = await server.client.post(f"/api/v1/printers/{printer.printer_id}/print", json={"file_id": file_id})
    assert response.status_code == 202, response.text
    dispatch = response.json()
    assert dispatch["state"] == "pending"
    assert dispatch["job_name"] == "Cube (v2)"

    started = await server.wait_dispatch(dispatch["id"], "started")
    assert started["attempts"] == 1
    [job] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"], timeout=20)
    assert job["id"] == dispatch["job_id"] == started["job_id"]
    assert job["file_id"] == str(file_id)
    assert job["dispatch_id"] == dispatch["id"]
    assert job["requested_by"] is not None
    assert job["customer_info"].get("auto_created") is None  # printfleet sent it: not an auto-created job
    assert job["job_name"] == "Cube (v2)"

    [command] = printer.start_commands  # exactly one start
    assert command["command"] == "project_file"
    assert command["param"] == "Metadata/plate_1.gcode"
    assert command["subtask_name"] == "Cube (v2)"
    assert command["url"] == "ftp:///Cube_v2.gcode.3mf"
    assert (printer.ftps.root / "Cube_v2.gcode.3mf").read_bytes() == content  # type: ignore[union-attr]

    received = await frames
    seen = [
        f["data"]["state"] for f in received if f["type"] == "dispatch_updated" and f["data"]["id"] == dispatch["id"]
    ]
    assert seen == ["pending", "uploading", "uploaded", "starting", "started"]
    # The printer's own status says a print is being sent while it is, and nothing once it started.
    sending = [
        f["data"]["status"]["sending"]
        for f in received
        if f["type"] == "printer_status_update" and f["data"]["id"] == printer.printer_id
    ]
    assert {"uploading", "starting"} <= set(sending)
    assert sending[-1] is None


async def test_a_start_the_printer_drops_is_sent_again_then_fails_not_confirmed(
    sqlite_server: Server, farm: BambuFarm
) -> None:
    server = sqlite_server
    printer = farm[0]
    printer.drop_starts = 3
    file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
    dispatch = await server.send(printer.printer_id, file_id)
    failed = await server.wait_dispatch(dispatch["id"], "failed", timeout=30)
    assert failed["error"] == "not_confirmed"
    assert failed["attempts"] == 3
    assert len(printer.start_commands) == 3
    ids = {command["task_id"] for command in printer.start_commands}
    assert len(ids) == 3  # a fresh task id per attempt
    [job] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["cancelled"])
    assert "not_confirmed" in job["end_reason"]


async def test_one_dropped_start_is_retried_and_the_print_runs(sqlite_server: Server, farm: BambuFarm) -> None:
    server = sqlite_server
    printer = farm[0]
    printer.drop_starts = 1
    file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
    dispatch = await server.send(printer.printer_id, file_id)
    started = await server.wait_dispatch(dispatch["id"], "started", timeout=30)
    assert started["attempts"] == 2
    assert len(printer.start_commands) == 2
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"], timeout=20)


async def test_the_printer_leaving_the_network_mid_upload_fails_the_upload_and_a_new_send_works(
    server: Server, farm: BambuFarm
) -> None:
    printer = farm[0]
    assert printer.ftps is not None
    content = bambu_3mf(padding=os.urandom(400_000))  # incompressible: the upload is really 400 kB
    printer.ftps.drop_during_upload(after_bytes=64_000, offline_s=1.0)
    file_id = await server.upload("big.gcode.3mf", content)
    first = await server.send(printer.printer_id, file_id)
    failed = await server.wait_dispatch(first["id"], "failed", timeout=30)
    assert failed["error"] == "upload_failed"
    assert printer.start_commands == []  # nothing was started from a partial file

    await asyncio.sleep(1.2)  # the printer is back
    again = await server.send(printer.printer_id, file_id)
    await server.wait_dispatch(again["id"], "started", timeout=30)
    jobs = await server.wait_jobs(lambda jobs: statuses(jobs) == ["cancelled", "completed"], timeout=20)
    assert jobs[1]["dispatch_id"] == again["id"]


async def test_a_restart_while_starting_adopts_the_print_and_never_starts_it_twice(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    printer = farm[0]
    printer.start_latency_s = 1.0  # the printer takes a moment to show the print: the server stops before it does
    server = _server(database_url, farm, tmp_path)
    await server.start()
    await server.wait_online()
    file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
    dispatch = await server.send(printer.printer_id, file_id)
    await server.wait_dispatch(dispatch["id"], "starting")
    await server.stop()  # the start is out; the server goes down before it sees the print

    again = _server(database_url, farm, tmp_path)
    await again.start()
    try:
        started = await again.wait_dispatch(dispatch["id"], "started")
        assert started["attempts"] == 1
        [job] = await again.wait_jobs(lambda jobs: statuses(jobs) == ["completed"], timeout=20)
        assert job["dispatch_id"] == dispatch["id"]
        assert len(printer.start_commands) == 1
    finally:
        await again.stop()


async def test_a_print_that_ran_while_the_server_was_down_is_adopted_and_never_started_again(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    printer = farm[0]
    printer.start_latency_s = 1.0  # the server stops before the printer shows the print
    server = _server(database_url, farm, tmp_path)
    await server.start()
    await server.wait_online()
    file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
    dispatch = await server.send(printer.printer_id, file_id)
    await server.wait_dispatch(dispatch["id"], "starting")
    await server.stop()
    for _ in range(200):  # the whole print runs and ends while nobody watches
        if printer.print is not None and printer.print.tick() is SimPhase.FINISHED:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the simulated print did not finish")

    again = _server(database_url, farm, tmp_path)
    await again.start()
    try:
        started = await again.wait_dispatch(dispatch["id"], "started")
        assert started["attempts"] == 1
        await asyncio.sleep(FAST.confirm_window_s + 0.5)  # a second start would have gone out by now
        assert len(printer.start_commands) == 1
        [job] = await again.wait_jobs(lambda jobs: statuses(jobs) == ["completed"], timeout=20)
        assert job["dispatch_id"] == dispatch["id"]
        status = await again.wait_printer(printer.printer_id, "finished")
        assert status["status"]["plate_needs_clearing"] is True
    finally:
        await again.stop()


async def test_an_ended_print_that_may_be_an_earlier_one_of_the_same_file_is_never_started_again(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    printer = farm[0]
    server = _server(database_url, farm, tmp_path)
    await server.start()
    await server.wait_online()
    file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
    first = await server.send(printer.printer_id, file_id)
    await server.wait_dispatch(first["id"], "started")
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"], timeout=20)
    cleared = await server.client.post(f"/api/v1/printers/{printer.printer_id}/plate-cleared", json={"outcome": "good"})
    assert cleared.status_code == 200, cleared.text

    printer.start_latency_s = 1.0
    printer.drop_starts = 1  # the printer ignores this start: it still shows the first print's end
    second = await server.send(printer.printer_id, file_id)
    await server.wait_dispatch(second["id"], "starting")
    await server.stop()

    again = _server(database_url, farm, tmp_path)
    await again.start()
    try:
        failed = await again.wait_dispatch(second["id"], "failed")
        assert failed["error"] == "not_confirmed"
        assert "not started again" in failed["detail"]
        await asyncio.sleep(FAST.confirm_window_s + 0.5)
        assert len(printer.start_commands) == 2  # nothing sent after the restart
    finally:
        await again.stop()


async def test_a_busy_printer_is_refused_and_sent_nothing(server: Server, farm: BambuFarm) -> None:
    printer = farm[1]
    await printer.start_print("long.gcode.3mf", duration_s=60)
    await server.wait_printer(printer.printer_id, "printing")
    file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
    refused = await server.client.post(f"/api/v1/printers/{printer.printer_id}/print", json={"file_id": file_id})
    assert refused.status_code == 409
    assert refused.json()["reason"] == "printer_busy"
    assert printer.start_commands == []
    assert printer.ftps is not None
    assert not (printer.ftps.root / "cube.gcode.3mf").exists()  # nothing was uploaded either


async def test_a_member_prints_on_the_printer_the_queue_offered_them_and_the_print_joins_their_entry(
    server: Server, farm: BambuFarm
) -> None:
    member = await bearer_headers(server.runtime.accounts, username="mo", role=Role.MEMBER)
    await farm[1].start_print("long.gcode.3mf", duration_s=60)  # only printer 1 is free
    await server.wait_printer(farm[1].printer_id, "printing")
    joined = await server.client.post("/api/v1/queue", headers=member, json={"job_name": "cube", "estimate": "1h"})
    assert joined.status_code == 201, joined.text
    entry = joined.json()["entry"]
    assert entry["status"] == "offered"
    assert entry["printer_id"] == farm[0].printer_id

    file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
    elsewhere = await server.client.post(
        f"/api/v1/printers/{farm[1].printer_id}/print", json={"file_id": file_id}, headers=member
    )
    assert elsewhere.status_code == 409  # not the member's printer
    sent = await server.client.post(
        f"/api/v1/printers/{farm[0].printer_id}/print", json={"file_id": file_id}, headers=member
    )
    assert sent.status_code == 202, sent.text
    await server.wait_dispatch(sent.json()["id"], "started")
    [job] = await server.wait_jobs(lambda jobs: "completed" in statuses(jobs), printer_id=farm[0].printer_id)
    assert job["queue_entry_id"] == entry["id"]
    assert job["dispatch_id"] == sent.json()["id"]
    mine = (await server.client.get("/api/v1/dispatches", headers=member)).json()
    assert [d["id"] for d in mine["dispatches"]] == [sent.json()["id"]]
