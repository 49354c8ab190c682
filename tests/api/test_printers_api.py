"""The printers REST API: add, edit, delete at run time; secrets are write-only; errors are 4xx with a reason."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.api.conftest import RunningServer, admin_headers, start_server
from tests.support import free_port

ACCESS_CODE = "AC-7731-secret"
PASSWORD = "pw-9931-secret"
API_KEY = "KEY-5512-secret"


def unreachable_bambu(printer_id: str = "x1c-1") -> dict[str, object]:
    return {
        "id": printer_id,
        "name": "X1C One",
        "type": "bambu",
        "host": "127.0.0.1",
        "port": free_port(),
        "serial": "01S00C000000001",
        "access_code": ACCESS_CODE,
        "tls_insecure": True,
    }


async def wait_for_state(server: RunningServer, printer_id: str, reason: str, timeout: float = 10.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = (await server.client.get(f"/api/v1/printers/{printer_id}")).json()
        if body["status"]["offline_reason"] == reason:
            return body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.1)


async def test_added_printer_is_listed_without_its_secret(server: RunningServer) -> None:
    created = await server.client.post("/api/v1/printers", json=unreachable_bambu())
    assert created.status_code == 201, created.text
    assert created.json()["has_access_code"] is True
    assert "access_code" not in created.json()
    listed = await server.client.get("/api/v1/printers")
    assert [p["id"] for p in listed.json()["printers"]] == ["x1c-1"]
    assert ACCESS_CODE not in listed.text


async def test_unreachable_printer_is_offline_with_reason(server: RunningServer) -> None:
    await server.client.post("/api/v1/printers", json=unreachable_bambu())
    body = await wait_for_state(server, "x1c-1", "unreachable")
    assert body["status"]["state"] == "offline"


async def test_secrets_never_appear_in_any_response(server: RunningServer) -> None:
    responses = [
        await server.client.post("/api/v1/printers", json=unreachable_bambu()),
        await server.client.post(
            "/api/v1/printers",
            json={
                "id": "mk4",
                "type": "prusalink",
                "host": "127.0.0.1",
                "port": free_port(),
                "username": "maker",
                "password": PASSWORD,
            },
        ),
        await server.client.post(
            "/api/v1/printers",
            json={"id": "octo", "type": "octoprint", "url": f"http://127.0.0.1:{free_port()}", "api_key": API_KEY},
        ),
        await server.client.patch("/api/v1/printers/mk4", json={"api_key": API_KEY}),
        await server.client.get("/api/v1/printers"),
        await server.client.get("/api/v1/printers/octo"),
        await server.client.get("/openapi.json"),
        await server.client.get("/metrics"),
        await server.client.post("/api/v1/printers", json={**unreachable_bambu(), "serial": None}),
        # Refused by schema validation (type missing, port out of range): the 422 names the fields only.
        await server.client.post(
            "/api/v1/printers", json={k: v for k, v in unreachable_bambu().items() if k != "type"}
        ),
        await server.client.patch("/api/v1/printers/mk4", json={"password": PASSWORD, "port": 0}),
        await server.client.post("/api/v1/printers/test", json={"type": "octoprint", "api_key": API_KEY, "port": -1}),
    ]
    for response in responses:
        for secret in (ACCESS_CODE, PASSWORD, API_KEY):
            assert secret not in response.text, response.request.url
    mk4 = (await server.client.get("/api/v1/printers/mk4")).json()
    assert (mk4["has_password"], mk4["has_api_key"], mk4["has_access_code"]) == (True, True, False)


async def test_errors_are_4xx_with_a_reason(server: RunningServer) -> None:
    await server.client.post("/api/v1/printers", json=unreachable_bambu())
    duplicate = await server.client.post("/api/v1/printers", json=unreachable_bambu())
    assert duplicate.status_code == 409
    assert "exists already" in duplicate.json()["detail"]

    missing_serial = {**unreachable_bambu("other"), "serial": None}
    missing = await server.client.post("/api/v1/printers", json=missing_serial)
    assert missing.status_code == 422
    assert "serial" in missing.json()["detail"]

    unknown = await server.client.get("/api/v1/printers/nope")
    assert unknown.status_code == 404
    assert "nope" in unknown.json()["detail"]

    change_kind = await server.client.patch("/api/v1/printers/x1c-1", json={"type": "octoprint"})
    assert change_kind.status_code == 422

    offline = await server.client.post("/api/v1/printers/x1c-1/pause")
    assert offline.status_code == 409
    assert "not connected" in offline.json()["detail"]

    bad_command = await server.client.post("/api/v1/printers/x1c-1/explode")
    assert bad_command.status_code == 422


async def test_edit_and_delete_at_run_time(server: RunningServer) -> None:
    await server.client.post("/api/v1/printers", json=unreachable_bambu())
    edited = await server.client.patch("/api/v1/printers/x1c-1", json={"name": "Left", "auto_create_jobs": False})
    assert edited.status_code == 200
    assert (edited.json()["name"], edited.json()["auto_create_jobs"]) == ("Left", False)
    assert edited.json()["has_access_code"] is True  # omitted secrets keep their value

    deleted = await server.client.delete("/api/v1/printers/x1c-1")
    assert deleted.status_code == 204
    assert (await server.client.get("/api/v1/printers/x1c-1")).status_code == 404
    assert server.runtime.monitoring.status("x1c-1") is None


async def test_patch_with_null_clears_what_has_a_fallback_and_refuses_a_flag(server: RunningServer) -> None:
    body = {"id": "mk4", "type": "prusalink", "host": "127.0.0.1", "port": free_port(), "api_key": API_KEY}
    created = await server.client.post("/api/v1/printers", json={**body, "poll_interval": 2})
    assert created.json()["poll_interval"] == 2.0
    followed = await server.client.patch("/api/v1/printers/mk4", json={"poll_interval": None})
    assert followed.status_code == 200, followed.text
    assert followed.json()["poll_interval"] is None  # follows the global monitoring_interval again
    assert (await server.client.get("/api/v1/printers/mk4")).json()["poll_interval"] is None
    refused = await server.client.patch("/api/v1/printers/mk4", json={"tls_insecure": None})
    assert refused.status_code == 422  # not a 500 from the store's NOT NULL
    assert "tls_insecure" in refused.text


async def test_printers_added_through_the_api_survive_a_restart(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/printfleet.db"
    for attempt in range(2):
        uv, task, base_url = await start_server(url)
        async with httpx.AsyncClient(base_url=base_url, headers=await admin_headers(uv)) as client:
            if attempt == 0:
                assert (await client.post("/api/v1/printers", json=unreachable_bambu())).status_code == 201
            else:
                listed = (await client.get("/api/v1/printers")).json()["printers"]
                assert [p["id"] for p in listed] == ["x1c-1"]
                assert listed[0]["has_access_code"] is True
        uv.should_exit = True
        await asyncio.wait_for(task, 15)


async def test_health_and_metrics(server: RunningServer) -> None:
    await server.client.post("/api/v1/printers", json=unreachable_bambu())
    health = (await server.client.get("/healthz")).json()
    assert (health["status"], health["printers"], health["printers_connected"]) == ("ok", 1, 0)
    assert health["checked_at"].endswith(("Z", "+00:00"))
    await wait_for_state(server, "x1c-1", "unreachable")
    metrics = (await server.client.get("/metrics")).text
    assert 'printfleet_printers_connected{kind="bambu"} 0.0' in metrics
    assert "printfleet_printer_reports_total" in metrics
