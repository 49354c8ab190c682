"""A print on the real OctoPrint (virtual printer) becomes exactly one job, created and then completed."""

from __future__ import annotations

import asyncio
import uuid

from tests.e2e.harness import Server, statuses
from tests.printers.octoprint.conftest import OctoPrintServer
from tests.printers.octoprint.recorder import octoprint_config


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
