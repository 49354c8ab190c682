"""The filament inventory through a real server, on SQLite and PostgreSQL: vendors, filaments and spools; use and
weighing; filters and pages; refusals (404, 409, 422 naming the field); roles; the audit log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from printfleet.domain.accounts.roles import Role
from tests.api.conftest import RunningServer, admin_headers, start_server

Body = dict[str, Any]


@pytest.fixture
async def inventory(database_url: str, tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A server without printers on ``database_url`` (each backend in turn)."""
    uv, task, base_url = await start_server(database_url, files={"directory": str(tmp_path / "files")})
    headers = await admin_headers(uv)
    async with httpx.AsyncClient(base_url=base_url, timeout=10, headers=headers) as client:
        yield RunningServer(base_url=base_url, client=client, runtime=uv.config.app.state.runtime, headers=headers)
    uv.should_exit = True
    await asyncio.wait_for(task, 15)


async def _created(response: httpx.Response) -> Body:
    assert response.status_code == 201, response.text
    body: Body = response.json()
    return body


async def _pla_spool(client: httpx.AsyncClient, **spool: Any) -> tuple[Body, Body, Body]:
    vendor = await _created(
        await client.post("/api/v1/vendors", json={"name": "Bambu Lab", "empty_spool_weight_g": 250})
    )
    filament = await _created(
        await client.post(
            "/api/v1/filaments",
            json={
                "material": "PLA",
                "name": "PLA Basic Black",
                "vendor_id": vendor["id"],
                "color_hex": "#000000",
                "net_weight_g": 1000,
                "price_per_kg": 19.99,
                "nozzle_temp_min_c": 190,
                "nozzle_temp_max_c": 230,
            },
        )
    )
    created = await _created(await client.post("/api/v1/spools", json={"filament_id": filament["id"], **spool}))
    return vendor, filament, created


async def test_a_spool_is_added_used_weighed_and_archived(inventory: RunningServer) -> None:
    client = inventory.client
    vendor, filament, spool = await _pla_spool(client, location="Shelf A", lot_nr="L-17")

    # the filament takes PLA's density by default and the colour as RRGGBBAA; the spool is full
    assert (filament["density_g_cm3"], filament["diameter_mm"], filament["color_hex"]) == (1.24, 1.75, "000000FF")
    assert filament["vendor"]["name"] == "Bambu Lab"
    assert (spool["initial_weight_g"], spool["used_weight_g"], spool["remaining_weight_g"]) == (1000, 0, 1000)
    assert spool["tare_g"] == 250  # from the vendor
    assert spool["filament"]["id"] == filament["id"]
    assert spool["first_used_at"] is None

    used = await client.put(f"/api/v1/spools/{spool['id']}/use", json={"use_weight": 12.5})
    assert used.status_code == 200, used.text
    assert (used.json()["used_weight_g"], used.json()["remaining_weight_g"]) == (12.5, 987.5)
    assert used.json()["first_used_at"] is not None

    by_length = (await client.put(f"/api/v1/spools/{spool['id']}/use", json={"use_length": 1000})).json()
    assert by_length["used_weight_g"] == pytest.approx(12.5 + 2.9825, abs=1e-3)

    weighed = await client.put(f"/api/v1/spools/{spool['id']}/measure", json={"weight": 1100})
    assert weighed.status_code == 200, weighed.text
    assert (weighed.json()["used_weight_g"], weighed.json()["remaining_weight_g"]) == (150, 850)

    given_back = (await client.put(f"/api/v1/spools/{spool['id']}/use", json={"use_weight": -500})).json()
    assert given_back["used_weight_g"] == 0  # never below unused

    patched = await client.patch(f"/api/v1/spools/{spool['id']}", json={"remaining_weight_g": 300, "location": "AMS"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["used_weight_g"], patched.json()["location"], patched.json()["lot_nr"]) == (
        700,
        "AMS",
        "L-17",
    )

    archived = await client.post(f"/api/v1/spools/{spool['id']}/archive")
    assert archived.json()["archived"] is True
    assert (await client.get("/api/v1/spools")).json()["total"] == 0
    assert [s["id"] for s in (await client.get("/api/v1/spools", params={"archived": "true"})).json()["spools"]] == [
        spool["id"]
    ]
    assert (await client.post(f"/api/v1/spools/{spool['id']}/unarchive")).json()["archived"] is False

    stored = (await client.get(f"/api/v1/spools/{spool['id']}")).json()
    assert (stored["used_weight_g"], stored["location"], stored["archived"]) == (700, "AMS", False)
    assert stored["filament"]["vendor"]["id"] == vendor["id"]


async def test_lists_filter_search_and_page(inventory: RunningServer) -> None:
    client = inventory.client
    _, pla, first = await _pla_spool(client, location="Shelf A")
    other = await _created(await client.post("/api/v1/vendors", json={"name": "Polymaker"}))
    petg = await _created(
        await client.post(
            "/api/v1/filaments",
            json={"material": "PETG", "name": "PolyLite Orange", "vendor_id": other["id"], "net_weight_g": 1000},
        )
    )
    assert petg["density_g_cm3"] == 1.27
    second = await _created(await client.post("/api/v1/spools", json={"filament_id": petg["id"], "location": "Dryer"}))
    third = await _created(
        await client.post("/api/v1/spools", json={"filament_id": pla["id"], "lot_nr": "B-99", "location": "shelf a"})
    )

    async def ids(**params: Any) -> list[int]:
        response = await client.get("/api/v1/spools", params=params)
        assert response.status_code == 200, response.text
        return [spool["id"] for spool in response.json()["spools"]]

    assert await ids() == [third["id"], second["id"], first["id"]]  # newest first
    assert await ids(material="petg") == [second["id"]]
    assert await ids(vendor=other["id"]) == [second["id"]]
    assert await ids(filament=pla["id"]) == [third["id"], first["id"]]
    assert await ids(location="SHELF A") == [third["id"], first["id"]]
    assert await ids(search="orange") == [second["id"]]
    assert await ids(search="b-99") == [third["id"]]
    assert await ids(search="100%") == []  # LIKE wildcards are literal
    page = (await client.get("/api/v1/spools", params={"limit": 1, "offset": 1})).json()
    assert ([s["id"] for s in page["spools"]], page["total"]) == ([second["id"]], 3)

    filaments = (await client.get("/api/v1/filaments", params={"search": "poly"})).json()
    assert ([f["id"] for f in filaments["filaments"]], filaments["total"]) == ([petg["id"]], 1)
    assert (await client.get("/api/v1/filaments", params={"material": "pla"})).json()["total"] == 1
    vendors = (await client.get("/api/v1/vendors")).json()
    assert [v["name"] for v in vendors["vendors"]] == ["Bambu Lab", "Polymaker"]
    assert (await client.get("/api/v1/vendors", params={"search": "POLY"})).json()["total"] == 1


async def test_refusals_name_the_field_unknown_ids_are_404_and_used_rows_409(inventory: RunningServer) -> None:
    client = inventory.client
    vendor, filament, spool = await _pla_spool(client, tray_uuid="3f6b2e8c1d4a4b7e9c0d11223344aa01")
    assert spool["tray_uuid"] == "3F6B2E8C1D4A4B7E9C0D11223344AA01"

    for method, path in [
        ("GET", "/api/v1/vendors/999"),
        ("GET", "/api/v1/filaments/999"),
        ("GET", "/api/v1/spools/999"),
        ("PATCH", "/api/v1/spools/999"),
        ("DELETE", "/api/v1/filaments/999"),
        ("POST", "/api/v1/spools/999/archive"),
    ]:
        response = await client.request(method, path, json={} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path, response.text)
    assert (await client.put("/api/v1/spools/999/use", json={"use_weight": 1})).status_code == 404

    refusals: list[tuple[str, str, Body, str]] = [
        ("POST", "/api/v1/spools", {"filament_id": 999}, "filament_id"),
        ("POST", "/api/v1/filaments", {"material": "PLA", "vendor_id": 999}, "vendor_id"),
        ("POST", "/api/v1/filaments", {"material": "PLA", "price_per_kg": 20, "price_per_spool": 20}, "price_per_kg"),
        ("PATCH", f"/api/v1/filaments/{filament['id']}", {"nozzle_temp_max_c": 150}, "nozzle_temp_max_c"),
        ("PATCH", f"/api/v1/spools/{spool['id']}", {"remaining_weight_g": 5000}, "remaining_weight_g"),
        ("PUT", f"/api/v1/spools/{spool['id']}/use", {}, "use_weight"),
        ("PUT", f"/api/v1/spools/{spool['id']}/use", {"use_weight": 1, "use_length": 1}, "use_weight"),
    ]
    for method, path, body, field in refusals:
        response = await client.request(method, path, json=body)
        assert (response.status_code, response.json().get("field")) == (422, field), (path, body, response.text)
    schema = await client.post("/api/v1/filaments", json={"material": "PLA", "density_g_cm3": -1})
    assert schema.status_code == 422
    assert schema.json()["detail"][0]["loc"] == ["body", "density_g_cm3"]

    # a spool without a known empty-spool weight cannot be weighed
    bare = await _created(await client.post("/api/v1/filaments", json={"material": "ASA", "net_weight_g": 750}))
    unweighable = await _created(await client.post("/api/v1/spools", json={"filament_id": bare["id"]}))
    weighed = await client.put(f"/api/v1/spools/{unweighable['id']}/measure", json={"weight": 900})
    assert (weighed.status_code, weighed.json()["field"]) == (422, "spool_weight_g")

    duplicate = await client.post(
        "/api/v1/spools", json={"filament_id": filament["id"], "tray_uuid": spool["tray_uuid"].lower()}
    )
    assert duplicate.status_code == 409, duplicate.text
    assert (await client.delete(f"/api/v1/vendors/{vendor['id']}")).status_code == 409
    assert (await client.delete(f"/api/v1/filaments/{filament['id']}")).status_code == 409

    # once nothing names them they go
    assert (await client.delete(f"/api/v1/spools/{spool['id']}")).status_code == 204
    assert (await client.delete(f"/api/v1/filaments/{filament['id']}")).status_code == 204
    assert (await client.delete(f"/api/v1/vendors/{vendor['id']}")).status_code == 204
    assert (await client.get(f"/api/v1/vendors/{vendor['id']}")).status_code == 404


async def test_concurrent_uses_of_one_spool_all_count(inventory: RunningServer) -> None:
    client = inventory.client
    _, _, spool = await _pla_spool(client)
    responses = await asyncio.gather(
        *(client.put(f"/api/v1/spools/{spool['id']}/use", json={"use_weight": 1.5}) for _ in range(12))
    )
    assert {response.status_code for response in responses} == {200}
    assert (await client.get(f"/api/v1/spools/{spool['id']}")).json()["used_weight_g"] == pytest.approx(18)


async def test_roles_read_and_manage_and_changes_are_audited(server: RunningServer) -> None:
    client = server.client
    _, filament, spool = await _pla_spool(client)
    for role in (Role.VIEWER, Role.MEMBER, Role.OPERATOR):
        headers = await server.headers_for(role.value, role)
        for path in ("/api/v1/vendors", "/api/v1/filaments", "/api/v1/spools", f"/api/v1/spools/{spool['id']}"):
            assert (await client.get(path, headers=headers)).status_code == 200, (role, path)
        use = await client.put(f"/api/v1/spools/{spool['id']}/use", json={"use_weight": 1}, headers=headers)
        add = await client.post("/api/v1/spools", json={"filament_id": filament["id"]}, headers=headers)
        if role is Role.OPERATOR:
            assert (use.status_code, add.status_code) == (200, 201)
        else:
            assert (use.status_code, use.json()["permission"]) == (403, "materials.manage")
            assert add.status_code == 403
    assert (await httpx.AsyncClient(base_url=server.base_url).get("/api/v1/spools")).status_code == 401

    entries = (await client.get("/api/v1/audit", params={"target": f"spool:{spool['id']}"})).json()
    actions = [(entry["action"], entry["detail"]) for entry in entries["records"]]
    assert ("material_added", {"filament_id": filament["id"]}) in actions
    assert ("material_updated", {"operation": "use", "use_weight": 1.0}) in actions
