"""A printer's card shows the scheduled print that runs next on it, and its predicted start; the card follows the
schedule live (a print scheduled, then cancelled) through the API, the Printers page and its live updates."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from printfleet.sim.bambu import BambuFarm
from tests.e2e.harness import Server, running
from tests.e2e.test_schedule import _server, farm, schedule, scheduled  # noqa: F401 - farm is a fixture
from tests.files_samples import bambu_3mf


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = 10.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await check()
        if found:
            return found
        assert loop.time() < deadline, "never held"
        await asyncio.sleep(0.1)


async def test_the_card_shows_the_next_scheduled_print_until_it_is_cancelled(
    database_url: str,
    farm: BambuFarm,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    printer, other, _ = farm.printer_configs()
    async with running(_server(database_url, [scheduled(printer), scheduled(other)], tmp_path)) as server:
        file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
        later = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
        planned = await schedule(
            server, file_id, printer_id=printer.id, job_name="Gear housing", scheduled_start=later.isoformat()
        )

        async def next_print() -> dict[str, Any] | None:
            body = (await server.client.get(f"/api/v1/printers/{printer.id}")).json()
            found: dict[str, Any] | None = body["status"]["next_print"]
            return found

        shown = await eventually(next_print)
        assert shown["print_id"] == planned["id"]
        assert shown["job_name"] == "Gear housing"
        assert datetime.fromisoformat(shown["start"]) == later.replace(second=0)
        other_status = (await server.client.get(f"/api/v1/printers/{other.id}")).json()["status"]
        assert other_status["next_print"] is None  # scheduled on the first printer only

        page = await page_text(server)
        card = page[page.index(f'id="printer-{printer.id}"') :]
        card = card[: card.index("</article>")]
        assert "Next scheduled:" in card
        assert "Gear housing" in card
        assert f'href="/schedule#scheduled-{planned["id"]}"' in card

        cancelled = await server.client.post(f"/api/v1/scheduled-prints/{planned['id']}/cancel")
        assert cancelled.status_code == 200, cancelled.text

        async def gone() -> bool:
            return await next_print() is None

        await eventually(gone)
        assert "Gear housing" not in await page_text(server)


async def page_text(server: Server) -> str:
    response = await server.client.get("/")
    assert response.status_code == 200, response.text
    return response.text
