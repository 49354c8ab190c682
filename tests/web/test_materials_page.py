"""The Materials page and the printer card's AMS trays, with simulated Bambu printers: the RFID spools the AMS
reports appear with swatches, grams and remaining-weight bars; an operator adds a filament and a spool, weighs,
archives and assigns it to a slot; a viewer only reads; German."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from printfleet.domain.accounts.roles import Role
from printfleet.sim.bambu import BambuFarm
from tests.e2e.harness import Server
from tests.support_accounts import bearer_headers, session_cookie


async def _wait_for(server: Server, path: str, text: str, *, times: int = 1, tries: int = 200) -> str:
    """The page once ``text`` appears on it (``times`` times): the spools' records follow the AMS report."""
    body = ""
    for _ in range(tries):
        body = (await server.client.get(path)).text
        if body.count(text) >= times:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared {times} time(s) on {path}")


@pytest.mark.printers(1)
async def test_the_ams_spools_show_on_the_materials_page_and_the_printer_card(server: Server, farm: BambuFarm) -> None:
    printer = farm[0]
    # The slots, the spools made from their RFID tags and the grams left follow the AMS report one after the other.
    for text in ("Bambu Lab PLA Matte #2", "Bambu Lab PLA Basic #1", "850 g left", 'fill="#FF6A13"'):
        await _wait_for(server, "/materials", text)
    body = await _wait_for(server, "/materials", '<meter class="spool-left"', times=2)

    assert 'href="/materials" aria-current="page"' in body
    assert 'id="slot-sim-bambu-1-AMS0-T0"' in body
    assert "Bambu Lab PLA Basic #1" in body
    assert "850 g left" in body  # 85 % of the 1 kg label
    assert 'fill="#FF6A13"' in body  # the untagged PETG slot's swatch
    assert "no spool assigned" in body
    assert body.count('<meter class="spool-left"') == 2

    card = await _wait_for(server, "/", "Bambu Lab PLA Matte #2")
    assert re.search(r'class="tray-grams">\s*1,000 g left', card) or "1000 g left" in card

    await printer.set_ams_tray(1, remain=40)
    await _wait_for(server, "/", "400 g left")


@pytest.mark.printers(1)
async def test_an_operator_adds_weighs_archives_and_assigns_a_viewer_only_reads(server: Server) -> None:
    await _wait_for(server, "/materials", "Bambu Lab PLA Basic #1")
    operator = await bearer_headers(server.runtime.accounts, username="olga", role=Role.OPERATOR)
    client = server.client

    added = await client.post(
        "/ui/filaments",
        data={"material": "PETG", "name": "Galaxy Black", "color": "#1a1a1a", "net_weight_g": "1000"},
        headers=operator,
    )
    assert added.status_code == 303
    filaments = (await client.get("/api/v1/filaments", params={"material": "PETG"})).json()["filaments"]
    [galaxy] = [f for f in filaments if f["name"] == "Galaxy Black"]
    assert galaxy["color_hex"] == "1A1A1AFF"

    spool = await client.post(
        "/ui/spools",
        data={"filament_id": galaxy["id"], "initial_weight_g": "1000", "location": "Shelf A"},
        headers=operator,
    )
    assert spool.status_code == 303
    spools = (await client.get("/api/v1/spools", params={"limit": 500})).json()["spools"]
    [new] = [spool for spool in spools if spool["filament_id"] == galaxy["id"]]
    await client.patch(f"/api/v1/spools/{new['id']}", json={"spool_weight_g": 200})
    weighed = await client.post(f"/ui/spools/{new['id']}/measure", data={"weight": "700"}, headers=operator)
    assert weighed.status_code == 303
    assert (await client.get(f"/api/v1/spools/{new['id']}")).json()["remaining_weight_g"] == 500

    assigned = await client.post(
        "/ui/printers/sim-bambu-1/slots/AMS0-T2", data={"spool_id": str(new["id"])}, headers=operator
    )
    assert assigned.status_code == 303
    body = (await client.get("/materials")).text
    slot = body[body.index('id="slot-sim-bambu-1-AMS0-T2"') :]
    slot = slot[: slot.index("</li>")]
    assert f"Galaxy Black #{new['id']}" in slot
    assert "500 g left" in slot

    archived = await client.post(f"/ui/spools/{new['id']}/archive", data={"archived": "true"}, headers=operator)
    assert archived.status_code == 303
    assert f'id="spool-{new["id"]}"' not in (await client.get("/materials")).text
    assert f'id="spool-{new["id"]}"' in (await client.get("/materials", params={"archived": "true"})).text

    refused = await client.post("/ui/spools", data={"filament_id": "999999"}, headers=operator)
    assert "error=" in refused.headers["location"]

    viewer = await bearer_headers(server.runtime.accounts, username="vic", role=Role.VIEWER)
    seen = await client.get("/materials", headers=viewer)
    assert seen.status_code == 200
    assert "/ui/spools" not in seen.text
    assert (await client.post("/ui/spools", data={"filament_id": "1"}, headers=viewer)).status_code == 403


@pytest.mark.printers(1)
async def test_the_materials_page_speaks_german(server: Server) -> None:
    await _wait_for(server, "/materials", "850 g left")  # the spool and its grams, from the AMS report
    cookie = await session_cookie(server.runtime.accounts, username="olga", role=Role.OPERATOR)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as browser:
        browser.cookies.set("printfleet_session", cookie)
        german = await browser.get("/materials", headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert german.status_code == 200
    for text in ("Materialien", "In den Druckern geladen", "Spulen", "noch 850 g", "Spule hinzufügen", "Zuordnen"):
        assert text in german.text, text
