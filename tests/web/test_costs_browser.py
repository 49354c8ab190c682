"""The Costs page in a real browser: the weekly chart and the groups with their failure share, choosing another
grouping, the CSV link for the same range; no sideways scrolling on a phone or a wall screen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, expect

from tests.e2e.harness import Server
from tests.web.conftest import open_page, screenshot_path, sign_in
from tests.web.test_costs_page import _ended_job

expect.set_options(timeout=10_000)


async def seed(server: Server) -> None:
    """Six weeks of prints: most completed, some failed, one cancelled."""
    now = datetime.now(UTC)
    monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=30, second=0, microsecond=0)
    for week in range(6):
        for n, outcome in enumerate(("completed", "completed", "failed" if week % 2 else "completed", "cancelled")):
            if outcome == "cancelled" and week != 3:
                continue
            ended = monday - timedelta(weeks=week) + timedelta(minutes=n)
            total = 1.5 + n + week
            await _ended_job(
                server,
                outcome=outcome,
                ended_at=ended,
                grams=20.0 + 7 * n + week,
                total=total,
                energy=0.1 * total,
                machine=0.3 * total,
            )


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1920, 1080)])
async def test_the_costs_page_on_a_phone_and_a_wall_screen(
    browser: Browser, server: Server, width: int, height: int
) -> None:
    await seed(server)
    opened = await open_page(browser, width=width, height=height)
    await sign_in(opened, server)
    page = opened.page
    await page.goto(server.base_url + "/costs")

    await expect(page.locator(".cost-bars g")).to_have_count(6)  # a bar per week with prints
    await expect(page.locator("table.costs tr.total")).to_contain_text("Total")
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the costs page scrolls sideways by {overflow}px at {width}px"
    if width > 1000:
        await page.get_by_label("Group by").select_option("outcome")
        await page.get_by_role("button", name="Show").click()
        await expect(page.locator("table.costs tbody th")).to_contain_text(["Cancelled", "Completed", "Failed"])
        href = await page.get_by_role("link", name="Export CSV").get_attribute("href")
        assert href is not None
        assert "group_by=outcome" in href
        assert "format=csv" in href
    await page.screenshot(path=str(screenshot_path("costs", width)), full_page=True)
    await opened.context.close()
    assert opened.watched.errors == []
