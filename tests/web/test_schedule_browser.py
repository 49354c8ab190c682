"""The Schedule page in Chromium: the timeline strip with a running, an upcoming and an at-risk print, cancelling
from the list after a confirmation, and the page on a phone without sideways scrolling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser

from printfleet.domain.printer import QueueMode
from printfleet.sim.bambu import BambuFarm
from tests.e2e.harness import Server
from tests.files_samples import bambu_3mf
from tests.web.conftest import open_page, sign_in


@pytest.fixture
async def scheduled_server(tmp_path: Path, farm: BambuFarm) -> AsyncIterator[Server]:
    """The farm's printers as ``scheduled`` printers, plates gated (so a finished print holds the next one)."""
    running = Server(
        f"sqlite+aiosqlite:///{tmp_path}/printfleet.db",
        [config.replace(queue_mode=QueueMode.SCHEDULED) for config in farm.printer_configs()],
        files={"directory": str(tmp_path / "files")},
        schedule={"stagger": 0, "interval": 0.5},
    )
    await running.start()
    await running.wait_online()
    yield running
    await running.stop()


async def test_the_strip_shows_running_upcoming_and_at_risk_prints_and_cancel_works(
    browser: Browser, scheduled_server: Server, farm: BambuFarm
) -> None:
    server = scheduled_server
    printer = farm.printer_configs()[0].id
    await farm[1].start_print("by-hand.gcode.3mf", duration_s=600)  # the other printer is busy for a while
    await server.wait_printer(farm.printer_configs()[1].id, "printing")
    file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
    post = server.client.post
    first = (await post("/api/v1/scheduled-prints", json={"file_id": file_id, "printer_id": printer})).json()[0]
    after = {"file_id": file_id, "printer_id": printer, "depends_on": first["id"], "job_name": "Lid"}
    await post("/api/v1/scheduled-prints", json=after)
    soon = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    risky = {"file_id": file_id, "printer_id": printer, "job_name": "Rush", "finish_by": soon}
    rush = (await post("/api/v1/scheduled-prints", json=risky)).json()[0]

    browsing = await open_page(browser)
    await sign_in(browsing, server)
    page = browsing.page
    await page.goto(server.base_url + "/schedule")
    await page.locator(".lane-track .block").first.wait_for()
    assert await page.locator(".lane-track .block.at-risk").count() >= 1
    assert await page.locator(".lane-track .deadline").count() >= 1
    await page.screenshot(path=str(Path(server.settings["files"]["directory"]).parent / "schedule.png"))

    await page.locator(f"#scheduled-{rush['id']} button.danger").click()
    await page.locator(f"#scheduled-{rush['id']}").get_by_text("Cancelled").wait_for()
    assert browsing.watched.dialogs == ["Cancel Rush?"]
    assert (await server.client.get(f"/api/v1/scheduled-prints/{rush['id']}")).json()["status"] == "cancelled"
    assert browsing.watched.errors == []
    await browsing.context.close()

    phone = await open_page(browser, width=390, height=844)
    await sign_in(phone, server)
    await phone.page.goto(server.base_url + "/schedule")
    width = await phone.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    assert phone.watched.errors == []
    await phone.context.close()
