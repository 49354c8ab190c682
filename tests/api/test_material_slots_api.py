"""Material slots through a real server, on SQLite and PostgreSQL: a person says which spool is in a printer's tool
slot; the slot lists with its spool and grams left, also in the planning document's shape
(``/api/bambu/materials``); refusals; roles; the audit log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from printfleet.domain.accounts.roles import Role
from printfleet.domain.printer import PrinterConfig, PrinterKind, Secret
from tests.api.conftest import RunningServer, admin_headers, start_server
from tests.support import free_port

Body = dict[str, Any]


@pytest.fixture
async def farm(database_url: str, tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A server with one PrusaLink printer ``mk4`` that nobody answers for (offline), on each backend."""
    printer = PrinterConfig(
        id="mk4", name="MK4", kind=PrinterKind.PRUSALINK, host="127.0.0.1", port=free_port(), api_key=Secret("k")
    )
    uv, task, base_url = await start_server(
        database_url, extra_printers=[printer], files={"directory": str(tmp_path / "files")}
    )
    headers = await admin_headers(uv)
    async with httpx.AsyncClient(base_url=base_url, timeout=10, headers=headers) as client:
        yield RunningServer(base_url=base_url, client=client, runtime=uv.config.app.state.runtime, headers=headers)
    uv.should_exit = True
    await asyncio.wait_for(task, 15)


async def _spool(client: httpx.AsyncClient) -> Body:
    vendor = (await client.post("/api/v1/vendors", json={"name": "Prusament"})).json()
    filament = (
        await client.post(
            "/api/v1/filaments",
            json={
                "material": "PETG",
                "name": "Galaxy Black",
                "vendor_id": vendor["id"],
                "color_hex": "1A1A1A",
                "net_weight_g": 1000,
                "price_per_spool": 25,
            },
        )
    ).json()
    response = await client.post(
        "/api/v1/spools", json={"filament_id": filament["id"], "initial_weight_g": 1000, "used_weight_g": 400}
    )
    assert response.status_code == 201, response.text
    body: Body = response.json()
    return body


async def test_a_spool_assigned_to_a_tool_lists_with_its_grams_in_both_shapes(farm: RunningServer) -> None:
    client = farm.client
    spool = await _spool(client)

    assigned = await client.put("/api/v1/printers/mk4/slots/t0", json={"spool_id": spool["id"]})
    assert assigned.status_code == 200, assigned.text
    slot = assigned.json()
    assert (slot["slot"], slot["present"], slot["material_type"], slot["color"]) == ("T0", True, "PETG", "1A1A1AFF")
    assert (slot["spool_id"], slot["grams_left"]) == (spool["id"], 600)
    assert slot["loaded_at"] is not None

    listed = (await client.get("/api/v1/printers/mk4/slots")).json()["slots"]
    assert [(s["slot"], s["spool"]["id"]) for s in listed] == [("T0", spool["id"])]

    [material] = (await client.get("/api/bambu/materials/mk4")).json()
    assert set(material) == {
        "id", "printer_id", "slot", "material_type", "color", "weight_grams", "remaining_pct", "vendor",
        "cost_per_kg", "loaded_at", "last_synced",
    }  # fmt: skip
    assert (material["slot"], material["weight_grams"], material["vendor"]) == ("T0", 600, "Prusament")
    assert material["cost_per_kg"] == 25

    emptied = await client.put(f"/api/bambu/materials/{material['id']}", json={"spool_id": None})
    assert emptied.status_code == 200, emptied.text
    assert (emptied.json()["weight_grams"], emptied.json()["material_type"]) == (None, None)

    await client.put("/api/v1/printers/mk4/slots/T0", json={"spool_id": spool["id"]})
    moved = await client.put("/api/v1/printers/mk4/slots/T2", json={"spool_id": spool["id"]})
    assert moved.json()["spool_id"] == spool["id"]
    held = {s["slot"]: s["spool_id"] for s in (await client.get("/api/v1/printers/mk4/slots")).json()["slots"]}
    assert held["T0"] is None  # a spool is in one place

    loaded = await client.post("/api/bambu/materials/mk4", json={"slot": "T1", "material_type": "TPU"})
    assert loaded.status_code == 200, loaded.text
    assert (loaded.json()["slot"], loaded.json()["material_type"]) == ("T1", "TPU")

    card = (await client.get("/")).text  # the printer card names what a person loaded in a tool
    assert f"Galaxy Black #{spool['id']}" in card

    entries = (await client.get("/api/v1/audit", params={"target": "slot:mk4:T0"})).json()["records"]
    assert [(e["action"], e["detail"]) for e in entries][-1] == ("material_updated", {"spool_id": spool["id"]})


async def test_refusals_and_roles(farm: RunningServer) -> None:
    client = farm.client
    spool = await _spool(client)
    assert (await client.get("/api/v1/printers/nope/slots")).status_code == 404
    assert (await client.get("/api/bambu/materials/nope")).status_code == 404
    assert (await client.put("/api/v1/printers/mk4/slots/AMS9-T0", json={})).status_code == 404
    unknown = await client.put("/api/v1/printers/mk4/slots/T0", json={"spool_id": 999_999})
    assert (unknown.status_code, unknown.json().get("field")) == (422, "spool_id")
    assert (await client.put("/api/bambu/materials/999999", json={})).status_code == 404

    for role in (Role.VIEWER, Role.MEMBER):
        headers = await farm.headers_for(role.value, role)
        assert (await client.get("/api/v1/printers/mk4/slots", headers=headers)).status_code == 200
        refused = await client.put("/api/v1/printers/mk4/slots/T0", json={"spool_id": spool["id"]}, headers=headers)
        assert (refused.status_code, refused.json()["permission"]) == (403, "materials.manage")
    operator = await farm.headers_for("operator", Role.OPERATOR)
    ok = await client.put("/api/v1/printers/mk4/slots/T0", json={"spool_id": spool["id"]}, headers=operator)
    assert ok.status_code == 200
