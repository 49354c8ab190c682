"""The web UI's pages and form actions over HTTP: filters, pagination, errors, secrets, cross-site protection.

A real server on loopback; what a browser would receive is checked as HTML text (the browser tests check what a
user sees in Chromium).
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from printfleet.domain.jobs import JobFilter, JobStatus
from printfleet.web.jobs_view import PAGE_SIZE, JobsQuery
from tests.api.conftest import RunningServer
from tests.support import free_port

ACCESS_CODE = "80467311"
HTMX = {"HX-Request": "true"}


def rows(html: str) -> list[str]:
    """The job ids of the rows in a jobs page, top to bottom."""
    return re.findall(r'<tr id="job-(\d+)"', html)


async def add_manual_jobs(client: httpx.AsyncClient, printer_id: str, names: list[str]) -> None:
    for name in names:
        response = await client.post("/api/v1/jobs", json={"printer_id": printer_id, "job_name": name})
        assert response.status_code == 201, response.text


def bambu_form(printer_id: str = "x1c-a", **fields: str) -> dict[str, str]:
    return {
        "id": printer_id,
        "type": "bambu",
        "name": "X1C A",
        "host": "127.0.0.1",
        "port": str(free_port()),
        "serial": "01S00C000000099",
        "access_code": ACCESS_CODE,
        "tls_insecure": "1",
        **fields,
    }


async def test_pages_carry_a_strict_content_security_policy_and_server_timing(bare_server: RunningServer) -> None:
    for path in ("/", "/jobs", "/settings"):
        response = await bare_server.client.get(path)
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["x-frame-options"] == "DENY"
        assert re.fullmatch(r"app;dur=\d+\.\d", response.headers["server-timing"])
    assert (await bare_server.client.get("/static/vendor/htmx.min.js")).status_code == 200
    assert (await bare_server.client.get("/static/vendor/htmx-ext-ws.js")).status_code == 200


async def test_jobs_page_paginates_newest_first(bare_server: RunningServer) -> None:
    await bare_server.client.post("/api/v1/printers", json=_unreachable_octoprint("o1"))
    names = [f"part {n:03d}" for n in range(PAGE_SIZE + 12)]
    await add_manual_jobs(bare_server.client, "o1", names)

    first = (await bare_server.client.get("/jobs")).text
    assert len(rows(first)) == PAGE_SIZE
    assert "part 061" in first  # the newest
    assert "part 000" not in first
    assert "Page 1 of 2" in first
    assert f"Jobs 1–{PAGE_SIZE} of {PAGE_SIZE + 12}" in first

    second = (await bare_server.client.get("/jobs?page=2")).text
    assert len(rows(second)) == 12
    assert "part 000" in second
    assert set(rows(first)).isdisjoint(rows(second))

    partial = await bare_server.client.get("/jobs?page=2", headers={**HTMX, "HX-Target": "jobs-results"})
    assert partial.text.startswith('<div id="jobs-results">')
    assert "<html" not in partial.text
    assert "view=jobs" in partial.text
    assert "page=2" in partial.text


async def test_jobs_page_filters_and_names_bad_parameters(bare_server: RunningServer) -> None:
    await bare_server.client.post("/api/v1/printers", json=_unreachable_octoprint("o1"))
    await bare_server.client.post("/api/v1/printers", json=_unreachable_octoprint("o2"))
    await add_manual_jobs(bare_server.client, "o1", ["left bracket"])
    await add_manual_jobs(bare_server.client, "o2", ["right bracket"])

    only_o2 = (await bare_server.client.get("/jobs?printer_id=o2")).text
    assert "right bracket" in only_o2
    assert "left bracket" not in only_o2
    assert "No jobs match." in (await bare_server.client.get("/jobs?auto=yes")).text
    assert "No jobs match." in (await bare_server.client.get("/jobs?status=completed")).text

    today = datetime.now(ZoneInfo("Pacific/Auckland")).date()
    in_range = (await bare_server.client.get(f"/jobs?from={today}&to={today}&tz=Pacific/Auckland")).text
    assert len(rows(in_range)) == 2
    yesterday = today - timedelta(days=1)
    before = (await bare_server.client.get(f"/jobs?to={yesterday}&tz=Pacific/Auckland")).text
    assert rows(before) == []

    searched = (await bare_server.client.get("/jobs?q=LEFT")).text
    assert "left bracket" in searched
    assert "right bracket" not in searched
    assert 'name="q" value="LEFT"' in searched
    assert 'ws-connect="/ui/ws?view=jobs&amp;lang=en&amp;q=LEFT"' in searched  # the live list keeps the search
    api = (await bare_server.client.get("/api/v1/jobs", params={"search": "right"})).json()
    assert [found["job_name"] for found in api["jobs"]] == ["right bracket"]

    bad = await bare_server.client.get("/jobs?status=lost&from=21.11.2026&tz=Mars/Olympus&page=x")
    assert bad.status_code == 400
    for reason in ("status: unknown value 'lost'", "from: give a date as YYYY-MM-DD", "tz: unknown time zone"):
        assert reason in html.unescape(bad.text)
    assert len(rows(bad.text)) == 2  # the bad filters are dropped, the page still works


async def test_an_unknown_job_is_a_404_page(bare_server: RunningServer) -> None:
    response = await bare_server.client.get("/jobs/4711")
    assert response.status_code == 404
    assert "Job not found" in response.text
    assert "4711" in response.text


async def test_printer_form_keeps_secrets_out_of_the_page(bare_server: RunningServer) -> None:
    client = bare_server.client
    added = await client.post("/ui/printers", data=bambu_form(), headers=HTMX)
    assert added.status_code == 200, added.text
    assert "Printer added" in added.text
    assert ACCESS_CODE not in added.text
    printer = (await client.get("/api/v1/printers/x1c-a")).json()
    assert printer["has_access_code"] is True

    page = (await client.get("/settings")).text
    assert ACCESS_CODE not in page
    assert 'data-secret="access_code">set<' in page
    assert "No shop is configured: set etsy.keystring and etsy.shared_secret" in page  # where to start with Etsy

    # An edit with the secret left empty keeps it; the other fields change.
    edited = await client.post(
        "/ui/printers/x1c-a", data={**bambu_form(), "access_code": "", "name": "X1C Left"}, headers=HTMX
    )
    assert edited.status_code == 200, edited.text
    printer = (await client.get("/api/v1/printers/x1c-a")).json()
    assert (printer["name"], printer["has_access_code"]) == ("X1C Left", True)

    # A refused form comes back with the problem and what was typed, but never the secret.
    refused = await client.post(
        "/ui/printers", data=bambu_form("x1c-b", serial="", access_code="55554444"), headers=HTMX
    )
    assert refused.status_code == 422
    assert "Serial number: A Bambu Lab printer’s serial number is needed (on the printer: Settings → Device)." in (
        html.unescape(refused.text).replace("'", "’")
    )
    assert 'value="x1c-b"' in refused.text
    assert "55554444" not in refused.text
    assert (await client.get("/api/v1/printers/x1c-b")).status_code == 404


async def test_a_klipper_printer_added_by_form_shows_as_klipper_on_the_dashboard_and_settings(
    bare_server: RunningServer,
) -> None:
    form = {"id": "voron", "name": "Voron", "type": "moonraker", "url": f"http://127.0.0.1:{free_port()}"}
    added = await bare_server.client.post("/ui/printers", data=form, headers=HTMX)
    assert added.status_code == 200, added.text
    printer = (await bare_server.client.get("/api/v1/printers/voron")).json()
    assert (printer["type"], printer["has_api_key"]) == ("moonraker", False)
    assert "Klipper (Moonraker)" in (await bare_server.client.get("/settings")).text
    assert "Klipper (Moonraker)" in (await bare_server.client.get("/")).text


async def test_tags_typed_in_the_settings_form_reach_the_printer_and_the_printers_filter(
    bare_server: RunningServer,
) -> None:
    client = bare_server.client
    url = f"http://127.0.0.1:{free_port()}"
    form = {"id": "voron", "name": "Voron", "type": "moonraker", "url": url, "tags": "room-a, petg ,room-a"}
    assert (await client.post("/ui/printers", data=form, headers=HTMX)).status_code == 200
    assert (await client.get("/api/v1/printers/voron")).json()["tags"] == ["room-a", "petg"]
    settings = (await client.get("/settings")).text
    assert 'name="tags" value="room-a, petg"' in settings
    home = (await client.get("/")).text
    assert 'href="/printers/voron"' in home  # a card's name leads to the printer's page
    assert '<option value="room-a"' in home
    assert '<option value="petg"' in home

    emptied = {"name": "Voron", "url": url, "tags": ""}
    assert (await client.post("/ui/printers/voron", data=emptied, headers=HTMX)).status_code == 200
    assert (await client.get("/api/v1/printers/voron")).json()["tags"] == []
    refused = await client.post("/ui/printers/voron", data={**emptied, "tags": "x" * 41}, headers=HTMX)
    assert refused.status_code == 422
    assert "tags" in refused.text


async def test_connection_test_reports_an_unreachable_printer(bare_server: RunningServer) -> None:
    form = {"type": "octoprint", "url": f"http://127.0.0.1:{free_port()}", "api_key": "k" * 32}
    response = await bare_server.client.post("/ui/printers/test", data=form, headers=HTMX)
    assert response.status_code == 200
    assert "Could not connect" in response.text
    assert "Unreachable" in response.text
    assert "k" * 32 not in response.text


async def test_a_plain_form_post_saves_and_returns_to_the_page(bare_server: RunningServer) -> None:
    response = await bare_server.client.post("/ui/settings", data={"job_creation_auto_create": ["0"]})
    assert response.status_code == 303
    assert response.headers["location"] == "/settings"
    assert (await bare_server.client.get("/api/v1/settings")).json()["job_creation_auto_create"] is False

    bad = await bare_server.client.post("/ui/settings", data={"monitoring_interval": "0"}, headers=HTMX)
    assert bad.status_code == 422
    assert "monitoring_interval" in bad.text
    assert (await bare_server.client.get("/api/v1/settings")).json()["monitoring_interval"] != 0


@pytest.mark.parametrize(
    "headers", [{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}], ids=["origin", "fetch-site"]
)
async def test_another_site_cannot_change_anything(bare_server: RunningServer, headers: dict[str, str]) -> None:
    before = (await bare_server.client.get("/api/v1/settings")).json()
    response = await bare_server.client.post("/ui/settings", data={"job_creation_auto_create": "0"}, headers=headers)
    assert response.status_code == 403
    assert (await bare_server.client.get("/api/v1/settings")).json() == before
    added = await bare_server.client.post("/ui/printers", data=bambu_form(), headers=headers)
    assert added.status_code == 403
    assert (await bare_server.client.get("/api/v1/printers")).json()["printers"] == []


def test_jobs_query_turns_local_days_into_utc_bounds() -> None:
    query = JobsQuery.parse({"from": "2026-03-29", "to": "2026-03-29", "tz": "Europe/Berlin", "status": "failed"})
    job_filter = query.job_filter()
    # The day clocks went forward in Berlin: it starts at 00:00 CET and ends at 24:00 CEST.
    assert job_filter.since == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert job_filter.until == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert job_filter.status is JobStatus.FAILED
    assert query.params(page=3) == {
        "status": "failed",
        "from": "2026-03-29",
        "to": "2026-03-29",
        "tz": "Europe/Berlin",
        "page": "3",
    }
    assert JobsQuery.parse({"page": "4"}).job_filter().offset == 3 * PAGE_SIZE
    assert JobFilter().limit == PAGE_SIZE


def _unreachable_octoprint(printer_id: str) -> dict[str, str]:
    return {"id": printer_id, "type": "octoprint", "url": f"http://127.0.0.1:{free_port()}", "api_key": "x" * 32}


async def test_emptying_the_poll_interval_makes_a_printer_follow_the_global_setting(
    bare_server: RunningServer,
) -> None:
    client = bare_server.client
    printer = _unreachable_octoprint("o1")
    await client.post("/api/v1/printers", json={**printer, "poll_interval": 30})
    page = (await client.get("/settings")).text
    assert re.search(r'name="poll_interval"[^>]*value="30.0"', page)

    form = {"name": "o1", "url": printer["url"], "poll_interval": "", "auto_create_jobs": ""}
    saved = await client.post("/ui/printers/o1", data=form, headers=HTMX)
    assert saved.status_code == 200, saved.text
    assert (await client.get("/api/v1/printers/o1")).json()["poll_interval"] is None
    page = (await client.get("/settings")).text
    assert re.search(r'name="poll_interval"[^>]*value=""', page), "a printer following the setting shows no value"
    assert 'value="None"' not in page
