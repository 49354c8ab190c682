"""The farm at a glance in Chromium: 30 printers on one wall screen, counts and filters, natural order, a phone.

Thirty simulated Bambu Lab printers on one broker, named ``X1C #1`` to ``X1C #30``, tagged ``room-a`` (1-15) and
``room-b`` (16-30) and given to the server in a shuffled order; a few print, one pauses, one fails.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, expect

from printfleet.sim.bambu import BambuFarm
from tests.e2e.harness import Server
from tests.web.axe import assert_accessible
from tests.web.conftest import open_page, screenshot_path, sign_in

expect.set_options(timeout=15_000)

COUNT = 30
PRINTING = (0, 4, 9, 13, 21, 27)
"""Farm indexes that print (``X1C #1``, ``#5``, ``#10``, ...); ``#17`` pauses, ``#24`` fails."""


@pytest.fixture
async def big_farm(tmp_path: Path, mosquitto_binary: str) -> AsyncIterator[BambuFarm]:
    async with BambuFarm(
        COUNT, workdir=tmp_path / "bambu", shared_broker=True, report_interval_s=1.0, prepare_s=0.2, ftps=False
    ) as bambu:
        yield bambu


@pytest.fixture
async def wall(tmp_path: Path, big_farm: BambuFarm) -> AsyncIterator[Server]:
    configs = [
        config.replace(name=f"X1C #{index + 1}", tags=("room-a" if index < COUNT // 2 else "room-b",))
        for index, config in enumerate(big_farm.printer_configs())
    ]
    random.Random(3).shuffle(configs)
    running = Server(f"sqlite+aiosqlite:///{tmp_path}/printfleet.db", configs)
    await running.start()
    await running.wait_online(timeout=40)
    for index in PRINTING:
        await big_farm[index].start_print(f"part_{index + 1}.gcode.3mf", duration_s=3600, total_layers=240)
    await big_farm[16].start_print("bracket.gcode.3mf", duration_s=3600)
    await big_farm[23].start_print("warp.gcode.3mf", duration_s=3600)
    await asyncio.sleep(1.5)
    await big_farm[16].pause()
    await big_farm[23].fail()
    yield running
    await running.stop()


async def card_names(page: Page) -> list[str]:
    """The visible cards' names in reading order (top to bottom, left to right)."""
    boxes: list[tuple[float, float, str]] = await page.evaluate(
        """() => Array.from(document.querySelectorAll('#printer-grid > .card:not([hidden])')).map(card => {
             const box = card.getBoundingClientRect();
             return [Math.round(box.top), Math.round(box.left), card.dataset.name];
           })"""
    )
    return [name for _, _, name in sorted(boxes, key=lambda box: (box[0], box[1]))]


async def test_thirty_printers_fit_a_wall_screen_in_compact_cards_counted_and_filtered(
    browser: Browser, wall: Server, big_farm: BambuFarm
) -> None:
    opened = await open_page(browser, width=1920, height=1080)
    await sign_in(opened, wall)
    page = opened.page
    await page.goto(wall.base_url + "/")
    await expect(page.locator("#live-indicator")).to_have_attribute("data-live", "on")
    cards = page.locator("#printer-grid > .card")
    await expect(cards).to_have_count(COUNT)
    await expect(page.locator('[data-count="printing"]')).to_have_text(str(len(PRINTING)))
    await expect(page.locator('[data-count="paused"]')).to_have_text("1")
    await expect(page.locator('[data-count="failed"]')).to_have_text("1")
    await expect(page.locator('[data-count="attention"]')).to_have_text("1")
    await expect(page.locator('[data-count="idle"]')).to_have_text(str(COUNT - len(PRINTING) - 2))
    assert await card_names(page) == [f"X1C #{number}" for number in range(1, COUNT + 1)], "natural name order"

    # A printing card: file, time left, the finish as a clock time, the layer.
    printing = page.locator(f"#printer-{big_farm[0].printer_id}")
    await expect(printing.locator(".timing .remaining")).to_contain_text("left")
    ends = printing.locator(".timing .ends time")
    # The weekday leads only when the finish is after midnight.
    await expect(ends).to_have_text(re.compile(r"^(\w{3} )?\d{1,2}:\d\d [AP]M$"))
    finish = datetime.fromisoformat(await ends.get_attribute("datetime") or "").astimezone(ZoneInfo("Europe/Berlin"))
    shown = (await ends.text_content() or "").split(" ")[-2]
    assert shown == f"{finish.hour % 12 or 12}:{finish.minute:02d}", "en-US: no leading zero"
    assert timedelta(minutes=55) < finish - datetime.now(UTC) < timedelta(minutes=61)
    await expect(printing.locator(".timing .layer")).to_contain_text("of 240")

    # Compact: all thirty on 1920×1080 without scrolling; an idle card is smaller than a printing one.
    await page.locator("#card-size").select_option("compact")
    await expect(page.locator("#printer-grid")).to_have_class("grid printer-grid compact")
    assert await page.evaluate("document.documentElement.scrollHeight <= window.innerHeight"), "the page scrolls"
    bottoms = await page.evaluate(
        "Array.from(document.querySelectorAll('#printer-grid > .card')).map(c => c.getBoundingClientRect().bottom)"
    )
    assert len(bottoms) == COUNT
    assert max(bottoms) <= 1080, f"the lowest card ends at {max(bottoms)}px"
    # measured in one go in the page: a live update may swap a card between two separate reads
    idle_height, printing_height = await page.evaluate(
        "ids => ids.map(id => document.getElementById(id).getBoundingClientRect().height)",
        [f"printer-{big_farm[1].printer_id}", f"printer-{big_farm[0].printer_id}"],
    )
    assert idle_height < printing_height
    await page.screenshot(path=str(screenshot_path("printers-wall", 1920)))

    await assert_accessible(page)  # axe-core: nothing serious, light or dark

    # The size is remembered by this browser.
    await page.reload()
    await expect(page.locator("#card-size")).to_have_value("compact")
    await expect(page.locator("#printer-grid")).to_have_class("grid printer-grid compact")

    # Needs attention first: the failed, then the paused printer lead.
    await page.locator("select[name=order]").select_option("attention")
    names = await card_names(page)
    assert names[:2] == ["X1C #24", "X1C #17"], names[:4]
    await expect(page).to_have_url(f"{wall.base_url}/?order=attention")

    # A count is a filter; pressing it again shows all.
    await page.locator('#farm-summary [data-filter-state="printing"]').click()
    await expect(page.locator("#printer-grid > .card:not([hidden])")).to_have_count(len(PRINTING))
    await expect(page.locator(".filter-count")).to_have_text(f"{len(PRINTING)} of {COUNT} printers shown")
    await page.locator('#farm-summary [data-filter-state="printing"]').click()
    await expect(page.locator("#printer-grid > .card:not([hidden])")).to_have_count(COUNT)
    await page.locator('#farm-summary [data-filter-state="attention"]').click()
    await expect(page.locator("#printer-grid > .card:not([hidden])")).to_have_count(1)

    # Search by name, and the address keeps it: a reload shows the same view.
    await page.locator("select[name=state]").select_option("")
    await page.locator("select[name=order]").select_option("name")
    await page.get_by_label("Search").fill("#2")
    assert await card_names(page) == ["X1C #2", *(f"X1C #{n}" for n in range(20, 30))]
    await page.reload()
    await expect(page.get_by_label("Search")).to_have_value("#2")
    await expect(page.locator("#printer-grid > .card:not([hidden])")).to_have_count(11)

    # Tags (a location here): the second room alone, searched within.
    await page.locator("select[name=tag]").select_option("room-b")
    assert await card_names(page) == [f"X1C #{n}" for n in range(20, 30)]
    await page.get_by_label("Search").fill("")
    await expect(page.locator("#printer-grid > .card:not([hidden])")).to_have_count(COUNT // 2)
    await expect(page).to_have_url(f"{wall.base_url}/?tag=room-b")
    await opened.context.close()
    assert opened.watched.errors == []


async def test_the_farm_on_a_phone_and_in_german(browser: Browser, wall: Server, big_farm: BambuFarm) -> None:
    opened = await open_page(browser, width=390, height=844, locale="de-DE")
    await sign_in(opened, wall)
    page = opened.page
    await page.goto(wall.base_url + "/")
    await expect(page.locator("#printer-grid > .card")).to_have_count(COUNT)
    await expect(page.locator("#farm-summary")).to_contain_text("Benötigt Aufmerksamkeit")
    await expect(page.locator('#farm-summary [data-filter-state="ready"]')).to_contain_text("Frei")
    await expect(page.locator('#farm-summary [data-filter-state="idle"]')).to_contain_text("Bereit")
    await expect(page.locator(f"#printer-{big_farm[0].printer_id} .timing")).to_contain_text("Ende")
    for size in ("normal", "compact"):
        await page.locator("#card-size").select_option(size)
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the printers page scrolls sideways by {overflow}px ({size})"
        lefts = await page.evaluate(
            "new Set(Array.from(document.querySelectorAll('#printer-grid > .card')).map(c => "
            "Math.round(c.getBoundingClientRect().left))).size"
        )
        assert lefts == 1, "cards stack in one column on a phone"
    await page.screenshot(path=str(screenshot_path("printers-phone-compact", 390)))
    await opened.context.close()
    assert opened.watched.errors == []
