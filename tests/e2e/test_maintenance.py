"""Maintenance end to end: a real printfleet server counts the prints a simulated Bambu Lab printer runs (MQTT through
a real broker), shows where each task stands, announces ``maintenance_due`` once per crossing to a signed webhook on a
loopback receiver, and starts the counter again when an operator marks the task done; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from printfleet.domain.accounts.roles import Role
from printfleet.sim.bambu import BambuFarm
from tests.e2e.harness import Server, statuses
from tests.e2e.receivers import HttpReceiver
from tests.support_accounts import bearer_headers

pytestmark = pytest.mark.usefixtures("mosquitto_binary")

SECRET = "whsec_" + base64.b64encode(b"printfleet-test-signing-key-32by").decode()


@pytest.fixture
async def farm(tmp_path: Path) -> AsyncIterator[BambuFarm]:
    async with BambuFarm(1, workdir=tmp_path / "bambu", report_interval_s=0.1, prepare_s=0.1) as bambu:
        yield bambu


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    running = HttpReceiver()
    await running.start()
    yield running
    await running.stop()


def _server(database_url: str, farm: BambuFarm) -> Server:
    return Server(database_url, farm.printer_configs(), notifications={"retry_initial": 0.2, "retry_max": 0.5})


async def _print(server: Server, farm: BambuFarm, ended: int) -> None:
    await farm[0].start_print(f"part-{ended}.gcode.3mf", duration_s=0.4)
    await server.wait_jobs(lambda jobs: statuses(jobs).count("completed") == ended, timeout=20)


async def _standing(server: Server) -> dict[str, Any]:
    response = await server.client.get("/api/v1/maintenance/status")
    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    result: dict[str, Any] = item
    return result


async def test_a_task_falls_due_after_its_prints_is_announced_once_and_starts_again_when_done(
    database_url: str, farm: BambuFarm, receiver: HttpReceiver
) -> None:
    server = _server(database_url, farm)
    await server.start()
    await server.wait_online()
    try:
        channel = await server.client.post(
            "/api/v1/notifications/channels",
            json={"kind": "webhook", "name": "shop", "url": f"{receiver.url}/hook", "secret": SECRET},
        )
        assert channel.status_code == 201, channel.text
        rule = {"channel_id": channel.json()["id"], "events": ["maintenance_due"], "printer_ids": []}
        assert (await server.client.post("/api/v1/notifications/rules", json=rule)).status_code == 201
        body = {"name": "Clean the nozzle", "interval": 3, "unit": "jobs", "warn_fraction": 0.4}
        task = await server.client.post("/api/v1/maintenance/tasks", json=body)
        assert task.status_code == 201, task.text
        task_id = task.json()["id"]

        await _print(server, farm, 1)
        await _print(server, farm, 2)
        standing = await _standing(server)
        assert (standing["used"], standing["level"]) == (2, "due_soon")  # 60 % of the interval reached
        await _print(server, farm, 3)
        await receiver.wait_for(lambda: len(receiver.on("/hook")) == 1)
        standing = await _standing(server)
        assert (standing["used"], standing["level"], standing["percent"]) == (3, "due", 100.0)
        due = receiver.on("/hook")[0].json()
        assert receiver.webhook_events("/hook", SECRET) == ["maintenance_due"]
        assert due["data"]["title"] == f"Maintenance due: Clean the nozzle on {farm[0].printer_id}"
        assert due["data"]["maintenance"]["task_id"] == task_id

        await _print(server, farm, 4)  # still due: not announced again, not after a restart either
        await server.stop()
        await server.start()
        await server.wait_online()
        await asyncio.sleep(1.0)
        assert len(receiver.on("/hook")) == 1

        path = f"/api/v1/maintenance/tasks/{task_id}/printers/{farm[0].printer_id}/done"
        member = await bearer_headers(server.runtime.accounts, username="mo", role=Role.MEMBER)
        refused = await server.client.post(path, json={}, headers=member)
        assert (refused.status_code, refused.json()["permission"]) == (403, "maintenance.manage")
        done = await server.client.post(path, json={"notes": "new nozzle wiper too"})
        assert done.status_code == 200, done.text
        assert (done.json()["used"], done.json()["level"]) == (0, "ok")
        await _print(server, farm, 5)
        standing = await _standing(server)
        assert (standing["used"], standing["level"], standing["last_notes"]) == (1, "ok", "new nozzle wiper too")
        log = (await server.client.get("/api/v1/maintenance/log")).json()["items"]
        assert [(line["task_id"], line["counter"], line["notes"]) for line in log] == [
            (task_id, 4.0, "new nozzle wiper too")
        ]
    finally:
        await server.stop()


async def test_print_hours_count_with_the_printers_past_and_tasks_cover_only_their_printers(
    database_url: str, farm: BambuFarm
) -> None:
    server = _server(database_url, farm)
    await server.start()
    await server.wait_online()
    try:
        printer_id = farm[0].printer_id
        hours = await server.client.post(
            "/api/v1/maintenance/tasks", json={"name": "Lubricate rods", "interval": 100, "unit": "print_hours"}
        )
        other = await server.client.post(
            "/api/v1/maintenance/tasks",
            json={"name": "Replace PTFE tube", "interval": 5, "unit": "days", "printer_id": "elsewhere"},
        )
        assert (hours.status_code, other.status_code) == (201, 201)
        offset = await server.client.put(
            f"/api/v1/maintenance/tasks/{hours.json()['id']}/printers/{printer_id}/offset", json={"offset": 95.5}
        )
        assert offset.status_code == 200, offset.text
        assert offset.json()["level"] == "due_soon"
        standing = await _standing(server)  # the other task covers a printer this farm does not have
        assert (standing["task_name"], standing["used"], standing["remaining"]) == ("Lubricate rods", 95.5, 4.5)
        bad = await server.client.post("/api/v1/maintenance/tasks", json={"name": "x", "interval": 0, "unit": "days"})
        assert bad.status_code == 422
        missing = await server.client.post(f"/api/v1/maintenance/tasks/{other.json()['id']}/printers/{printer_id}/done")
        assert missing.status_code == 404
    finally:
        await server.stop()
