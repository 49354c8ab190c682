"""What each role is shown: the printer cards' controls, the navigation and the queue's admin section follow the
role (the server refuses the actions anyway), on the page and in the live fragments."""

from __future__ import annotations

import asyncio

import pytest
import websockets

from printfleet.domain.accounts.roles import Role
from printfleet.sim.bambu import BambuFarm
from tests.e2e.harness import Server
from tests.support_accounts import bearer_headers

pytestmark = pytest.mark.usefixtures("mosquitto_binary")


@pytest.mark.printers(1)
async def test_only_those_who_may_control_printers_see_pause_and_stop(server: Server, farm: BambuFarm) -> None:
    await farm[0].start_print("gear.gcode.3mf", duration_s=60)
    await server.wait_jobs(lambda jobs: len(jobs) == 1)
    viewer = await bearer_headers(server.runtime.accounts, username="wall", role=Role.VIEWER)
    operator = await bearer_headers(server.runtime.accounts, username="op", role=Role.OPERATOR)

    as_operator = (await server.client.get("/", headers=operator)).text
    as_viewer = (await server.client.get("/", headers=viewer)).text
    assert "/command/pause" in as_operator
    assert "/command/stop" in as_operator
    assert "/command/pause" not in as_viewer
    assert "/command/stop" not in as_viewer
    assert 'href="/settings"' in as_viewer  # a viewer reads the settings
    assert 'href="/users"' not in as_operator  # only admins manage users
    refused = await server.client.post(
        f"/ui/printers/{farm[0].printer_id}/command/pause", headers={**viewer, "HX-Request": "true"}
    )
    assert refused.status_code == 403

    ws_url = server.base_url.replace("http://", "ws://") + "/ui/ws?view=printers&lang=en"
    async with websockets.connect(ws_url, additional_headers=viewer) as ws:
        snapshot = str(await asyncio.wait_for(ws.recv(), 5))
    assert farm[0].printer_id in snapshot
    assert "/command/pause" not in snapshot
