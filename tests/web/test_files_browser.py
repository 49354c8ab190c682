"""The Files page in a real browser: a sliced file dropped on the page and one chosen with the file input are
uploaded with a progress bar, listed with their preview, predicted time and material chips, and found by search;
Print on… lists the ready printers first and the busy one greyed with its reason, and the print's progress follows
as a toast; a printer whose print ended asks for its plate to be cleared."""

from __future__ import annotations

import base64
import re

import pytest
from playwright.async_api import Page, expect

from printfleet.domain.accounts.roles import Role
from printfleet.sim.bambu import BambuFarm
from printfleet.sim.samples import demo_samples
from tests.e2e.harness import Server
from tests.support_accounts import bearer_headers
from tests.web.conftest import Browsing, screenshot_path

expect.set_options(timeout=10_000)

SAMPLES = dict(demo_samples())


async def drop_file(page: Page, selector: str, name: str, content: bytes) -> None:
    """Drop a file on ``selector`` as the browser does when one is dragged from the desktop (a ``drop`` event whose
    DataTransfer carries the file)."""
    await page.evaluate(
        """([selector, name, data]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "application/octet-stream" }));
            const target = document.querySelector(selector);
            const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
            target.dispatchEvent(new DragEvent("dragover", init));
            target.dispatchEvent(new DragEvent("drop", init));
        }""",
        [selector, name, base64.b64encode(content).decode()],
    )


async def test_upload_by_drop_and_by_file_input_then_search(browsing: Browsing, server: Server) -> None:
    page = browsing.page
    await page.goto(server.base_url + "/")
    await page.get_by_role("link", name="Files").click()
    await expect(page.locator("h1")).to_have_text("Files")
    await expect(page.locator("#file-results .empty")).to_have_text("No files yet.")

    bracket = "shelf_bracket_and_clips.gcode.3mf"
    await drop_file(page, "#dropzone", bracket, SAMPLES[bracket])
    dropped = page.locator("#uploads .upload-row").nth(0)
    await expect(dropped.locator(".upload-name")).to_have_text(bracket)
    await expect(dropped.locator(".upload-status")).to_have_text("Added")
    assert await dropped.locator("progress").evaluate("bar => bar.value === bar.max && bar.max > 0")

    clip = "cable_clip_MK4S.gcode"
    await page.locator("#upload-input").set_input_files(
        files=[{"name": clip, "mimeType": "text/x-gcode", "buffer": SAMPLES[clip]}]
    )
    await expect(page.locator("#uploads .upload-row").nth(1).locator(".upload-status")).to_have_text("Added")
    await page.locator("#upload-input").set_input_files(
        files=[{"name": "copy.gcode", "mimeType": "text/x-gcode", "buffer": SAMPLES[clip]}]
    )
    await expect(page.locator("#uploads .upload-row").nth(2).locator(".upload-status")).to_have_text(
        "Already in the library"
    )
    await page.locator("#upload-input").set_input_files(
        files=[{"name": "model.stl", "mimeType": "model/stl", "buffer": b"solid x\nendsolid x\n"}]
    )
    refused = page.locator("#uploads .upload-row").nth(3)
    await expect(refused.locator(".upload-status")).to_contain_text("slice it first")

    files = page.locator("#file-results .library-file")
    await expect(files).to_have_count(2)
    listed = page.locator("#file-results .library-file", has_text=bracket)
    plates = listed.locator(".plate")
    await expect(plates).to_have_count(2)
    await expect(plates.nth(0).locator(".time")).to_have_text("1 h 52 min")
    await expect(plates.nth(0).locator(".grams")).to_have_text("47.7 g")
    await expect(plates.nth(0).locator(".chip .material")).to_have_text(["PLA", "PETG"])
    await expect(plates.nth(1).locator(".plate-label")).to_have_text("Plate 2")
    preview = plates.nth(1).locator("img.thumb")
    await expect(preview).to_have_attribute("alt", "Preview of plate 2")
    assert await preview.evaluate("img => img.complete && img.naturalWidth") == 64
    await expect(page.locator("#file-results .library-file", has_text=clip).locator(".chip .material")).to_have_text(
        "PETG"
    )
    await page.screenshot(path=str(screenshot_path("files", 1280)), full_page=True)

    await page.locator("#file-search").fill("mk4s")
    await expect(files).to_have_count(1)
    await expect(files.locator(".file-name")).to_have_text(clip)
    await expect(page).to_have_url(server.base_url + "/files?search=mk4s")
    await page.locator("#file-search").fill("")
    await expect(files).to_have_count(2)


async def test_print_on_lists_ready_printers_first_and_the_print_follows_as_a_toast(
    browsing: Browsing, server: Server, farm: BambuFarm
) -> None:
    cube = "calibration_cube.gcode.3mf"
    uploaded = await server.client.post("/api/v1/files", files={"file": (cube, SAMPLES[cube])})
    assert uploaded.status_code == 201
    ready, busy = farm[0], farm[1]
    await busy.start_print("other.gcode.3mf", duration_s=120)
    await server.wait_printer(busy.printer_id, "printing")
    page = browsing.page
    await page.goto(server.base_url + "/files")
    await expect(page.locator("#live-indicator")).to_have_attribute("data-live", "on")

    await page.locator("#file-results .print-on").click()
    dialog = page.locator("#print-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator(".print-file")).to_have_text(cube)
    targets = dialog.locator(".targets .target")
    await expect(targets).to_have_count(2)
    await expect(targets.nth(0).locator(".target-name")).to_have_text(ready.name)
    await expect(targets.nth(1)).to_have_class("target unavailable")
    await expect(targets.nth(1).locator(".target-name")).to_have_text(busy.name)
    await expect(targets.nth(1).locator(".target-reason")).to_have_text("Busy with another print")
    await expect(targets.nth(1).locator("button")).to_have_count(0)  # nothing to click on a busy printer
    await page.screenshot(path=str(screenshot_path("print-on", 1280)))

    await targets.nth(0).locator("button").click()
    await expect(dialog).to_be_hidden()
    toast = page.locator("#toasts .toast[data-dispatch]")
    await expect(toast).to_have_count(1)  # one toast per print, each step replacing the last
    await expect(toast).to_contain_text(ready.name)
    dispatches = (await server.client.get("/api/v1/dispatches")).json()["dispatches"]
    assert [(d["printer_id"], d["file_id"], d["plate"]) for d in dispatches] == [
        (ready.printer_id, uploaded.json()["id"], 1)
    ]
    await expect(toast).to_have_class(re.compile(r"toast-(success|error)"), timeout=20_000)  # it ended
    dispatch = (await server.client.get(f"/api/v1/dispatches/{dispatches[0]['id']}")).json()
    assert dispatch["state"] in ("started", "failed")
    if dispatch["state"] == "started":
        await expect(toast).to_have_text(re.compile(rf"Print of calibration_cube on {ready.name}: started"))
    else:  # the toast names the step and the reason, in words
        await expect(toast).to_have_text(re.compile(rf"Print of calibration_cube on {ready.name}: failed — \w"))


@pytest.mark.printers(1)
async def test_a_finished_print_asks_for_the_plate_to_be_cleared_on_its_card(
    browsing: Browsing, server: Server, farm: BambuFarm
) -> None:
    printer = farm[0]
    page = browsing.page
    await page.goto(server.base_url + "/")
    card = page.locator(f"#printer-{printer.printer_id}")
    await expect(card).to_be_visible()
    await expect(card.locator(".plate-clear")).to_have_count(0)

    await printer.start_print("bracket.gcode.3mf", duration_s=1)
    await expect(card.locator(".plate-clear-text")).to_have_text("Plate needs clearing", timeout=15_000)
    viewer = await bearer_headers(server.runtime.accounts, username="wall", role=Role.VIEWER)
    as_viewer = (await server.client.get("/", headers=viewer)).text
    assert "Plate needs clearing" in as_viewer
    assert "data-plate-cleared" not in as_viewer  # a wall screen shows it, only operators confirm it
    await card.get_by_role("button", name="bad print").click()

    await expect(page.locator("#toasts .toast-success")).to_contain_text(f"{printer.name}: plate marked cleared")
    await expect(card.locator(".plate-clear")).to_have_count(0)
    body = (await server.client.get(f"/api/v1/printers/{printer.printer_id}")).json()
    assert body["status"]["plate_needs_clearing"] is False
    (job,) = await server.jobs()
    assert (await server.runtime.jobs.get(job["id"])).plate_outcome == "bad"  # stored on the print's job
