"""The Materials page in a real browser (Chromium) against a live server watching a simulated Bambu printer: the
AMS's RFID spools appear as spools and slots; an operator assigns a spool to the untagged slot with the form and
sees it there; the page holds on a phone; the printer card shows the spool and its grams. Screenshots for README."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from printfleet.sim.bambu import BambuFarm
from tests.e2e.harness import Server
from tests.web.conftest import Browsing, open_page, screenshot_path, sign_in

expect.set_options(timeout=10_000)


@pytest.mark.printers(1)
async def test_an_operator_assigns_a_spool_to_the_untagged_slot_on_the_materials_page(
    browsing: Browsing, server: Server, farm: BambuFarm
) -> None:
    page = browsing.page
    printer = farm[0]
    await page.goto(server.base_url + "/")
    tray = page.locator(f"#printer-{printer.printer_id} .tray").nth(1)
    await expect(tray.locator(".tray-spool-name")).to_have_text("Bambu Lab PLA Matte #2")
    await expect(tray.locator(".tray-grams")).to_have_text("850 g left")

    await page.goto(server.base_url + "/materials")
    await expect(page.locator(".spools .spool")).to_have_count(2)
    untagged = page.locator(f"#slot-{printer.printer_id}-AMS0-T2")
    await expect(untagged.locator(".slot-spool")).to_have_text("no spool assigned")

    await untagged.locator("select").select_option(label="Bambu Lab PLA Basic #1")
    await untagged.locator("button", has_text="Assign").click()
    await expect(page.locator(f"#slot-{printer.printer_id}-AMS0-T2 .slot-spool")).to_have_text("Bambu Lab PLA Basic #1")
    await expect(page.locator(".notice.success")).to_be_visible()
    await page.screenshot(path=str(screenshot_path("materials", 1280)), full_page=True)


@pytest.mark.printers(1)
async def test_the_materials_page_fits_a_phone(browser: Browser, server: Server) -> None:
    phone = await open_page(browser, width=390, height=844)
    try:
        await sign_in(phone, server)
        page = phone.page
        await page.goto(server.base_url + "/materials")
        await expect(page.locator(".spools .spool")).to_have_count(2)
        overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
        await page.screenshot(path=str(screenshot_path("materials", 390)), full_page=True)
        assert phone.watched.errors == []
    finally:
        await phone.context.close()
