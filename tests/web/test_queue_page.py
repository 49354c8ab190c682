"""The Queue page over HTTP: rendering, the Join form (as the signed-in member), refusals shown with the queue's
reason, admin actions (operators only), escaping, cross-site protection and the live fragment on
``/ui/ws?view=queue``.

A real server on loopback with no printers (or unreachable ones): entries wait, nothing is offered. The browser
test in ``test_browser.py`` covers offers, claims and prints.
"""

from __future__ import annotations

import asyncio
import html
import re

import pytest
import websockets

from printfleet.domain.accounts.roles import Role
from printfleet.services.errors import NotFound
from tests.api.conftest import RunningServer
from tests.support import free_port
from tests.support_accounts import TEST_PASSWORD

HTMX = {"HX-Request": "true"}
HOSTILE = "<img src=x onerror=alert(1)>"


async def member(server: RunningServer, display_name: str) -> dict[str, str]:
    """Bearer headers of a member shown as ``display_name`` (created on first use)."""
    accounts = server.runtime.accounts
    username = re.sub(r"[^a-z0-9]+", "-", display_name.lower()).strip("-")[:40] or "member"
    username = f"m-{username}-{len(display_name)}"
    try:
        user = await accounts.find_user(username)
    except NotFound:
        user = await accounts.create_user(
            username=username, password=TEST_PASSWORD, role=Role.MEMBER, display_name=display_name
        )
    token, _ = await accounts.create_token(user.id, name="tests", actor=None)
    return {"Authorization": f"Bearer {token}"}


async def join(server: RunningServer, user_name: str, job_name: str, estimate: str = "90m", **fields: str) -> str:
    """The member shown as ``user_name`` joins through the form."""
    response = await server.client.post(
        "/ui/queue/join",
        data={"job_name": job_name, "estimate": estimate, **fields},
        headers={**HTMX, **await member(server, user_name)},
    )
    assert response.status_code == 200, response.text
    return response.text


def text_of(body: str) -> str:
    """The page's text with tags dropped and entities decoded (what a reader sees, roughly)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


async def test_the_queue_page_renders_in_both_languages(bare_server: RunningServer) -> None:
    response = await bare_server.client.get("/queue")
    assert response.status_code == 200
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    body = response.text
    assert '<a href="/queue" aria-current="page">Queue</a>' in body
    assert "view=queue" in body
    assert "Nobody is in the queue." in body
    assert 'name="user_name"' not in body  # one joins as who one is signed in as
    assert "You join as admin." in text_of(body)
    assert "Pause the queue" in body  # the admin section: this viewer may manage the queue

    german = await bare_server.client.get("/queue", headers={"Accept-Language": "de"})
    assert "Warteschlange" in german.text
    assert "Niemand ist in der Warteschlange." in german.text
    assert "Sie reihen sich als admin ein." in text_of(german.text)

    as_member = (await bare_server.client.get("/queue", headers=await member(bare_server, "Ada"))).text
    assert "Pause the queue" not in as_member
    viewer = await bare_server.headers_for("wall", Role.VIEWER)
    as_viewer = (await bare_server.client.get("/queue", headers=viewer)).text
    assert 'id="queue-join"' not in as_viewer  # a viewer may not queue


async def test_joining_from_the_form_puts_the_job_in_line(bare_server: RunningServer) -> None:
    answer = await join(bare_server, "Ada Lovelace", "benchy", "1h30m")
    assert 'id="queue-live" class="queue-live" hx-swap-oob="true"' in answer
    assert 'id="queue-join" class="setting queue-join" hx-swap-oob="true"' in answer  # a fresh form
    assert "You join as Ada Lovelace." in text_of(answer)
    assert "benchy joined the queue (#1)." in text_of(answer)

    queue = (await bare_server.client.get("/api/v1/queue")).json()
    entry = queue["entries"][0]
    ada = await bare_server.runtime.accounts.find_user("m-ada-lovelace-12")
    assert (entry["user_id"], entry["user_name"], entry["estimate_seconds"]) == (
        ada.queue_user_id,
        "Ada Lovelace",
        5400,
    )
    assert entry["status"] == "waiting"

    page = (await bare_server.client.get("/queue", headers=await member(bare_server, "Ada Lovelace"))).text
    row = re.search(r'<tr id="entry-1".*?</tr>', page, re.DOTALL)
    assert row is not None
    row_text = " ".join(text_of(row.group(0)).split())
    for expected in ("1", "Ada Lovelace", "benchy", "1 h 30 min", "unknown", "Waiting"):
        assert expected in row_text, (expected, row_text)
    assert "Claim" not in row_text  # nothing offered yet
    assert "Cancel" in row_text  # her own entry
    assert 'name="user_id"' not in row.group(0)  # the server knows who acts; nothing to forge
    others = (await bare_server.client.get("/queue", headers=await member(bare_server, "Bob"))).text
    other_row = re.search(r'<tr id="entry-1".*?</tr>', others, re.DOTALL)
    assert other_row is not None
    assert "Cancel" not in text_of(other_row.group(0))  # not his entry

    # The same join again is answered with the entry, not a second one; a plain form post goes back to the page.
    again = await join(bare_server, "Ada Lovelace", "benchy", "90m")
    assert "benchy is in the queue already (#1)." in text_of(again)
    plain = await bare_server.client.post(
        "/ui/queue/join", data={"job_name": "box", "estimate": "30"}, headers=await member(bare_server, "Bob")
    )
    assert (plain.status_code, plain.headers["location"]) == (303, "/queue")
    assert [e["job_name"] for e in (await bare_server.client.get("/api/v1/queue")).json()["entries"]] == [
        "benchy",
        "box",
    ]


async def test_refusals_are_toasts_with_the_queue_reason(bare_server: RunningServer) -> None:
    client = bare_server.client
    await join(bare_server, "Ada", "benchy")

    cases = [
        ("Ada", {"job_name": "other", "estimate": "1h"}, 409, "the limit is 1."),
        ("Cy", {"job_name": "x", "estimate": "abc"}, 422, "Not joined: That is not a duration"),
        ("Cy", {"job_name": "x", "estimate": "73h"}, 422, "is over the maximum of 72h"),
        ("Cy", {"job_name": "x", "estimate": "1h", "printer_ids": "nope"}, 422, "Unknown printer"),
    ]
    for name, form, status, reason in cases:
        response = await client.post("/ui/queue/join", data=form, headers={**HTMX, **await member(bare_server, name)})
        assert response.status_code == status, (form, response.text)
        assert response.headers["hx-reswap"] == "none"
        assert 'class="toast toast-error"' in response.text
        assert reason in text_of(response.text), (reason, response.text)

    ada = {**HTMX, **await member(bare_server, "Ada")}
    not_offered = await client.post("/ui/queue/1/claim", headers=ada)
    assert not_offered.status_code == 409
    assert "Not claimed: No printer is offered to you yet." in text_of(not_offered.text)
    forged = await client.post("/ui/queue/1/cancel", headers={**HTMX, **await member(bare_server, "Mallory")})
    assert forged.status_code == 403
    assert "Not cancelled: That entry is someone else's." in text_of(forged.text)
    unknown = await client.post("/ui/queue/99/remove", headers=HTMX)
    assert unknown.status_code == 404
    assert "Not changed: No queue entry #99." in text_of(unknown.text)

    german = await client.post("/ui/queue/1/claim", headers={**ada, "Accept-Language": "de"})
    assert "Nicht beansprucht: No printer is offered to you yet." in text_of(german.text)
    assert (await client.get("/api/v1/queue")).json()["entries"][0]["status"] == "waiting"


async def test_claim_and_cancel_of_an_entry_that_ended(bare_server: RunningServer) -> None:
    client = bare_server.client
    await join(bare_server, "Ada", "benchy")
    ada = {**HTMX, **await member(bare_server, "Ada")}
    cancelled = await client.post("/ui/queue/1/cancel", headers=ada)
    assert "benchy left the queue." in text_of(cancelled.text)

    late_claim = await client.post("/ui/queue/1/claim", headers=ada)
    assert late_claim.status_code == 409
    assert "Not claimed: That entry has ended (cancelled)." in text_of(late_claim.text)
    again = await client.post("/ui/queue/1/cancel", headers=ada)
    assert again.status_code == 200
    assert "benchy is not in the queue any more." in text_of(again.text)
    german = await client.post("/ui/queue/1/cancel", headers={**ada, "Accept-Language": "de"})
    assert "benchy ist nicht mehr in der Warteschlange." in text_of(german.text)


async def test_a_user_clicking_too_fast_is_told_to_wait(bare_server: RunningServer) -> None:
    codes = []
    fast = {**HTMX, **await member(bare_server, "Fast")}
    for _ in range(6):
        response = await bare_server.client.post("/ui/queue/9/cancel", headers=fast)
        codes.append(response.status_code)
    assert codes == [404] * 5 + [429]
    assert "Too many commands" in response.text


async def test_admin_moves_removes_holds_and_pauses(bare_server: RunningServer) -> None:
    client = bare_server.client
    printer = {"id": "o1", "name": "Octo One", "type": "octoprint", "url": f"http://127.0.0.1:{free_port()}"}
    assert (await client.post("/api/v1/printers", json={**printer, "api_key": "k" * 32})).status_code == 201
    for name, job in (("Ann", "lid"), ("Bea", "box"), ("Cid", "cup")):
        await join(bare_server, name, job)

    page = (await client.get("/queue")).text
    assert "Move up" in page
    assert "Move down" in page
    not_allowed = await client.post(
        "/ui/queue/3/move", data={"position": "1"}, headers={**HTMX, **await member(bare_server, "Ann")}
    )
    assert not_allowed.status_code == 403  # members do not manage the queue
    moved = await client.post("/ui/queue/3/move", data={"position": "1"}, headers=HTMX)
    assert moved.status_code == 200, moved.text
    assert "cup moved to position 1." in text_of(moved.text)
    order = [e["job_name"] for e in (await client.get("/api/v1/queue")).json()["entries"]]
    assert order == ["cup", "lid", "box"]
    bad = await client.post("/ui/queue/3/move", data={"position": "x"}, headers=HTMX)
    assert (bad.status_code, "Give a position." in bad.text) == (422, True)

    removed = await client.post("/ui/queue/2/remove", headers=HTMX)
    assert "box was removed from the queue." in text_of(removed.text)
    assert 'id="entry-2"' not in removed.text

    held = await client.post("/ui/queue/printers/o1/hold", data={"held": "1"}, headers=HTMX)
    assert "Octo One is held out of the queue." in text_of(held.text)
    assert "Release Octo One" in held.text
    assert (await client.get("/api/v1/queue")).json()["printers"][0]["held"] is True
    released = await client.post("/ui/queue/printers/o1/hold", data={"held": "0"}, headers=HTMX)
    assert "Octo One is back in the queue." in text_of(released.text)

    paused = await client.post("/ui/queue/paused", data={"paused": "1"}, headers=HTMX)
    assert "Resume the queue" in paused.text
    assert 'class="queue-paused"' in paused.text
    assert (await client.get("/api/v1/queue")).json()["paused"] is True
    plain = await client.post("/ui/queue/paused", data={"paused": "0"})
    assert plain.status_code == 303
    assert (await client.get("/api/v1/queue")).json()["paused"] is False


async def test_names_from_users_render_as_text(bare_server: RunningServer) -> None:
    answer = await join(bare_server, HOSTILE, HOSTILE + ".gcode")
    page = (await bare_server.client.get("/queue")).text
    assert "&lt;img" in page
    for body in (answer, page):
        assert HOSTILE not in body
        assert html.escape(HOSTILE, quote=False) in body or "&lt;img" in body


@pytest.mark.parametrize(
    "headers", [{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}], ids=["origin", "fetch-site"]
)
async def test_another_site_cannot_use_the_queue(bare_server: RunningServer, headers: dict[str, str]) -> None:
    client = bare_server.client
    refused = await client.post("/ui/queue/join", data={"job_name": "x", "estimate": "1h"}, headers=headers)
    assert refused.status_code == 403
    assert (await client.get("/api/v1/queue")).json()["entries"] == []
    await join(bare_server, "Ada", "benchy")
    for path, data in (
        ("/ui/queue/1/cancel", {}),
        ("/ui/queue/1/remove", {}),
        ("/ui/queue/paused", {"paused": "1"}),
    ):
        assert (await client.post(path, data=data, headers=headers)).status_code == 403, path
    queue = (await client.get("/api/v1/queue")).json()
    assert (queue["entries"][0]["status"], queue["paused"]) == ("waiting", False)


async def test_the_live_connection_sends_the_queue_fragment_on_queue_events(bare_server: RunningServer) -> None:
    url = bare_server.base_url.replace("http://", "ws://") + "/ui/ws?view=queue&lang=en"
    async with websockets.connect(url, additional_headers=bare_server.headers) as ws:
        snapshot = str(await asyncio.wait_for(ws.recv(), 5))
        assert snapshot.startswith('<div id="queue-live" class="queue-live" hx-swap-oob="true">')
        assert "Nobody is in the queue." in snapshot
        response = await bare_server.client.post(
            "/api/v1/queue", json={"job_name": "widget", "estimate": "45m"}, headers=await member(bare_server, "Zed")
        )
        assert response.status_code == 201
        update = str(await asyncio.wait_for(ws.recv(), 5))
        assert update.startswith('<div id="queue-live"')
        assert "widget" in update
        assert "45 min" in update
