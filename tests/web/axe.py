"""axe-core in the browser tests: the accessibility violations a page has, serious and critical only.

axe-core's script comes from the ``axe-playwright-python`` package; it is evaluated in the page through the
browser's debugging protocol, which the page's Content-Security-Policy does not restrict.
"""

from __future__ import annotations

from typing import Any

from axe_playwright_python.base import AXE_SCRIPT
from playwright.async_api import Page


async def serious_violations(page: Page, selector: str | None = None) -> list[str]:
    """Each serious or critical axe-core violation on ``page`` (or in the element ``selector`` names) as
    ``"rule (impact): n node(s), e.g. selector"``."""
    await page.evaluate(AXE_SCRIPT)
    results: dict[str, Any] = await page.evaluate(
        "selector => axe.run(selector ? document.querySelector(selector) : document, {resultTypes: ['violations']})",
        selector,
    )
    return [
        f"{found['id']} ({found['impact']}): {len(found['nodes'])} node(s), e.g. {found['nodes'][0]['target']} "
        f"{found['nodes'][0].get('failureSummary', '')!r}"
        for found in results["violations"]
        if found["impact"] in ("serious", "critical")
    ]


async def assert_accessible(page: Page, selector: str | None = None) -> None:
    """Fail when axe-core finds a serious or critical violation on ``page`` (or in ``selector``'s element) in light
    or in dark mode."""
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        found = await serious_violations(page, selector)
        assert found == [], f"{scheme} mode: {found}"
    await page.emulate_media(color_scheme="light")
