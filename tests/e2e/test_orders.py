"""Shop orders end to end: product profiles, orders typed in or imported from CSV, scheduled one print per plate,
printed on simulated Bambu Lab printers (MQTT over TLS through mosquitto, implicit FTPS) by a real printfleet server
on SQLite and PostgreSQL, followed to ``printed`` and shipped. Assertions read the public API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from printfleet.domain.printer import PrinterConfig, QueueMode
from printfleet.services.dispatch.steps import DispatchTimings
from printfleet.sim.bambu import BambuFarm
from tests.e2e.harness import Server, running
from tests.files_samples import bambu_3mf

pytestmark = pytest.mark.usefixtures("mosquitto_binary")

FAST = DispatchTimings(confirm_window_s=3.0, confirm_extension_s=1.0, poll_s=0.05, reconcile_wait_s=10)
Body = dict[str, Any]


@pytest.fixture
async def farm(tmp_path: Path) -> AsyncIterator[BambuFarm]:
    # Plate 1 of the sample 3MF is predicted at 5,935 s: about 2 s at 3,000 times the speed.
    async with BambuFarm(
        2, workdir=tmp_path / "bambu", report_interval_s=0.1, prepare_s=0.2, speed_factor=3000
    ) as bambu:
        yield bambu


def scheduled(config: PrinterConfig) -> PrinterConfig:
    return config.replace(queue_mode=QueueMode.SCHEDULED)


def _server(database_url: str, farm: BambuFarm, tmp_path: Path, **orders: Any) -> Server:
    return Server(
        database_url,
        [scheduled(config) for config in farm.printer_configs()],
        files={"directory": str(tmp_path / "lib")},
        dispatch={"require_plate_clear": False},
        schedule={"stagger": 0, "interval": 0.5},
        orders=orders,
        dispatch_timings=FAST,
    )


async def post(server: Server, path: str, body: Any = None, *, expect: int = 200) -> Any:
    response = await server.client.post(path, json=body)
    assert response.status_code == expect, response.text
    return response.json()


async def order(server: Server, order_id: int) -> Body:
    response = await server.client.get(f"/api/v1/orders/{order_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def wait_order(server: Server, order_id: int, status: str, *, timeout: float = 40.0) -> Body:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        body = await order(server, order_id)
        if body["status"] == status:
            return body
        if loop.time() > deadline:
            raise AssertionError(f"order {order_id} never became {status}: {body}")
        await asyncio.sleep(0.2)


async def costed(server: Server, order_id: int, prints: int, *, timeout: float = 15.0) -> Body:
    """The order's cost once ``prints`` of its prints have ended and been costed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        cost = (await order(server, order_id))["cost"]
        if cost is not None and cost["prints"] == prints:
            return dict(cost)
        if loop.time() > deadline:
            raise AssertionError(f"order {order_id} was never costed for {prints} prints: {cost}")
        await asyncio.sleep(0.1)


async def keychain_profile(server: Server, file_id: int, **fields: Any) -> Body:
    profile = {
        "name": "Keychain",
        "listing_id": "1234567",
        "parts": [{"file_id": file_id, "plate": 1, "units_per_plate": 4, "material_type": "PLA"}],
        **fields,
    }
    return dict(await post(server, "/api/v1/product-profiles", profile, expect=201))


async def test_an_order_of_seven_at_four_a_plate_prints_two_plates_and_is_printed_then_shipped(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    async with running(_server(database_url, farm, tmp_path)) as server:
        file_id = await server.upload("keychain.gcode.3mf", bambu_3mf())
        profile = await keychain_profile(server, file_id)
        ship_by = datetime.now(UTC) + timedelta(days=3)
        created = await post(
            server,
            "/api/v1/orders",
            {
                "external_id": "A-1001",
                "buyer_name": "Ada Lovelace",
                "ship_by": ship_by.isoformat(),
                "lines": [{"title": "Keychain", "quantity": 7, "listing_id": "1234567"}],
            },
            expect=201,
        )
        assert created["status"] == "new"
        assert created["lines"][0]["profile_id"] == profile["id"]

        prints = await post(server, f"/api/v1/orders/{created['id']}/schedule")
        assert [p["job_name"] for p in prints] == ["Order A-1001: Keychain (1/2)", "Order A-1001: Keychain (2/2)"]
        finish_by = ship_by - timedelta(days=1)  # orders.ship_buffer: one day for packing
        assert {datetime.fromisoformat(p["finish_by"]) for p in prints} == {finish_by}
        assert await post(server, f"/api/v1/orders/{created['id']}/schedule") == [], "scheduling twice adds nothing"

        printed = await wait_order(server, created["id"], "printed")
        assert printed["progress"] == {"printed": 2, "needed": 2, "failed": 0}
        assert {plate["scheduled_print"]["status"] for plate in printed["plates"]} == {"completed"}
        cost = await costed(server, created["id"], 2)
        assert cost["material_grams"] == pytest.approx(2 * 26.35)  # plate 1 of the sample file, twice
        assert cost["total"] > 0
        assert cost["failed_total"] == 0
        shipped = await post(
            server, f"/api/v1/orders/{created['id']}/ship", {"tracking_code": "1Z999", "carrier": "ups"}
        )
        assert (shipped["status"], shipped["tracking_code"]) == ("shipped", "1Z999")
        await post(server, f"/api/v1/orders/{created['id']}/cancel", expect=409)


async def test_an_unmatched_line_needs_attention_until_a_profile_for_it_is_added(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    async with running(_server(database_url, farm, tmp_path, auto_schedule=True)) as server:
        file_id = await server.upload("keychain.gcode.3mf", bambu_3mf())
        created = await post(
            server,
            "/api/v1/orders",
            {"lines": [{"title": "Keychain", "quantity": 1, "listing_id": "1234567"}]},
            expect=201,
        )
        assert (created["status"], created["problem"]) == (
            "needs_attention",
            "Keychain: no product profile matches this line",
        )
        refused = await server.client.post(f"/api/v1/orders/{created['id']}/schedule")
        assert refused.status_code == 409
        assert "needs attention" in refused.json()["detail"]

        await keychain_profile(server, file_id)  # matched again, and auto-scheduled: the order is paid
        assert (await wait_order(server, created["id"], "printed"))["progress"]["printed"] == 1


async def test_a_csv_import_is_idempotent_and_the_compatible_path_chains_prints_with_offsets(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    async with running(_server(database_url, farm, tmp_path)) as server:
        file_id = await server.upload("keychain.gcode.3mf", bambu_3mf())
        await keychain_profile(server, file_id)
        csv = (
            "order_id,buyer_name,ship_by,title,quantity,listing_id,variations\n"
            "W-1,Grace,2030-01-10,Keychain,8,1234567,Colour: Red\n"
            "W-1,Grace,2030-01-10,Keychain,1,1234567,\n"
            "W-2,Alan,,Keychain,two,1234567,\n"
        )
        for _ in range(2):
            response = await server.client.post(
                "/api/v1/orders/import", content=csv.encode(), headers={"content-type": "text/csv"}
            )
            assert response.status_code == 200, response.text
        assert response.json() == {"created": 0, "updated": 1, "errors": ["row 4: quantity: not a whole number"]}
        listed = (await server.client.get("/api/v1/orders", params={"source": "csv"})).json()
        assert listed["total"] == 1
        [imported] = listed["orders"]
        assert [line["quantity"] for line in imported["lines"]] == [8, 1]
        assert imported["ship_by"].startswith("2030-01-10T23:59:59")

        printer = farm.printer_configs()[0].id
        prints = await post(
            server,
            f"/api/orders/{imported['id']}/schedule-prints",
            {"printer_id": printer, "start_offset_minutes": 15},
        )
        assert len(prints) == 3
        assert [p["depends_on"] for p in prints] == [None, prints[0]["id"], prints[1]["id"]]
        assert {(p["printer_id"], p["offset_minutes"], p["offset_from"]) for p in prints} == {(printer, 15, "finish")}
        assert [p["status"] for p in prints][1:] == ["waiting", "waiting"]
        cancelled = await post(server, f"/api/v1/orders/{imported['id']}/cancel")
        assert cancelled["status"] == "cancelled"


async def a_plate_that_fails(server: Server, farm: BambuFarm) -> tuple[Body, Body]:
    """An order of one plate (2 keychains) scheduled on the first printer, whose print fails once it started: the
    order and the failed plate's scheduled print."""
    file_id = await server.upload("keychain.gcode.3mf", bambu_3mf())
    await keychain_profile(server, file_id)
    created = await post(
        server,
        "/api/v1/orders",
        {"lines": [{"title": "Keychain", "quantity": 2, "listing_id": "1234567"}]},
        expect=201,
    )
    printer = farm[0]
    [first] = await post(server, f"/api/v1/orders/{created['id']}/schedule", {"printer_id": printer.printer_id})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while (await server.client.get(f"/api/v1/scheduled-prints/{first['id']}")).json()["status"] != "started":
        assert loop.time() < deadline, "the plate never started"
        await asyncio.sleep(0.05)
    await printer.fail()
    return dict(created), dict(first)


async def test_a_failed_plate_is_printed_again_and_the_order_still_reaches_printed(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    async with running(_server(database_url, farm, tmp_path)) as server:
        created, _ = await a_plate_that_fails(server, farm)

        printed = await wait_order(server, created["id"], "printed")
        assert [(plate["attempt"], plate["scheduled_print"]["status"]) for plate in printed["plates"]] == [
            (1, "failed"),
            (2, "completed"),
        ]
        assert printed["progress"] == {"printed": 1, "needed": 1, "failed": 0}
        cost = await costed(server, created["id"], 2)  # both attempts are counted
        # the whole completed plate, and the part of one the failed attempt printed before it failed
        assert 26.35 <= cost["material_grams"] < 2 * 26.35
        assert 0 <= cost["failed_total"] < cost["total"]


async def test_a_failed_plate_not_reprinted_by_itself_is_printed_again_when_an_operator_says_so(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    async with running(_server(database_url, farm, tmp_path, reprint_failed=False)) as server:
        created, first = await a_plate_that_fails(server, farm)

        stuck = await wait_order(server, created["id"], "needs_attention")
        assert stuck["problem"] == "1 plate(s) failed and are not reprinted"
        page = await server.client.get("/orders")
        assert f'action="/ui/orders/{created["id"]}/reprint"' in page.text

        [again] = await post(server, f"/api/v1/orders/{created['id']}/reprint")
        assert again["job_name"] == first["job_name"]
        printed = await wait_order(server, created["id"], "printed")
        assert [(plate["attempt"], plate["scheduled_print"]["status"]) for plate in printed["plates"]] == [
            (1, "failed"),
            (2, "completed"),
        ]
        assert await post(server, f"/api/v1/orders/{created['id']}/reprint") == []  # nothing failed any more
