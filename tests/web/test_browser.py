"""The web UI in a real browser: Chromium against a live server watching simulated Bambu Lab printers.

Each test does what an operator does and checks what they would see: live cards and rows without reloading,
toasts, the ⚡ Auto badge and its tooltip, the settings toggle, the job form, escaping of hostile file names.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Browser, Page, expect

from printfleet.domain.accounts.roles import Role
from printfleet.sim.bambu import BambuFarm
from printfleet.sim.prusalink import SimulatedPrusaLinkPrinter
from tests.e2e.harness import Server, statuses
from tests.web.conftest import Browsing, open_page, screenshot_path, sign_in

expect.set_options(timeout=10_000)

INJECTION = "<img src=x onerror=alert(1)>.gcode"
MK4_PASSWORD = "k7Qm2pXv9w"


async def mark(page: Page) -> None:
    """Leave a marker in the page's window: it survives only if the page is never reloaded."""
    await page.evaluate("window.__noReload = 'still here'")


async def assert_not_reloaded(page: Page) -> None:
    assert await page.evaluate("window.__noReload") == "still here", "the page was reloaded"


async def wait_live(page: Page) -> None:
    """Wait until the page's live connection is open (the header shows Live)."""
    await expect(page.locator("#live-indicator")).to_have_attribute("data-live", "on")


async def test_a_print_started_on_a_printer_shows_a_toast_and_a_badged_row_without_reload(
    browsing: Browsing, server: Server, farm: BambuFarm
) -> None:
    page = browsing.page
    await page.goto(server.base_url + "/jobs")
    await wait_live(page)
    await expect(page.locator("#job-rows tr")).to_have_count(0)
    await mark(page)

    printer = farm[0]
    await printer.start_print("benchy.gcode.3mf", duration_s=3)

    toast = page.locator("#toasts .toast")
    await expect(toast).to_contain_text(f"⚡ Job auto-created — benchy on {printer.name}")
    row = page.locator("#job-rows tr")
    await expect(row).to_have_count(1)
    await expect(row.locator(".job-name")).to_have_text("benchy")
    await expect(row.locator(".badge.auto")).to_have_text("⚡ Auto")
    await expect(row.locator(".status-badge")).to_have_text("Running")

    job = (await server.jobs())[0]
    tooltip = row.locator("[role=tooltip]")
    await expect(tooltip).to_be_hidden()
    await row.locator(".badge.auto").hover()
    await expect(tooltip).to_be_visible()
    await expect(tooltip).to_contain_text("Discovered")
    if job["customer_info"]["printer_start_time"] is None:
        await expect(tooltip).to_contain_text("Print start time unknown")
    else:
        await expect(tooltip).to_contain_text("Printer start time")
    await expect(tooltip).not_to_contain_text("discovered on startup")

    # The print ends on the printer: the same row turns Completed, still without a reload.
    await expect(row.locator(".status-badge")).to_have_text("Completed", timeout=15_000)
    await expect(page.locator("#job-rows tr")).to_have_count(1)
    await assert_not_reloaded(page)


async def test_printer_cards_follow_the_printer_and_pause_asks_first(
    browser: Browser, server: Server, farm: BambuFarm
) -> None:
    opened = await open_page(browser, accept_dialogs=False)
    await sign_in(opened, server)
    page = opened.page
    printer = farm[1]
    await page.goto(server.base_url + "/")
    await wait_live(page)
    await mark(page)
    card = page.locator(f"#printer-{printer.printer_id}")
    await expect(card.locator(".state-badge")).to_have_text("Idle")
    await expect(card.locator(".tray")).to_have_count(4)

    await printer.start_print("gear.gcode.3mf", duration_s=60)
    await expect(card.locator(".state-badge")).to_have_text("Printing")
    await expect(card.locator(".file")).to_have_text("gear.gcode.3mf")
    await expect(card.locator("progress")).to_be_visible()

    # Dismissing the confirmation sends nothing.
    await card.get_by_role("button", name="Pause").click()
    assert opened.watched.dialogs == [f"Pause the print on {printer.name}?"]
    await asyncio.sleep(0.5)
    assert printer.print is not None
    assert printer.print.active
    await expect(card.locator(".state-badge")).to_have_text("Printing")
    await opened.context.close()

    # Accepting it pauses the printer, and the card says so.
    opened = await open_page(browser)
    await sign_in(opened, server)
    page = opened.page
    await page.goto(server.base_url + "/")
    await wait_live(page)
    card = page.locator(f"#printer-{printer.printer_id}")
    await card.get_by_role("button", name="Pause").click()
    await expect(page.locator("#toasts .toast")).to_contain_text("Pause sent")
    await expect(card.locator(".state-badge")).to_have_text("Paused")
    await expect(card.get_by_role("button", name="Resume")).to_be_visible()
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["paused"])
    await opened.context.close()
    assert opened.watched.errors == []


async def test_switching_auto_creation_off_means_the_next_print_makes_no_job(
    browsing: Browsing, server: Server, farm: BambuFarm
) -> None:
    page = browsing.page
    await page.goto(server.base_url + "/settings")
    toggle = page.get_by_role("switch", name="Automatically create jobs when prints start")
    await expect(toggle).to_be_checked()
    await toggle.click()
    await expect(page.locator("#toasts .toast")).to_contain_text("Saved")
    settings = (await server.client.get("/api/v1/settings")).json()
    assert settings["job_creation_auto_create"] is False

    await page.reload()  # saved for real: the page comes back with the toggle off
    await expect(page.get_by_role("switch", name="Automatically create jobs when prints start")).not_to_be_checked()

    await page.goto(server.base_url + "/jobs")
    await wait_live(page)
    await farm[0].start_print("untracked.gcode.3mf", duration_s=60)
    await server.wait_printer(farm[0].printer_id, "printing")
    await asyncio.sleep(1.0)
    assert await server.jobs() == []
    await expect(page.locator("#job-rows tr")).to_have_count(0)
    await expect(page.locator("#toasts .toast")).to_have_count(0)


async def test_editing_a_job_from_its_page(browsing: Browsing, server: Server, farm: BambuFarm) -> None:
    await farm[0].start_print("bracket.gcode.3mf", duration_s=60)
    jobs = await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
    job_id = jobs[0]["id"]
    page = browsing.page
    await page.goto(f"{server.base_url}/jobs/{job_id}")

    # Printer and file of an auto-created job are read-only: the form has no fields for them.
    form = page.locator("#job-form")
    await expect(form.locator("[name=printer_id]")).to_have_count(0)
    await expect(form.locator("[name=filename]")).to_have_count(0)

    await form.get_by_label("Job name").fill("Bracket for ACME")
    await form.get_by_label("Business job (for a customer)").check()
    await form.get_by_label("Customer", exact=True).fill("ACME Ltd")
    await form.get_by_label("Order or reference").fill("PO-1042")
    await form.get_by_label("Notes").fill("PETG, 4 walls")
    await form.get_by_role("button", name="Save").click()
    await expect(page.locator("#toasts .toast")).to_contain_text("Job saved")
    await expect(page.locator("#job-detail h1")).to_have_text("Bracket for ACME")

    saved = (await server.client.get(f"/api/v1/jobs/{job_id}")).json()
    assert saved["job_name"] == "Bracket for ACME"
    assert saved["is_business"] is True
    assert saved["notes"] == "PETG, 4 walls"
    assert saved["customer_info"]["name"] == "ACME Ltd"
    assert saved["customer_info"]["order"] == "PO-1042"
    assert saved["customer_info"]["auto_created"] is True

    # An empty name is refused with the reason, and nothing changes.
    await form.get_by_label("Job name").fill(" ")
    await page.locator("#job-form").get_by_role("button", name="Save").click()
    await expect(page.locator("#job-form .errors")).to_contain_text("job_name")
    assert (await server.client.get(f"/api/v1/jobs/{job_id}")).json()["job_name"] == "Bracket for ACME"

    await page.get_by_role("button", name="Convert to manual").click()
    await expect(page.locator("#job-detail .badge.auto")).to_have_count(0)
    assert (await server.client.get(f"/api/v1/jobs/{job_id}")).json()["customer_info"].get("auto_created") is None

    await page.get_by_role("button", name="Delete").click()
    assert browsing.watched.dialogs[-1] == "Delete the job Bracket for ACME?"
    await expect(page).to_have_url(re.compile(r"/jobs$"))
    assert (await server.client.get(f"/api/v1/jobs/{job_id}")).status_code == 404
    await expect(page.locator(f"#job-{job_id}")).to_have_count(0)


async def test_a_hostile_file_name_renders_as_text_everywhere(
    browsing: Browsing, server: Server, farm: BambuFarm
) -> None:
    page = browsing.page
    await page.goto(server.base_url + "/jobs")
    await wait_live(page)
    await farm[0].start_print(INJECTION, duration_s=60)

    row = page.locator("#job-rows tr")
    await expect(row).to_have_count(1)
    await expect(row.locator(".file")).to_have_text(INJECTION)
    await expect(page.locator("#toasts .toast")).to_contain_text("<img src=x onerror=alert(1)>")
    assert await page.locator("main img, #toasts img").count() == 0

    job_id = (await server.jobs())[0]["id"]
    await page.goto(f"{server.base_url}/jobs/{job_id}")
    await expect(page.locator("#job-detail .file")).to_have_text(INJECTION)
    await page.goto(server.base_url + "/")
    await expect(page.locator(f"#printer-{farm[0].printer_id} .file")).to_have_text(INJECTION)
    # The only picture is the card's own plate preview, by printfleet's address, never one the file name made.
    for src in await page.locator("main img").evaluate_all("images => images.map(image => image.getAttribute('src'))"):
        assert src == f"/api/v1/jobs/{job_id}/preview", src
    await asyncio.sleep(0.3)
    assert browsing.watched.dialogs == [], "script from a file name ran"


async def farm_at_work(server: Server, farm: BambuFarm) -> None:
    """Five printers in five situations: printing, paused, finished, failed, idle."""
    await farm[2].start_print("lid.gcode.3mf", duration_s=0.5)
    await farm[3].start_print("warp_test.gcode.3mf", duration_s=60)
    await farm[0].start_print("phone_stand.gcode.3mf", duration_s=40)
    await farm[1].start_print("cable_clip.gcode.3mf", duration_s=600)
    await server.wait_jobs(lambda jobs: sorted(statuses(jobs)) == ["completed", "running", "running", "running"])
    await farm[1].pause()
    await farm[3].fail()
    await server.wait_jobs(lambda jobs: sorted(statuses(jobs)) == ["completed", "failed", "paused", "running"])
    await asyncio.sleep(2)  # some progress on the running print


@pytest.mark.printers(5)
@pytest.mark.parametrize(("width", "height"), [(390, 844), (1920, 1080)])
async def test_layout_on_a_phone_and_a_wall_screen(
    browser: Browser, server: Server, farm: BambuFarm, width: int, height: int
) -> None:
    await farm_at_work(server, farm)
    opened = await open_page(browser, width=width, height=height)
    await sign_in(opened, server)
    page = opened.page

    await page.goto(server.base_url + "/")
    await wait_live(page)
    cards = page.locator(".card")
    await expect(cards).to_have_count(5)
    await expect(page.locator(f"#printer-{farm[1].printer_id} .state-badge")).to_have_text("Paused")
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the printers page scrolls sideways by {overflow}px at {width}px"
    boxes = [box for i in range(5) if (box := await cards.nth(i).bounding_box()) is not None]
    lefts = {round(box["x"]) for box in boxes}
    if width < 600:
        assert len(lefts) == 1, "cards should stack in one column on a phone"
    else:
        assert len(lefts) >= 4, f"a wall screen should show the farm side by side, got {len(lefts)} columns"
    await page.screenshot(path=str(screenshot_path("printers", width)))

    await page.goto(server.base_url + "/jobs")
    await expect(page.locator("#job-rows tr")).to_have_count(4)
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the jobs page scrolls sideways by {overflow}px at {width}px"
    header_visible = await page.locator("table.jobs thead").is_visible()
    assert header_visible is (width >= 600), "phones show each job as a labelled block, wide screens a table"
    await page.screenshot(path=str(screenshot_path("jobs", width)))
    await opened.context.close()
    assert opened.watched.errors == []


async def test_the_ui_speaks_german_when_the_browser_asks_and_switches_back(browser: Browser, server: Server) -> None:
    opened = await open_page(browser, locale="de-DE")
    await sign_in(opened, server)
    page = opened.page
    await page.goto(server.base_url + "/settings")
    await expect(page.locator("html")).to_have_attribute("lang", "de")
    await expect(page.get_by_role("switch", name="Automatische Auftrags-Erstellung")).to_be_checked()
    await page.get_by_role("link", name="EN", exact=True).click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page).to_have_url(re.compile(r"/settings$"))
    await expect(page.get_by_role("switch", name="Automatically create jobs when prints start")).to_be_visible()
    await opened.context.close()
    assert opened.watched.errors == []


async def test_adding_testing_and_removing_a_printer_in_settings(browsing: Browsing, server: Server) -> None:
    page = browsing.page
    async with SimulatedPrusaLinkPrinter("mk4-web", name="MK4 Web", password=MK4_PASSWORD) as mk4:
        await page.goto(server.base_url + "/settings")
        await page.get_by_text("Add a printer", exact=True).click()
        form = page.locator("#printer-form-new")
        await form.get_by_label("ID", exact=True).fill("mk4-web")
        await form.get_by_label("Type").select_option("prusalink")
        await expect(form.get_by_label("Serial number")).to_be_hidden()  # Bambu Lab only
        await form.get_by_label("Name", exact=True).fill("MK4 Web")
        await form.get_by_label("Host").fill("127.0.0.1")
        await form.get_by_label("Port", exact=True).fill(str(mk4.port))
        await form.get_by_label("User name").fill("maker")

        await form.locator("[name=password]").fill("wrong-password")
        await form.get_by_role("button", name="Test connection").click()
        await expect(form.locator(".test-result")).to_contain_text("Could not connect")
        await expect(form.locator(".test-result")).to_contain_text("rejected")

        await form.locator("[name=password]").fill(MK4_PASSWORD)
        await form.get_by_role("button", name="Test connection").click()
        await expect(form.locator(".test-result")).to_contain_text("Connected — Idle")
        assert (await server.client.get("/api/v1/printers/mk4-web")).status_code == 404  # a test saves nothing

        await form.get_by_role("button", name="Add printer").click()
        await expect(page.locator("#toasts .toast")).to_contain_text("Printer added")
        admin = page.locator("#admin-mk4-web")
        await expect(admin).to_contain_text("MK4 Web")
        await expect(admin.locator('[data-secret="password"]')).to_have_text("set")
        assert MK4_PASSWORD not in await page.content()
        assert (await server.client.get("/api/v1/printers/mk4-web")).json()["has_password"] is True

        await page.goto(server.base_url + "/")
        await expect(page.locator("#printer-mk4-web .state-badge")).to_have_text("Idle")

        await page.goto(server.base_url + "/settings")
        await page.locator("#admin-mk4-web summary").click()
        await page.locator("#admin-mk4-web").get_by_role("button", name="Remove").click()
        assert browsing.watched.dialogs[-1] == "Remove the printer MK4 Web? Its jobs stay."
        await expect(page.locator("#toasts .toast")).to_contain_text("Printer removed")
        await expect(page.locator("#admin-mk4-web")).to_have_count(0)
        assert (await server.client.get("/api/v1/printers/mk4-web")).status_code == 404


@pytest.mark.printers(1)
async def test_the_queue_page_offers_a_free_printer_live_and_follows_the_print(
    browser: Browser, server: Server, farm: BambuFarm
) -> None:
    printer = farm[0]
    # Someone else watches the queue page: everything they see arrives over the live connection.
    watcher = await open_page(browser)
    await sign_in(watcher, server)
    await watcher.page.goto(server.base_url + "/queue")
    await wait_live(watcher.page)
    await mark(watcher.page)
    await expect(watcher.page.locator("#queue-live")).to_contain_text("Nobody is in the queue.")

    # Ada, a member, signs in and joins from the form: she joins as herself.
    ada = await open_page(browser)
    await sign_in(ada, server, username="ada", role=Role.MEMBER, display_name="Ada")
    page = ada.page
    await page.goto(server.base_url + "/queue")
    await wait_live(page)
    await mark(page)
    form = page.locator("#queue-join form")
    await expect(form).to_contain_text("You join as Ada.")
    await form.get_by_label("Job name").fill("benchy")
    await form.get_by_label("Estimate").fill("30m")
    await form.get_by_role("button", name="Join the queue").click()
    await expect(page.locator("#toasts .toast", has_text="a printer is free for you, claim it now")).to_have_count(1)
    await expect(form.get_by_label("Job name")).to_have_value("")  # a fresh form
    await expect(page.locator("#queue-live .queue-admin")).to_have_count(0)  # a member does not manage the queue

    # The idle printer is offered at once; the watcher sees the offer and its claim countdown appear.
    for seen in (page, watcher.page):
        row = seen.locator("#entry-1")
        await expect(row.locator(".entry-status")).to_have_text("Offered")
        await expect(row).to_contain_text(f"on {printer.name}")
        await expect(row.locator(".countdown")).to_have_text(re.compile(r"^(9|10):\d\d$"))
        # A countdown reads as one, apart from the deadline's clock time.
        await expect(row.locator(".countdown-left")).to_have_text(re.compile(r"^(9|10):\d\d left$"))
    # The offer's toast goes to Ada alone: the watcher sees the offer in the list, never a stack of toasts.
    await expect(
        page.locator("#toasts .toast", has_text=f"{printer.name} is free for you (benchy): claim it now.")
    ).to_have_count(1)
    await expect(watcher.page.locator("#toasts .toast", has_text="is free for")).to_have_count(0)

    await page.locator("#entry-1").get_by_role("button", name="Claim").click()
    await expect(page.locator("#toasts .toast", has_text=f"{printer.name} is reserved for benchy")).to_have_count(1)
    for seen in (page, watcher.page):
        row = seen.locator("#entry-1")
        await expect(row.locator(".entry-status")).to_have_text("Claimed")
        await expect(row.locator(".deadline")).to_contain_text("Start by")
        await expect(seen.locator(f"#queue-printer-{printer.printer_id} .holder")).to_contain_text("Ada · benchy")

    # A second job waits behind; then the print starts on the printer and the entry follows, without a reload.
    bea = await server.runtime.accounts.create_user(
        username="bea", password="bea's long password", role=Role.MEMBER, display_name="Bea"
    )
    token, _ = await server.runtime.accounts.create_token(bea.id, name="phone", actor=None)
    joined = await server.client.post(
        "/api/v1/queue", json={"job_name": "lid", "estimate": "45"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert joined.status_code == 201, joined.text
    await expect(watcher.page.locator("#entry-2 .entry-status")).to_have_text("Waiting")
    await printer.start_print("benchy.gcode.3mf", duration_s=120)
    for seen in (page, watcher.page):
        await expect(seen.locator("#entry-1 .entry-status")).to_have_text("Printing")
        await expect(seen.locator("#entry-1 .eta")).to_contain_text("left")
        await expect(seen.locator("#entry-1 .row-actions button")).to_have_count(0)
        await expect(seen.locator("#entry-2 td").first).to_have_text("1")
        await assert_not_reloaded(seen)
    entry = (await server.client.get("/api/v1/queue/1")).json()["entry"]
    assert entry["status"] == "printing"
    assert entry["job_id"] is not None

    await page.evaluate("document.querySelectorAll('#toasts .toast').forEach((toast) => toast.remove())")
    await page.screenshot(path=str(screenshot_path("queue", 1280).with_name("queue.png")), full_page=True)
    await watcher.context.close()
    assert watcher.watched.errors == []
    await ada.context.close()
    assert ada.watched.errors == []

    phone = await open_page(browser, width=390, height=844)
    await sign_in(phone, server)
    await phone.page.goto(server.base_url + "/queue")
    await expect(phone.page.locator("#entry-1 .entry-status")).to_have_text("Printing")
    overflow = await phone.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the queue page scrolls sideways by {overflow}px on a phone"
    await phone.context.close()
    assert phone.watched.errors == []


async def test_signing_in_making_a_token_and_signing_out_in_the_browser(browser: Browser, server: Server) -> None:
    opened = await open_page(browser)
    page = opened.page
    await page.goto(server.base_url + "/settings")
    await expect(page).to_have_url(re.compile(r"/signin\?next=%2Fsettings$"))
    await page.locator("input[name=username]").fill("admin")
    await page.locator("input[name=password]").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator(".form-error")).to_have_text("Wrong username or password.")
    await page.screenshot(path=str(screenshot_path("signin", 1280)))
    await sign_in(opened, server)

    await page.goto(server.base_url + "/profile")
    await page.locator("#tokens input[name=name]").fill("home assistant")
    await page.get_by_role("button", name="Create token").click()
    token = await page.locator("#new-token").text_content()
    assert token is not None
    assert token.startswith("pf_")
    await expect(page.locator("#tokens table")).to_contain_text(token[:11])
    response = await server.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.json()["username"] == "admin"
    await page.goto(server.base_url + "/users")
    await expect(page.locator("table.users")).to_contain_text("admin")
    await page.screenshot(path=str(screenshot_path("users", 1280)))

    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/signin$"))
    await page.goto(server.base_url + "/")
    await expect(page).to_have_url(re.compile(r"/signin\?next=%2F$"))
    await opened.context.close()
    # The refused sign-in is the page answering (401, shown in the form); Chromium logs it as a failed load.
    assert [e for e in opened.watched.errors if "status of 401" not in e] == []
