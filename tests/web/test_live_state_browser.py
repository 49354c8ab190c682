"""Honest live state and history in Chromium: the Back button after filtering Jobs, a dropped live connection,
keyboard focus across live card updates."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import Browser, Page, WebSocketRoute, expect

from printfleet.sim.bambu import BambuFarm
from tests.e2e.harness import Server, statuses
from tests.web.axe import assert_accessible
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, Browsing, open_page, sign_in

expect.set_options(timeout=10_000)


async def wait_live(page: Page) -> None:
    await expect(page.locator("#live-indicator")).to_have_attribute("data-live", "on")


async def test_back_from_a_job_to_the_filtered_list_shows_the_whole_page(
    browser: Browser, server: Server, farm: BambuFarm
) -> None:
    await farm[0].start_print("hinge.gcode.3mf", duration_s=60)
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
    # Without the back-forward cache, as when a browser evicts the page: Back loads the address again.
    uncached = await browser.browser_type.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--disable-features=BackForwardCache"]
    )
    browsing = await open_page(uncached)
    await sign_in(browsing, server)
    page = browsing.page
    await page.goto(server.base_url + "/jobs")
    await wait_live(page)
    await page.locator("#job-filters select[name=status]").select_option("running")
    await expect(page).to_have_url(re.compile(r"/jobs\?.*status=running"))
    await expect(page.locator("#job-rows tr")).to_have_count(1)

    await page.locator("#job-rows .job-name").click()
    await expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
    await expect(page.locator("#job-detail")).to_be_visible()
    await assert_accessible(page)

    await page.go_back()
    await expect(page).to_have_url(re.compile(r"/jobs\?.*status=running"))
    # The whole page: navigation, styles, the filters as they were, the list, local times.
    await expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    await expect(page.locator("#job-filters select[name=status]")).to_have_value("running")
    await expect(page.locator("#job-rows tr")).to_have_count(1)
    assert await page.evaluate("getComputedStyle(document.querySelector('header.top')).display") == "flex"
    await assert_accessible(page)
    await wait_live(page)

    # The fragment and the page share an address; the cache is told to keep them apart.
    fragment = await server.client.get(
        "/jobs?status=running", headers={"HX-Request": "true", "HX-Target": "jobs-results"}
    )
    assert "<header" not in fragment.text
    assert "HX-Request" in fragment.headers["vary"]
    assert fragment.headers["cache-control"] == "no-store"
    restore = await server.client.get(
        "/jobs?status=running",
        headers={"HX-Request": "true", "HX-Target": "jobs-results", "HX-History-Restore-Request": "true"},
    )
    assert "<header" in restore.text
    await browsing.context.close()
    await uncached.close()
    assert browsing.watched.errors == []


async def test_a_dropped_live_connection_is_said_plainly_and_actions_wait_for_it(
    browser: Browser, server: Server, farm: BambuFarm
) -> None:
    await farm[0].start_print("tower.gcode.3mf", duration_s=120)
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
    opened = await open_page(browser)
    await sign_in(opened, server)
    page = opened.page
    down = False
    sockets: list[WebSocketRoute] = []

    async def route(socket: WebSocketRoute) -> None:
        if down:
            await socket.close(code=1011, reason="server down")
            return
        socket.connect_to_server()
        sockets.append(socket)

    await page.route_web_socket(re.compile(r"/ui/ws"), route)
    await page.goto(server.base_url + "/")
    await wait_live(page)
    card = page.locator(f"#printer-{farm[0].printer_id}")
    pause = card.get_by_role("button", name="Pause")
    await expect(pause).to_be_enabled()
    banner = page.locator("#live-lost")
    await expect(banner).to_be_hidden()

    down = True
    for socket in sockets:
        await socket.close(code=1006, reason="gone")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text(re.compile(r"Connection lost — showing the state of \d{1,2}:\d\d"))
    await expect(pause).to_be_disabled()
    await expect(card.get_by_role("button", name="Stop")).to_be_disabled()
    opacity = await card.evaluate("node => Number(getComputedStyle(node.parentElement).opacity)")
    assert opacity < 1, "old values are dimmed"
    await asyncio.sleep(2)
    await expect(banner).to_be_visible()
    await assert_accessible(page, "#live-lost")  # the banner (the old values are dimmed on purpose)

    down = False  # the server is back: the page reconnects by itself, and all is as before
    await expect(banner).to_be_hidden(timeout=30_000)  # retries at most 15 s apart
    await wait_live(page)
    await expect(pause).to_be_enabled()
    await opened.context.close()
    assert opened.watched.errors == []


async def test_keyboard_focus_survives_live_card_updates(browsing: Browsing, server: Server, farm: BambuFarm) -> None:
    await farm[0].start_print("long.gcode.3mf", duration_s=120)
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
    page = browsing.page
    await page.goto(server.base_url + "/")
    await wait_live(page)
    pause = page.locator(f"#printer-{farm[0].printer_id}-pause")
    await pause.focus()
    swaps = await page.evaluate(
        """() => new Promise(resolve => {
             let count = 0;
             document.addEventListener('htmx:wsAfterMessage', () => { count += 1; });
             setTimeout(() => resolve(count), 3500);
           })"""
    )
    assert swaps >= 2, "the card was updated live meanwhile"
    assert await page.evaluate("document.activeElement.id") == f"printer-{farm[0].printer_id}-pause"
    # And Enter still pauses it.
    await page.keyboard.press("Enter")
    await expect(page.locator("#toasts .toast")).to_contain_text("Pause sent")


async def test_a_running_jobs_page_follows_the_print_without_touching_the_form(
    browsing: Browsing, server: Server, farm: BambuFarm
) -> None:
    await farm[0].start_print("clip.gcode.3mf", duration_s=8, total_layers=40)
    [job] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
    page = browsing.page
    await page.goto(f"{server.base_url}/jobs/{job['id']}")
    await wait_live(page)
    notes = page.get_by_label("Notes")
    await notes.click()
    await page.keyboard.type("half typed note")
    progress = page.locator("#job-facts .job-progress")
    first = await progress.text_content()
    await expect(progress).not_to_have_text(first or "", timeout=10_000)  # live progress
    await expect(page.locator("#job-facts .remaining")).to_contain_text("ends")
    await expect(page.locator("#job-facts .status-badge")).to_have_text("Completed", timeout=20_000)
    await expect(notes).to_have_value("half typed note")
    assert await page.evaluate("document.activeElement.name") == "notes"
