"""The Orders page in a real browser: orders ship-by soonest first with their status and plates printed, one that
needs attention says why, **Schedule** makes its plates scheduled prints, cancelling asks first; no sideways
scrolling on a phone or a wall screen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from printfleet.domain.printer import QueueMode
from printfleet.sim.bambu import BambuFarm
from tests.e2e.harness import Server
from tests.e2e.test_orders_etsy import FAST
from tests.files_samples import bambu_3mf
from tests.web.conftest import open_page, screenshot_path, sign_in

expect.set_options(timeout=10_000)


async def seed(server: Server) -> None:
    file_id = await server.upload("keychain.gcode.3mf", bambu_3mf())
    profile = {
        "name": "Keychain",
        "listing_id": "555",
        "parts": [{"file_id": file_id, "units_per_plate": 4, "material_type": "PLA"}],
    }
    assert (await server.client.post("/api/v1/product-profiles", json=profile)).status_code == 201
    now = datetime.now(UTC)
    for number, buyer, days, quantity, personalisation in (
        ("E-1001", "Ada Lovelace", 2, 7, None),
        ("E-1002", "Grace Hopper", 4, 1, "Grace"),
        ("E-1003", "Alan Turing", 6, 3, None),
    ):
        line = {"title": "Keychain", "quantity": quantity, "listing_id": "555", "personalisation": personalisation}
        body = {
            "external_id": number,
            "buyer_name": buyer,
            "ship_by": (now + timedelta(days=days)).isoformat(),
            "lines": [line],
        }
        response = await server.client.post("/api/v1/orders", json=body)
        assert response.status_code == 201, response.text


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1920, 1080)])
async def test_the_orders_page_on_a_phone_and_a_wall_screen(
    browser: Browser, server: Server, width: int, height: int
) -> None:
    await seed(server)
    opened = await open_page(browser, width=width, height=height)
    await sign_in(opened, server)
    page = opened.page
    await page.goto(server.base_url + "/orders")

    rows = page.locator("table.orders tbody tr")
    await expect(rows).to_have_count(3)
    await expect(rows.first).to_contain_text("E-1001")  # ship-by soonest first
    await expect(rows.nth(1).locator(".order-status")).to_have_text("Needs attention")
    await expect(rows.nth(1)).to_contain_text("personalisation requested")
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the orders page scrolls sideways by {overflow}px at {width}px"

    if width > 1000:
        await rows.first.get_by_role("button", name="Schedule").click()
        await expect(page.locator(".form-note")).to_have_text("2 print(s) scheduled")
        await expect(rows.first.locator(".order-status")).to_have_text("Scheduled")
        await expect(rows.first.locator(".figures")).to_have_text("0 / 2")
        await rows.first.locator("summary").click()
        await expect(rows.first.locator("ul.plates li")).to_have_count(2)
        await page.screenshot(path=str(screenshot_path("orders", width)), full_page=True)
        await rows.nth(2).get_by_role("button", name="Cancel order").click()
        await expect(rows.nth(2).locator(".order-status")).to_have_text("Cancelled")
        assert opened.watched.dialogs == ["Cancel this order and its prints not sent yet?"]
    else:
        await page.screenshot(path=str(screenshot_path("orders", width)), full_page=True)
    await opened.context.close()
    assert opened.watched.errors == []


@pytest.fixture
async def scheduling_server(tmp_path: Path, farm: BambuFarm) -> AsyncIterator[Server]:
    """A server whose two simulated printers take scheduled prints, sent as soon as they are ready."""
    running = Server(
        f"sqlite+aiosqlite:///{tmp_path}/printfleet.db",
        [config.replace(queue_mode=QueueMode.SCHEDULED) for config in farm.printer_configs()],
        files={"directory": str(tmp_path / "files")},
        dispatch={"require_plate_clear": False},
        schedule={"stagger": 0, "interval": 0.5},
        dispatch_timings=FAST,
    )
    await running.start()
    await running.wait_online()
    yield running
    await running.stop()


async def test_an_orders_page_follows_its_prints_live(browser: Browser, scheduling_server: Server) -> None:
    """An order's page is kept up to date by the live connection: scheduled elsewhere, its plates appear, then the
    jobs of the prints the simulated printers run, with no reload (the page no longer re-reads itself on a timer)."""
    server = scheduling_server
    await seed(server)
    orders = (await server.client.get("/api/v1/orders")).json()["orders"]
    order_id = next(order["id"] for order in orders if order["external_id"] == "E-1001")
    opened = await open_page(browser, width=1280, height=900)
    await sign_in(opened, server)
    page = opened.page
    await page.goto(f"{server.base_url}/orders/{order_id}")
    await expect(page.locator("#live-indicator")).to_have_attribute("data-live", "on")
    detail = page.locator("#order-detail")
    await expect(detail).to_contain_text("Nothing scheduled for this order yet.")

    scheduled = await server.client.post(f"/api/v1/orders/{order_id}/schedule", json={})
    assert scheduled.status_code == 200, scheduled.text
    await expect(detail.locator("table.plates tbody tr")).to_have_count(2, timeout=5_000)
    # the scheduler sends the plates to the two simulated printers at once: their jobs show as they start
    await expect(detail.locator("table.plates a[href^='/jobs/']")).to_have_count(2, timeout=15_000)
    await expect(detail.locator(".order-status")).to_have_text("Printing")
    await expect(detail.locator("table.plates")).to_contain_text("Running")
    await opened.context.close()
    assert opened.watched.errors == []
