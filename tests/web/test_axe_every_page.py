"""Every page of the web UI, with something on it, has no serious or critical accessibility violation (axe-core) in
light or in dark mode; the sign-in page too. The Settings page's printer list follows each printer's state live."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from printfleet.sim.bambu import BambuFarm
from tests.e2e.harness import Server
from tests.files_samples import bambu_3mf
from tests.web.axe import serious_violations
from tests.web.conftest import open_page, sign_in
from tests.web.test_statistics_browser import seed

PAGES = (
    "/",
    "/jobs",
    "/jobs/{job}",
    "/printers/{printer}",
    "/queue",
    "/schedule",
    "/files",
    "/materials",
    "/orders",
    "/orders/{order}",
    "/maintenance",
    "/notifications",
    "/statistics",
    "/costs",
    "/settings",
    "/users",
    "/audit",
    "/profile",
)


async def fill(server: Server) -> dict[str, str]:
    """Jobs and state changes, a library file, a scheduled print and an order: the ids the pages are opened with."""
    await seed(server)
    client = server.client
    upload = await client.post("/api/v1/files", files={"file": ("cube.gcode.3mf", bambu_3mf())})
    assert upload.status_code in (200, 201), upload.text
    printer = sorted(config.id for config, _ in server.runtime.monitoring.watched())[0]
    scheduled = await client.post(
        "/api/v1/scheduled-prints",
        json={"file_id": upload.json()["id"], "job_name": "Bracket", "scheduled_start": "2099-01-01T08:00:00+00:00"},
    )
    assert scheduled.status_code == 201, scheduled.text
    order = await client.post(
        "/api/v1/orders",
        json={"buyer_name": "Ada", "ship_by": "2099-01-10T12:00:00+00:00", "lines": [{"title": "Cube", "quantity": 2}]},
    )
    assert order.status_code == 201, order.text
    jobs = (await client.get("/api/v1/jobs", params={"limit": 1})).json()["jobs"]
    return {"job": str(jobs[0]["id"]), "printer": printer, "order": str(order.json()["id"])}


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
async def test_every_page_is_accessible(browser: Browser, server: Server, dark: bool) -> None:
    ids = await fill(server)
    opened = await open_page(browser, width=1280, height=900)
    await opened.page.emulate_media(color_scheme="dark" if dark else "light")
    page = opened.page
    await page.goto(server.base_url + "/signin")
    found = {"/signin": await serious_violations(page)}
    await sign_in(opened, server)
    for path in PAGES:
        url = path.format(**ids)
        response = await page.goto(server.base_url + url)
        assert response is not None
        assert response.status == 200, f"{url}: HTTP {response.status}"
        await page.wait_for_load_state("networkidle")
        found[url] = await serious_violations(page)
    await opened.context.close()
    assert {url: problems for url, problems in found.items() if problems} == {}


async def test_the_settings_printer_list_shows_each_printers_state_live(
    browser: Browser, server: Server, farm: BambuFarm
) -> None:
    opened = await open_page(browser, width=1280, height=900)
    await sign_in(opened, server)
    page = opened.page
    await page.goto(server.base_url + "/settings")
    printer = farm.printer_configs()[0]
    badge = page.locator(f"#admin-state-{printer.id}")
    await expect(badge).to_have_text("Idle")

    await farm[0].start_print("bracket.gcode.3mf", duration_s=60)

    await expect(badge).to_have_text("Printing")
    await expect(page.locator("#live-states")).to_be_empty()  # each badge went where it belongs
    await opened.context.close()
    assert opened.watched.errors == []
