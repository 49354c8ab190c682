"""A print on the real OctoPrint (virtual printer) becomes exactly one job, created and then completed."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from printfleet.services.dispatch.service import DispatchTimings
from tests.e2e.harness import Server, statuses
from tests.printers.octoprint.conftest import OctoPrintServer
from tests.printers.octoprint.recorder import octoprint_config
from tests.printers.print_requests import dwell_gcode


async def test_a_print_on_real_octoprint_is_one_job_then_completed(
    octoprint: OctoPrintServer, database_url: str
) -> None:
    server = Server(database_url, [octoprint_config(octoprint.url, octoprint.api_key, poll_interval=0.5)])
    await server.start()
    try:
        await server.wait_online()
        name = f"octo-job-{uuid.uuid4().hex[:8]}.gcode"
        await asyncio.to_thread(lambda: octoprint.upload("dwell_short.gcode", as_name=name))
        [running] = await server.wait_jobs(lambda jobs: len(jobs) == 1)
        assert running["job_name"] == name.removesuffix(".gcode")
        assert running["printer_type"] == "octoprint"
        jobs = await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"], timeout=30)
        assert jobs[0]["id"] == running["id"]
        assert jobs[0]["duration_seconds"] is not None
        await asyncio.sleep(1.5)  # OctoPrint keeps the finished file selected: it must not start another job
        assert statuses(await server.jobs()) == ["completed"]
    finally:
        await server.stop()


async def test_a_print_printfleet_sends_to_real_octoprint_is_one_job_carrying_the_file(
    octoprint: OctoPrintServer, database_url: str, tmp_path: Path
) -> None:
    server = Server(
        database_url,
        [octoprint_config(octoprint.url, octoprint.api_key, poll_interval=0.5)],
        files={"directory": str(tmp_path / "lib")},
        dispatch_timings=DispatchTimings(confirm_window_s=5.0, confirm_extension_s=2.0, poll_s=0.05),
    )
    await server.start()
    try:
        await server.wait_online()
        name = f"sent-{uuid.uuid4().hex[:8]}.gcode"
        uploaded = await server.client.post(
            "/api/v1/files", files={"file": (name, dwell_gcode(3.0), "application/octet-stream")}
        )
        assert uploaded.status_code in (200, 201), uploaded.text
        file_id = uploaded.json()["id"]
        await asyncio.to_thread(lambda: octoprint.wait_until(lambda: octoprint.flags().get("ready"), timeout_s=10))

        response = await server.client.post("/api/v1/printers/op-test/print", json={"file_id": file_id})
        assert response.status_code == 202, response.text
        dispatch_id = response.json()["id"]
        jobs = await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"], timeout=30)
        dispatch = (await server.client.get(f"/api/v1/dispatches/{dispatch_id}")).json()
        printed = await asyncio.to_thread(lambda: octoprint.request("GET", "/api/job").json()["job"]["file"]["path"])
    finally:
        await server.stop()

    assert dispatch["state"] == "started"
    assert jobs[0]["id"] == dispatch["job_id"]
    assert jobs[0]["file_id"] == str(file_id)
    assert jobs[0]["dispatch_id"] == dispatch_id
    assert printed == name
