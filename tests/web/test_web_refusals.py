"""The web UI refuses ids and pages past the store's 64-bit integers (no 500, no broken live connection), and its
printer form never sends a stored secret to a new address."""

from __future__ import annotations

import asyncio
import html

import websockets

from tests.api.conftest import RunningServer
from tests.support import free_port

TOO_BIG = 2**63
HTMX = {"HX-Request": "true"}
API_KEY = "KEY-8812-stored-secret"


async def test_job_ids_past_64_bits_are_422(bare_server: RunningServer) -> None:
    client = bare_server.client
    for method, path in [
        ("GET", f"/jobs/{TOO_BIG}"),
        ("POST", f"/ui/jobs/{TOO_BIG}"),
        ("POST", f"/ui/jobs/{TOO_BIG}/convert"),
        ("POST", f"/ui/jobs/{TOO_BIG}/delete"),
        ("POST", f"/ui/queue/{TOO_BIG}/remove"),
    ]:
        response = await client.request(method, path, headers=HTMX)
        assert response.status_code == 422, (method, path, response.text)
    assert (await client.get(f"/jobs/{TOO_BIG - 1}")).status_code == 404


async def test_a_page_past_64_bits_is_named_as_a_bad_filter_and_the_live_view_still_works(
    bare_server: RunningServer,
) -> None:
    listed = await bare_server.client.get(f"/jobs?page={TOO_BIG}")
    assert listed.status_code == 400, listed.text  # the jobs page's answer to any bad filter, shown in the page
    assert "page: must be at most" in listed.text
    live = bare_server.base_url.replace("http://", "ws://") + f"/ui/ws?view=jobs&page={TOO_BIG}"
    async with websockets.connect(live, additional_headers=bare_server.headers, open_timeout=5) as ws:
        assert 'id="job-rows"' in str(await asyncio.wait_for(ws.recv(), 5))


async def test_the_edit_form_needs_the_key_again_for_a_new_url(bare_server: RunningServer) -> None:
    client = bare_server.client
    url = f"http://127.0.0.1:{free_port()}"
    body = {"id": "o1", "type": "octoprint", "url": url, "api_key": API_KEY}
    assert (await client.post("/api/v1/printers", json=body)).status_code == 201
    form = {"name": "o1", "url": f"http://127.0.0.1:{free_port()}", "api_key": ""}
    for path in ("/ui/printers/o1/test", "/ui/printers/o1"):
        refused = await client.post(path, data=form, headers=HTMX)
        assert refused.status_code == 422, (path, refused.text)
        assert "API key: Give it again: the address changed, and a stored secret is never sent to a new address." in (
            html.unescape(refused.text)
        )
    assert (await client.get("/api/v1/printers/o1")).json()["url"] == url


async def test_the_job_form_refuses_overlong_fields_and_keeps_the_job(bare_server: RunningServer) -> None:
    client = bare_server.client
    body = {"id": "o1", "type": "octoprint", "url": f"http://127.0.0.1:{free_port()}", "api_key": API_KEY}
    assert (await client.post("/api/v1/printers", json=body)).status_code == 201
    job = (await client.post("/api/v1/jobs", json={"printer_id": "o1", "job_name": "benchy"})).json()
    for field, value, problem in [
        ("job_name", "n" * 301, "job_name: at most 300 characters"),
        ("customer_name", "c" * 20_000, "customer_info: at most 10000 characters"),
        ("notes", "x" * 10_001, "notes: at most 10000 characters"),
    ]:
        form = {"job_name": "benchy", field: value}
        refused = await client.post(f"/ui/jobs/{job['id']}", data=form, headers=HTMX)
        assert refused.status_code == 422, (field, refused.text[:200])
        assert problem in refused.text
    kept = (await client.get(f"/api/v1/jobs/{job['id']}")).json()
    assert (kept["job_name"], kept["customer_info"], kept["notes"]) == ("benchy", {}, None)
