"""A burst on a paced channel (``notifications.rate_limits``): the first messages go at once, the rest one per token,
and every one arrives exactly once, delivered at its first attempt (waiting its turn is not a failure)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from printfleet.domain.events import JobAutoCreated
from printfleet.domain.jobs import Job, JobStatus
from printfleet.sim.bambu import BambuFarm
from tests.e2e.receivers import HttpReceiver
from tests.e2e.test_notifications import add_channel, add_rule, deliveries, started

pytestmark = pytest.mark.usefixtures("mosquitto_binary")


@pytest.fixture
async def farm(tmp_path: Path) -> AsyncIterator[BambuFarm]:
    async with BambuFarm(1, workdir=tmp_path / "bambu", report_interval_s=0.1, prepare_s=0.2) as bambu:
        yield bambu


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    running = HttpReceiver()
    yield running
    await running.stop()


async def test_a_burst_on_a_paced_channel_is_spread_and_nothing_is_lost(
    database_url: str, farm: BambuFarm, receiver: HttpReceiver
) -> None:
    await receiver.start()
    server = await started(database_url, farm, rate_limits={"apprise": {"per_minute": 60, "burst": 2}})
    try:
        channel = await add_channel(
            server, kind="apprise", name="chat", url=f"json://127.0.0.1:{receiver.port}/apprise"
        )
        await add_rule(server, channel["id"], ["print_started"])
        printer = farm.printer_configs()[0].id
        now = datetime.now(UTC)
        loop = asyncio.get_running_loop()
        published = loop.time()
        for n in range(5):  # five prints seen starting at once, as the job tracker announces them
            job = Job(
                id=9000 + n,
                printer_id=printer,
                printer_type="bambu",
                job_name=f"part {n}",
                filename=f"part_{n}.gcode.3mf",
                status=JobStatus.RUNNING,
                progress=0.0,
                created_at=now,
                start_time=now,
                end_time=None,
                duration_seconds=None,
            )
            server.runtime.bus.publish(JobAutoCreated(job=job))
        arrived: list[float] = []  # when the receiver had 1, 2, ... 5 requests
        deadline = loop.time() + 30
        while len(arrived) < 5 and loop.time() < deadline:
            count = len(receiver.on("/apprise"))
            arrived += [loop.time()] * (count - len(arrived))
            await asyncio.sleep(0.02)
        assert len(arrived) == 5, f"only {len(arrived)} of 5 arrived"
        assert arrived[1] - arrived[0] < 1.0  # the burst allowance goes together
        # then one a second: the fifth send starts 3 s after the first two, which start once the burst is queued;
        # measured from the publication, not from an arrival, so that a slow send on a loaded machine (1.5 s seen)
        # cannot shorten the span. Unpaced, all five arrive within about a second.
        assert arrived[4] - published >= 2.8
        await asyncio.sleep(0.5)
        assert len(receiver.on("/apprise")) == 5  # each once
        history = await deliveries(server, channel["id"])
        assert [(d["state"], d["attempts"]) for d in history] == [("delivered", 1)] * 5
    finally:
        await server.stop()
