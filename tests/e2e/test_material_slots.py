"""Live material slots end to end: a simulated Bambu printer (MQTT over TLS through mosquitto, AMS reports shaped
like the research samples) and a real printfleet server on SQLite and PostgreSQL. Assertions read the public slots
and spools API and the events printfleet publishes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from printfleet.domain.events import MaterialSlotChanged
from printfleet.services.events import Subscription
from printfleet.sim.bambu import BambuFarm, SimulatedBambuPrinter
from tests.e2e.harness import Server
from tests.e2e.receivers import HttpReceiver
from tests.e2e.test_notifications import FAST, SECRET, add_channel, add_rule

pytestmark = pytest.mark.usefixtures("mosquitto_binary")

Slots = dict[str, dict[str, Any]]


@pytest.fixture
async def farm(tmp_path: Path) -> AsyncIterator[BambuFarm]:
    async with BambuFarm(1, workdir=tmp_path / "bambu", report_interval_s=0.1, prepare_s=0.2) as bambu:
        yield bambu


@pytest.fixture
async def server(database_url: str, farm: BambuFarm) -> AsyncIterator[Server]:
    running = Server(database_url, farm.printer_configs())
    await running.start()
    await running.wait_online()
    yield running
    await running.stop()


async def _slots(server: Server, printer: SimulatedBambuPrinter) -> Slots:
    response = await server.client.get(f"/api/v1/printers/{printer.printer_id}/slots")
    assert response.status_code == 200, response.text
    return {slot["slot"]: slot for slot in response.json()["slots"]}


async def _wait_slots(
    server: Server, printer: SimulatedBambuPrinter, ready: Callable[[Slots], bool], *, timeout: float = 10.0
) -> Slots:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        slots = await _slots(server, printer)
        if ready(slots):
            return slots
        if loop.time() > deadline:
            raise AssertionError(f"slots never became ready: {slots}")
        await asyncio.sleep(0.05)


async def _spool_ids(server: Server) -> list[int]:
    body = (await server.client.get("/api/v1/spools", params={"limit": 500})).json()
    return sorted(spool["id"] for spool in body["spools"])


async def _heard(subscription: Subscription, seconds: float) -> list[tuple[str, str | None]]:
    """The slot events published within ``seconds``."""
    found: list[tuple[str, str | None]] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        try:
            event = await asyncio.wait_for(subscription.get(), left)
        except TimeoutError:
            break
        if isinstance(event, MaterialSlotChanged):
            found.append((event.event, event.slot))
    return found


def _loaded(slots: Slots) -> bool:
    return {"AMS0-T0", "AMS0-T1", "AMS0-T2", "AMS0-T3", "EXT254"} <= set(slots) and all(
        slots[label]["spool_id"] is not None for label in ("AMS0-T0", "AMS0-T1")
    )


async def test_ams_trays_become_slots_and_rfid_spools_are_made_once(server: Server, farm: BambuFarm) -> None:
    printer = farm[0]
    slots = await _wait_slots(server, printer, _loaded)

    first, second, plain, empty = (slots[f"AMS0-T{n}"] for n in range(4))
    assert (first["material_type"], first["color"], first["present"]) == ("PLA", "FFFFFFFF", True)
    assert first["tray_uuid"] == printer.ams.tray_uuid(0)
    assert (first["remaining_pct"], first["grams_left"]) == (100, 1000)
    assert first["spool"]["filament"]["vendor"]["name"] == "Bambu Lab"
    assert (second["remaining_pct"], second["grams_left"]) == (85, 850)
    # the third-party spool: what it is is known, which inventory spool is not
    assert (plain["material_type"], plain["present"], plain["spool_id"], plain["remaining_pct"]) == (
        "PETG",
        True,
        None,
        None,
    )
    assert (empty["present"], empty["material_type"]) == (False, None)
    assert slots["EXT254"]["present"] is False
    spools = await _spool_ids(server)
    assert len(spools) == 2

    compatible = (await server.client.get(f"/api/bambu/materials/{printer.printer_id}")).json()
    assert {row["slot"]: row["weight_grams"] for row in compatible}["AMS0-T1"] == 850

    subscription = server.runtime.bus.subscribe()
    await printer.push_all()
    await printer.push_all()
    assert await _heard(subscription, 0.6) == []  # a repeated pushall changes nothing

    await server.stop()  # a restart on the same database: the spools are found again, not made again
    await server.start()
    await server.wait_online()
    again = await _wait_slots(server, printer, _loaded)
    assert again["AMS0-T0"]["spool_id"] == first["spool_id"]
    assert await _spool_ids(server) == spools


async def test_a_removed_tray_and_a_low_spool_are_announced_once(server: Server, farm: BambuFarm) -> None:
    printer = farm[0]
    await _wait_slots(server, printer, _loaded)
    subscription = server.runtime.bus.subscribe()

    await printer.remove_ams_tray(1)  # only its exist bit clears; the tray still echoes its fields
    slots = await _wait_slots(server, printer, lambda s: not s["AMS0-T1"]["present"])
    assert slots["AMS0-T1"]["spool_id"] is None
    await printer.push_all()
    heard = await _heard(subscription, 0.6)
    assert heard == [("spool_removed", "AMS0-T1")]

    await printer.set_ams_tray(0, remain=5)  # 50 g of a 1 kg spool: below the 100 g default
    await _wait_slots(server, printer, lambda s: s["AMS0-T0"]["remaining_pct"] == 5)
    await printer.set_ams_tray(0, remain=4)
    await _wait_slots(server, printer, lambda s: s["AMS0-T0"]["remaining_pct"] == 4)
    await printer.push_all()
    heard = await _heard(subscription, 0.6)
    assert heard.count(("spool_low", "AMS0-T0")) == 1
    assert heard.count(("remain_changed", "AMS0-T0")) == 2

    uuid = await printer.insert_ams_tray(1, tray_type="PETG", color="00AE42FF", remain=100)
    slots = await _wait_slots(server, printer, lambda s: s["AMS0-T1"]["tray_uuid"] == uuid and s["AMS0-T1"]["spool_id"])
    assert (slots["AMS0-T1"]["material_type"], slots["AMS0-T1"]["grams_left"]) == ("PETG", 1000)
    assert ("spool_inserted", "AMS0-T1") in await _heard(subscription, 0.3)
    assert len(await _spool_ids(server)) == 3


async def test_a_signed_webhook_hears_a_removed_spool_and_a_low_spool_once(database_url: str, farm: BambuFarm) -> None:
    receiver = HttpReceiver()
    await receiver.start()
    server = Server(database_url, farm.printer_configs(), notifications=FAST)
    await server.start()
    try:
        await server.wait_online()
        printer = farm[0]
        await _wait_slots(server, printer, _loaded)
        channel = await add_channel(server, kind="webhook", name="shop", url=f"{receiver.url}/hook", secret=SECRET)
        await add_rule(server, channel["id"], ["material_changed", "spool_low"])

        await printer.remove_ams_tray(1)
        await printer.set_ams_tray(0, remain=5)
        await receiver.wait_for(lambda: len(receiver.on("/hook")) == 2)
        await printer.push_all()
        await asyncio.sleep(1.0)  # a repeat would arrive by now
        assert sorted(receiver.webhook_events("/hook", SECRET)) == ["material_changed", "spool_low"]
        bodies = {request.json()["data"]["event"]: request.json()["data"] for request in receiver.on("/hook")}
        assert bodies["spool_low"]["slot"]["slot"] == "AMS0-T0"
        assert bodies["spool_low"]["title"] == f"Spool low: {printer.printer_id} AMS0-T0"
        assert bodies["material_changed"]["slot"]["event"] == "spool_removed"
    finally:
        await server.stop()
        await receiver.stop()
