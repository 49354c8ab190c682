"""The scheduled-print API with ``schedule.members_may_schedule`` on: members schedule, change and cancel their own
prints only; the WebSocket announces each change; bad input is refused with a reason."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from printfleet.domain.accounts.roles import Role
from printfleet.sim.samples import demo_samples
from tests.api.conftest import RunningServer, admin_headers, start_server
from tests.e2e.harness import collect_frames
from tests.files_samples import bambu_3mf
from tests.support_accounts import bearer_headers


@pytest.fixture
async def members_schedule(tmp_path: Path) -> AsyncIterator[RunningServer]:
    uv, task, base_url = await start_server(
        f"sqlite+aiosqlite:///{tmp_path}/printfleet.db",
        files={"directory": str(tmp_path / "files")},
        schedule={"members_may_schedule": True},
    )
    headers = await admin_headers(uv)
    async with httpx.AsyncClient(base_url=base_url, timeout=10, headers=headers) as client:
        yield RunningServer(base_url=base_url, client=client, runtime=uv.config.app.state.runtime, headers=headers)
    uv.should_exit = True
    await asyncio.wait_for(task, 15)


async def _file(server: RunningServer) -> int:
    name, content = next(iter(demo_samples()))
    response = await server.client.post("/api/v1/files", files={"file": (name, content)})
    file_id: int = response.json()["id"]
    return file_id


async def test_members_schedule_change_and_cancel_their_own_prints_only(members_schedule: RunningServer) -> None:
    server = members_schedule
    file_id = await _file(server)
    mia = await bearer_headers(server.runtime.accounts, username="mia", role=Role.MEMBER)
    max_ = await bearer_headers(server.runtime.accounts, username="max", role=Role.MEMBER)
    ws_url = server.base_url.replace("http://", "ws://") + "/ws"
    frames = asyncio.create_task(collect_frames(ws_url, {"scheduled_print_updated"}, 2.5, headers=server.headers))
    await asyncio.sleep(0.3)

    created = await server.client.post("/api/v1/scheduled-prints", json={"file_id": file_id}, headers=mia)
    assert created.status_code == 201, created.text
    [mine] = created.json()
    assert mine["estimated_duration_minutes"] == 95  # the sample cube's plate, from the file
    assert mine["status"] == "queued"

    others = await server.client.patch(f"/api/v1/scheduled-prints/{mine['id']}", json={"priority": 5}, headers=max_)
    assert others.status_code == 403
    changed = await server.client.put(f"/api/bambu/scheduled-prints/{mine['id']}", json={"priority": 5}, headers=mia)
    assert changed.json()["priority"] == 5
    assert (await server.client.delete(f"/api/bambu/scheduled-prints/{mine['id']}", headers=max_)).status_code == 403
    cancelled = await server.client.post(f"/api/v1/scheduled-prints/{mine['id']}/cancel", headers=mia)
    assert cancelled.json()["status"] == "cancelled"
    again = await server.client.post(f"/api/v1/scheduled-prints/{mine['id']}/cancel", headers=mia)
    assert again.status_code == 409

    seen = [(f["data"]["id"], f["data"]["status"], f["data"]["priority"]) for f in await frames]
    assert seen == [(mine["id"], "queued", 0), (mine["id"], "queued", 5), (mine["id"], "cancelled", 5)]
    mine_only = await server.client.get("/api/v1/scheduled-prints", params={"created_by": mine["created_by"]})
    assert mine_only.json()["total"] == 1


async def test_refused_input_says_why(members_schedule: RunningServer) -> None:
    server = members_schedule
    file_id = await _file(server)
    post = server.client.post
    unknown = await post("/api/v1/scheduled-prints", json={"file_id": file_id, "printer_id": "nope"})
    assert unknown.status_code == 404
    assert (await post("/api/v1/scheduled-prints", json={"file_id": 999})).status_code == 404
    after_nothing = await post("/api/v1/scheduled-prints", json={"file_id": file_id, "depends_on": 999})
    assert after_nothing.status_code == 404
    backwards = await post(
        "/api/v1/scheduled-prints",
        json={"file_id": file_id, "scheduled_start": "2026-12-24T10:00:00Z", "finish_by": "2026-12-24T09:00:00Z"},
    )
    assert backwards.status_code == 422
    assert "finish_by" in backwards.text
    naive = await server.client.get("/api/v1/scheduled-prints", params={"since": "2026-12-24T10:00:00"})
    assert naive.status_code == 422
    waiting = await post(
        "/api/v1/scheduled-prints", json={"file_id": file_id, "scheduled_start": "2099-01-01T00:00:00+00:00"}
    )
    assert waiting.json()[0]["status"] == "waiting"
    listed = await server.client.get("/api/v1/scheduled-prints", params={"status": "waiting"})
    assert [p["id"] for p in listed.json()["scheduled_prints"]] == [waiting.json()[0]["id"]]


async def test_temperatures_other_than_the_files_are_refused_with_the_files_own(
    members_schedule: RunningServer,
) -> None:
    server = members_schedule
    upload = await server.client.post("/api/v1/files", files={"file": ("cube.gcode.3mf", bambu_3mf())})
    file_id = upload.json()["id"]  # plate 1: filament 1 sliced for a 220 °C nozzle, a 55 °C textured PEI plate

    hotter = await server.client.post("/api/v1/scheduled-prints", json={"file_id": file_id, "nozzle_temp": 250})
    assert hotter.status_code == 422
    assert "nozzle_temp 250 °C, but the file is sliced for 220 °C" in hotter.text
    near = await server.client.post(
        "/api/v1/scheduled-prints", json={"file_id": file_id, "nozzle_temp": 222, "bed_temp": 55}
    )
    assert near.status_code == 201, near.text
    [created] = near.json()
    changed = await server.client.patch(f"/api/v1/scheduled-prints/{created['id']}", json={"bed_temp": 90})
    assert changed.status_code == 422
    assert "bed_temp 90 °C, but the file is sliced for 55 °C" in changed.text
