"""Browser fixtures: Debian's Chromium driven by Playwright against a live server with simulated printers."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright

from printfleet.domain.accounts.roles import Role
from printfleet.services.errors import NotFound
from printfleet.sim.bambu import BambuFarm
from tests.api.conftest import RunningServer, admin_headers, start_server
from tests.e2e.harness import Server
from tests.support import need_service
from tests.support_accounts import TEST_PASSWORD

CHROMIUM = os.environ.get("PRINTFLEET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def screenshot_path(name: str, width: int) -> Path:
    """Where a test saves the screenshot README shows: ``docs/screenshots/<name>-<width>.png``."""
    DOCS.mkdir(parents=True, exist_ok=True)
    return DOCS / f"{name}-{width}.png"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium (skips, or fails under PRINTFLEET_REQUIRE_SERVICES=1, when it is not installed)."""
    need_service(os.path.exists(CHROMIUM), f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def farm(request: pytest.FixtureRequest, tmp_path: Path, mosquitto_binary: str) -> AsyncIterator[BambuFarm]:
    """Simulated Bambu Lab printers speaking MQTT over TLS: two, or as many as ``@pytest.mark.printers(n)`` asks."""
    marker = request.node.get_closest_marker("printers")
    count = marker.args[0] if marker else 2
    async with BambuFarm(count, workdir=tmp_path / "bambu", report_interval_s=0.2, prepare_s=0.2) as bambu:
        yield bambu


@pytest.fixture
async def server(tmp_path: Path, farm: BambuFarm) -> AsyncIterator[Server]:
    """A printfleet server on SQLite watching the farm, every printer online; its file library in ``tmp_path``."""
    running = Server(
        f"sqlite+aiosqlite:///{tmp_path}/printfleet.db",
        farm.printer_configs(),
        files={"directory": str(tmp_path / "files")},
    )
    await running.start()
    await running.wait_online()
    yield running
    await running.stop()


@pytest.fixture
async def bare_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A printfleet server on SQLite with no printers (file library in ``tmp_path``), for page tests that need no
    browser and no farm."""
    uv, task, base_url = await start_server(
        f"sqlite+aiosqlite:///{tmp_path}/printfleet.db", files={"directory": str(tmp_path / "files")}
    )
    headers = await admin_headers(uv)
    async with httpx.AsyncClient(base_url=base_url, timeout=10, headers=headers) as client:
        yield RunningServer(base_url=base_url, client=client, runtime=uv.config.app.state.runtime, headers=headers)
    uv.should_exit = True
    await asyncio.wait_for(task, 15)


@dataclass
class Watched:
    """What a page did that a user would see as broken: script errors, console errors, dialogs it opened."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        # A refused form (422) is the UI answering, shown in the page; Chromium still logs it as a failed load.
        if message.type == "error" and "status of 422" not in message.text:
            self.errors.append(f"console: {message.text}")


@dataclass
class Browsing:
    """One browser context (viewport, language, time zone) with its page and what was watched on it."""

    context: BrowserContext
    page: Page
    watched: Watched


async def open_page(
    browser: Browser, *, width: int = 1280, height: int = 900, locale: str = "en-US", accept_dialogs: bool = True
) -> Browsing:
    """A fresh context and page. Dialogs (``hx-confirm``) are recorded and accepted unless told otherwise."""
    context = await browser.new_context(
        viewport={"width": width, "height": height}, locale=locale, timezone_id="Europe/Berlin"
    )
    page = await context.new_page()
    watched = Watched()
    page.on("console", watched.console)
    page.on("pageerror", lambda error: watched.errors.append(f"pageerror: {error}"))

    async def on_dialog(dialog: object) -> None:
        from playwright.async_api import Dialog

        assert isinstance(dialog, Dialog)
        watched.dialogs.append(dialog.message)
        await (dialog.accept() if accept_dialogs else dialog.dismiss())

    page.on("dialog", on_dialog)
    return Browsing(context=context, page=page, watched=watched)


async def sign_in(
    browsing: Browsing,
    server: Server,
    *,
    username: str = "admin",
    role: Role = Role.ADMIN,
    display_name: str | None = None,
) -> None:
    """Sign ``browsing`` in through the sign-in page as ``username`` (created with ``role`` when missing)."""
    accounts = server.runtime.accounts
    try:
        await accounts.find_user(username)
    except NotFound:
        await accounts.create_user(
            username=username, password=TEST_PASSWORD, role=role, display_name=display_name or username
        )
    page = browsing.page
    await page.goto(server.base_url + "/signin")
    await page.locator("input[name=username]").fill(username)
    await page.locator("input[name=password]").fill(TEST_PASSWORD)
    await page.get_by_role("button", name=re.compile("^(Sign in|Anmelden)$")).click()
    await page.wait_for_url(server.base_url + "/")


@pytest.fixture
async def browsing(browser: Browser, server: Server) -> AsyncIterator[Browsing]:
    """A 1280×900 English page on ``server``, signed in as the admin (closed before the server stops); the test
    fails if the page logged a script or console error."""
    opened = await open_page(browser)
    await sign_in(opened, server)
    yield opened
    await opened.context.close()
    assert opened.watched.errors == [], opened.watched.errors
