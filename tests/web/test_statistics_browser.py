"""The Statistics page and a printer's page in a real browser: the days in the browser's own time zone once the form is
used, a bar per day, the per-printer table, the CSV link for the same range; a card's name leading to its printer's
page with its figures, state changes and jobs, live; accessible in light and dark mode; no sideways scrolling on a
phone or a wall screen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, expect

from tests.e2e.harness import Server
from tests.store.test_statistics_store import add, job, transition
from tests.web.axe import assert_accessible
from tests.web.conftest import open_page, screenshot_path, sign_in

expect.set_options(timeout=10_000)


async def seed(server: Server) -> None:
    """Three weeks of prints on both printers: mostly completed, some failed or cancelled, one still printing."""
    printers = sorted(config.id for config, _ in server.runtime.monitoring.watched())
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rows = []
    for day in range(21):
        for n, printer in enumerate(printers):
            start = now - timedelta(days=day, hours=3 + n)
            rows.append(transition(printer, start, "printing"))
            rows.append(transition(printer, start + timedelta(hours=2), "idle"))
            for k in range(1 + (day + n) % 4):
                status = "failed" if (day + k) % 7 == 3 else "cancelled" if (day + k) % 11 == 5 else "completed"
                reason = "printer error (0300_4000)" if status == "failed" else None
                rows.append(
                    job(printer, start + timedelta(minutes=k), status, duration=1800 + 600 * k, end_reason=reason)
                )
    rows.append(job(printers[0], now - timedelta(minutes=20), "running"))
    await add(server.runtime.database, *rows)


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1920, 1080)])
async def test_the_statistics_page_on_a_phone_and_a_wall_screen(
    browser: Browser, server: Server, width: int, height: int
) -> None:
    await seed(server)
    opened = await open_page(browser, width=width, height=height)
    await sign_in(opened, server)
    page = opened.page
    await page.goto(server.base_url + "/")
    await page.get_by_role("link", name="Statistics").click()
    await expect(page.locator("h1")).to_have_text("Statistics")
    await page.get_by_role("button", name="Show").click()  # the form sends the browser's time zone
    await expect(page.locator(".hint").first).to_contain_text("Europe/Berlin")
    await expect(page.locator(".stat-bars g")).to_have_count(30)  # a bar per day of the last 30
    await expect(page.locator("table.costs").first.locator("tbody tr")).to_have_count(2)
    await expect(page.get_by_text("The printer reported an error: 0300_4000.")).to_be_visible()
    href = await page.get_by_role("link", name="Export CSV").get_attribute("href")
    assert href is not None
    assert "tz=Europe%2FBerlin" in href
    assert "format=csv" in href
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the statistics page scrolls sideways by {overflow}px at {width}px"
    await assert_accessible(page)
    await page.screenshot(path=str(screenshot_path("statistics", width)), full_page=True)
    await opened.context.close()
    assert opened.watched.errors == []


async def test_a_cards_name_opens_the_printers_page(browser: Browser, server: Server) -> None:
    await seed(server)
    opened = await open_page(browser, width=1280, height=900)
    await sign_in(opened, server)
    page = opened.page
    await page.goto(server.base_url + "/")
    first = sorted(server.runtime.monitoring.watched(), key=lambda pair: pair[0].id)[0][0]
    await page.get_by_role("link", name=first.name).click()
    await expect(page).to_have_url(server.base_url + f"/printers/{first.id}")
    await expect(page.locator(f"#printer-{first.id}")).to_be_visible()
    await expect(page.locator(".printer-figures .stat-summary dd").first).not_to_have_text("0")
    await expect(page.locator("ol.timeline li").first).to_be_visible()
    await expect(page.locator("#job-rows tr").first).to_be_visible()
    await expect(page.locator("#live-indicator")).to_have_attribute("data-live", "on")
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    await assert_accessible(page)
    await page.screenshot(path=str(screenshot_path("printer", 1280)), full_page=True)
    await opened.context.close()
    assert opened.watched.errors == []
