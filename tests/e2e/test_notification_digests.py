"""Digests end to end: a rule's messages held until its next sending moment and sent as one signed webhook that lists
them; a failed print still goes out at once; the digest can be set, read and removed through the API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from printfleet.sim.bambu import BambuFarm
from printfleet.store.notification_tables import NotificationRow
from tests.e2e.harness import statuses
from tests.e2e.receivers import HttpReceiver
from tests.e2e.test_notifications import SECRET, add_channel, deliveries, started

pytestmark = pytest.mark.usefixtures("mosquitto_binary")


@pytest.fixture
async def farm(tmp_path: Path) -> AsyncIterator[BambuFarm]:
    async with BambuFarm(2, workdir=tmp_path / "bambu", report_interval_s=0.1, prepare_s=0.2) as bambu:
        yield bambu


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    running = HttpReceiver()
    yield running
    await running.stop()


async def test_an_hourly_digest_sends_the_hours_messages_as_one_and_a_failure_at_once(
    database_url: str, farm: BambuFarm, receiver: HttpReceiver
) -> None:
    await receiver.start()
    server = await started(database_url, farm)
    try:
        channel = await add_channel(server, kind="webhook", name="summary", url=f"{receiver.url}/hook", secret=SECRET)
        body = {
            "channel_id": channel["id"],
            "events": ["print_started", "print_finished", "print_failed"],
            "digest": {"period": "hourly", "timezone": "Europe/Berlin"},
        }
        created = await server.client.post("/api/v1/notifications/rules", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["digest"] == {"period": "hourly", "at": "08:00", "timezone": "Europe/Berlin"}

        first, second = farm[0], farm[1]
        await first.start_print("benchy.gcode.3mf", duration_s=0.6)
        await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"])
        await second.start_print("vase.gcode.3mf", duration_s=600)
        await server.wait_jobs(lambda jobs: sorted(statuses(jobs)) == ["completed", "running"])
        await second.fail()
        await receiver.wait_for(lambda: len(receiver.on("/hook")) == 1)
        assert receiver.webhook_events("/hook", SECRET) == ["print_failed"]  # never held for a digest

        held = [d for d in await deliveries(server, channel["id"]) if d["state"] == "pending"]
        assert sorted(d["event"] for d in held) == ["print_finished", "print_started", "print_started"]
        for row in held:  # each waits for the top of the hour after it was written (Berlin's hours are UTC's)
            written = datetime.fromisoformat(row["created_at"])
            top_of_next_hour = written.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            assert datetime.fromisoformat(row["next_attempt_at"]) == top_of_next_hour

        # The hour is over (moved forward in the store rather than waited for).
        async with server.runtime.database.transaction() as session:
            await session.execute(
                update(NotificationRow)
                .where(NotificationRow.state == "pending")
                .values(next_attempt_at=datetime.now(UTC))
            )
        await receiver.wait_for(lambda: len(receiver.on("/hook")) == 2, timeout=15)
        assert receiver.webhook_events("/hook", SECRET) == ["print_failed", "digest"]
        digest = receiver.on("/hook")[1].json()["data"]
        assert digest["title"] == "printfleet: 3 notifications"
        assert [item["event"] for item in digest["digest"]] == ["print_started", "print_finished", "print_started"]
        for _ in range(100):  # the rows are marked delivered just after the receiver answered
            if all(d["state"] == "delivered" for d in await deliveries(server, channel["id"])):
                break
            await asyncio.sleep(0.05)
        assert [d["state"] for d in await deliveries(server, channel["id"])] == ["delivered"] * 4
    finally:
        await server.stop()


async def test_a_digest_needs_a_real_time_zone_and_can_be_removed(database_url: str, farm: BambuFarm) -> None:
    server = await started(database_url, farm)
    try:
        channel = await add_channel(server, kind="webhook", name="d", url="http://127.0.0.1:9/hook", secret=SECRET)
        body = {
            "channel_id": channel["id"],
            "events": ["print_finished"],
            "digest": {"period": "daily", "timezone": "Mars/Olympus"},
        }
        refused = await server.client.post("/api/v1/notifications/rules", json=body)
        assert refused.status_code == 422
        assert "unknown time zone" in refused.text
        body["digest"] = {"period": "daily", "at": "18:30", "timezone": "America/New_York"}
        rule = (await server.client.post("/api/v1/notifications/rules", json=body)).json()
        assert rule["digest"] == {"period": "daily", "at": "18:30", "timezone": "America/New_York"}
        removed = await server.client.patch(f"/api/v1/notifications/rules/{rule['id']}", json={"digest": None})
        assert removed.status_code == 200
        assert removed.json()["digest"] is None
    finally:
        await server.stop()
