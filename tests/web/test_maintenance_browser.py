"""The Maintenance page in a real browser: progress bars per task and printer, a task marked done starts again,
deleting a task asks first; no sideways scrolling on a phone or a wall screen."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from printfleet.sim.bambu import BambuFarm
from tests.e2e.harness import Server
from tests.web.conftest import open_page, screenshot_path, sign_in

expect.set_options(timeout=10_000)


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1920, 1080)])
async def test_the_maintenance_page_on_a_phone_and_a_wall_screen(
    browser: Browser, server: Server, farm: BambuFarm, width: int, height: int
) -> None:
    service = server.runtime.maintenance
    first = farm[0].printer_id
    for name, interval, unit, offset in (
        ("Clean the nozzle and wipe the plate", 20, "print_hours", 18.5),
        ("Lubricate the rods", 100, "print_hours", 104.0),
        ("Check belt tension", 30, "days", 0.0),
    ):
        response = await server.client.post(
            "/api/v1/maintenance/tasks", json={"name": name, "interval": interval, "unit": unit}
        )
        assert response.status_code == 201, response.text
        if offset:
            await service.set_offset(response.json()["id"], first, offset)
    opened = await open_page(browser, width=width, height=height)
    await sign_in(opened, server)
    page = opened.page
    await page.goto(server.base_url + "/maintenance")

    rows = page.locator("table.maintenance tbody tr")
    await expect(rows).to_have_count(6)  # 3 tasks × 2 printers, most used first
    await expect(rows.first).to_contain_text("Lubricate the rods")
    await expect(rows.first.locator(".badge")).to_have_text("Due")
    await expect(rows.nth(1).locator(".badge")).to_have_text("Due soon")
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the maintenance page scrolls sideways by {overflow}px at {width}px"
    await page.screenshot(path=str(screenshot_path("maintenance", width)), full_page=True)

    if width > 1000:
        await rows.first.get_by_label("Notes").fill("rods cleaned and greased")
        await rows.first.get_by_role("button", name="Mark done").click()
        await expect(page.locator(".form-note")).to_contain_text(f"Lubricate the rods done on {first}")
        await expect(page.locator("#maintenance-log")).to_contain_text("rods cleaned and greased")
        await page.locator("#tasks li", has_text="Check belt tension").get_by_role("button", name="Delete").click()
        await expect(page.locator("#tasks li")).to_have_count(2)
        assert opened.watched.dialogs == ["Delete the task Check belt tension and its history?"]
    await opened.context.close()
    assert opened.watched.errors == []
