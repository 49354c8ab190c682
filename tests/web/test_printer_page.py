"""A printer's page: its live card, its figures over the last 30 days, its state changes and its latest jobs; the
card's name leads there; a member sees the card and their own jobs but not the farm's figures; an unknown printer is
a page that says so."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import websockets

from printfleet.domain.accounts.roles import Role
from printfleet.sim.bambu import BambuFarm
from tests.e2e.harness import Server
from tests.store.test_statistics_store import add, job, transition
from tests.support_accounts import bearer_headers


async def seed(server: Server) -> str:
    printer = sorted(config.id for config, _ in server.runtime.monitoring.watched())[0]
    now = datetime.now(UTC).replace(microsecond=0)
    await add(
        server.runtime.database,
        transition(printer, now - timedelta(days=2, hours=4), "printing"),
        transition(printer, now - timedelta(days=2, hours=2), "finished"),
        job(printer, now - timedelta(days=2, hours=4), "completed", duration=7200, name="gear housing"),
        job(
            printer,
            now - timedelta(days=1),
            "failed",
            duration=600,
            name="tall vase",
            end_reason="printer error (0700_2000_0002_0001)",
        ),
    )
    return printer


async def test_an_operator_sees_the_printers_card_figures_state_changes_and_jobs(server: Server) -> None:
    printer = await seed(server)
    home = await server.client.get("/")
    assert f'href="/printers/{printer}"' in home.text

    response = await server.client.get(f"/printers/{printer}")

    assert response.status_code == 200, response.text
    body = response.text
    assert f'id="printer-{printer}"' in body  # its card
    assert "<dt>Prints</dt><dd>2</dd>" in body
    assert "<dt>Success rate</dt><dd>50 %</dd>" in body
    assert "<dt>Printing hours</dt><dd>2.2</dd>" in body
    assert 'data-state="finished"' in body  # a state change listed
    assert "gear housing" in body
    assert "tall vase" in body
    assert "The printer reported an error: 0700_2000_0002_0001." in body
    assert f"view=printer&amp;lang=en&amp;printer_id={printer}" in body


async def test_the_page_follows_the_printer_live(server: Server, farm: BambuFarm) -> None:
    printer = await seed(server)
    other = sorted(config.id for config, _ in server.runtime.monitoring.watched())[1]
    url = server.ws_url.replace("/ws", "/ui/ws") + f"?view=printer&lang=en&printer_id={printer}"
    async with websockets.connect(url, additional_headers=server.headers) as socket:
        rows = str(await asyncio.wait_for(socket.recv(), 10))
        card = str(await asyncio.wait_for(socket.recv(), 10))
        assert rows.startswith('<tbody id="job-rows"')  # alone: htmx reads a message starting with <tbody> as rows
        assert "gear housing" in rows
        assert card.startswith(f'<article hx-swap-oob="true" class="card state-idle" id="printer-{printer}"')
        simulated = next(p for p in farm.printers if p.printer_id == printer)
        await simulated.start_print("benchy.gcode.3mf", duration_s=600)
        seen = ""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while 'data-state="printing"' not in seen or "benchy" not in seen:
            assert loop.time() < deadline, f"no live card and job row for the print: {seen[-2000:]}"
            seen += str(await asyncio.wait_for(socket.recv(), 15))
        assert f'id="printer-{printer}"' in seen
        assert f'id="printer-{other}"' not in seen  # only this printer's card


async def test_a_member_sees_the_card_and_own_jobs_but_not_the_farms_figures(server: Server) -> None:
    printer = await seed(server)
    member = await bearer_headers(server.runtime.accounts, username="mia", role=Role.MEMBER)
    response = await server.client.get(f"/printers/{printer}", headers=member)
    assert response.status_code == 200
    assert f'id="printer-{printer}"' in response.text
    assert "Success rate" not in response.text
    assert "gear housing" not in response.text  # not hers


async def test_an_unknown_printer_is_a_page_that_says_so(server: Server) -> None:
    response = await server.client.get("/printers/nope")
    assert response.status_code == 404
    assert "There is no printer nope." in response.text
