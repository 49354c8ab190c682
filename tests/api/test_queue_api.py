"""The queue's REST API against a real server (SQLite and PostgreSQL) watching two simulated PrusaLink printers.

Joins, offers, claims, a print linked and finished, positions, moves, estimate changes, cancels, removals, printer
holds, the pause, predictions, history, the error answers (422 naming the field without echoing the input, 403,
409, 404, 429) and the queue frames on ``/ws``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from printfleet.domain.accounts.roles import Role
from printfleet.services.errors import NotFound
from printfleet.sim.prusalink import SimulatedPrusaLinkPrinter
from tests.api.conftest import RunningServer, admin_headers, start_server
from tests.support_accounts import TEST_PASSWORD

Body = dict[str, Any]
HOSTILE = "<img src=x onerror=alert(1)>@everyone"


@pytest.fixture
async def queue_server(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[RunningServer, list[Any]]]:
    """A server on ``database_url`` watching printers ``p1`` and ``p2`` (both idle and ready when the test runs)."""
    async with (
        SimulatedPrusaLinkPrinter("p1", name="Printer One") as p1,
        SimulatedPrusaLinkPrinter("p2", name="Printer Two") as p2,
    ):
        configs = [sim.printer_config(poll_interval=0.5) for sim in (p1, p2)]
        uv, task, base_url = await start_server(database_url, extra_printers=configs)
        headers = await admin_headers(uv)
        async with httpx.AsyncClient(base_url=base_url, timeout=10, headers=headers) as client:
            server = RunningServer(
                base_url=base_url, client=client, runtime=uv.config.app.state.runtime, headers=headers
            )
            await wait_queue(server, lambda q: all(p["ready"] for p in q["printers"]) and len(q["printers"]) == 2)
            yield server, [p1, p2]
        uv.should_exit = True
        await asyncio.wait_for(task, 15)


async def wait_queue(server: RunningServer, predicate: Callable[[Body], bool], timeout: float = 15.0) -> Body:
    """Poll ``GET /api/v1/queue`` until ``predicate`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        body: Body = (await server.client.get("/api/v1/queue")).json()
        if predicate(body):
            return body
        assert loop.time() < deadline, json.dumps(body, indent=1)
        await asyncio.sleep(0.05)


async def wait_entry(server: RunningServer, entry_id: int, status: str, timeout: float = 15.0) -> Body:
    """Poll ``GET /api/v1/queue/{entry_id}`` until the entry has ``status``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        body: Body = (await server.client.get(f"/api/v1/queue/{entry_id}")).json()
        if body["entry"]["status"] == status:
            return body
        assert loop.time() < deadline, json.dumps(body, indent=1)
        await asyncio.sleep(0.05)


async def as_(server: RunningServer, name: str) -> dict[str, str]:
    """Bearer headers of member ``name`` (display name ``Name``), created on first use."""
    accounts = server.runtime.accounts
    try:
        user = await accounts.find_user(name)
    except NotFound:
        user = await accounts.create_user(
            username=name, password=TEST_PASSWORD, role=Role.MEMBER, display_name=name.title()
        )
    token, _ = await accounts.create_token(user.id, name="tests", actor=None)
    return {"Authorization": f"Bearer {token}"}


async def uid(server: RunningServer, name: str) -> str:
    """The queue user id of member ``name``."""
    return str((await server.runtime.accounts.find_user(name)).queue_user_id)


async def join(server: RunningServer, user: str, job: str, estimate: str | int = "30m", **extra: Any) -> Body:
    response = await server.client.post(
        "/api/v1/queue",
        headers=await as_(server, user),
        json={"job_name": job, "estimate": estimate, **extra},
    )
    assert response.status_code == 201, response.text
    body: Body = response.json()
    return body


async def hold(client: httpx.AsyncClient, printer_id: str, held: bool) -> Body:
    response = await client.put(f"/api/v1/queue/printers/{printer_id}/hold", json={"held": held})
    assert response.status_code == 200, response.text
    body: Body = response.json()
    return body


def order(queue: Body) -> list[str]:
    return [e["job_name"] for e in queue["entries"]]


async def test_join_offer_claim_print_and_history(queue_server: Any) -> None:
    server, (p1, _) = queue_server
    client: httpx.AsyncClient = server.client

    joined = await join(server, "alice", "benchy.bgcode", "90m")
    entry = joined["entry"]
    assert joined["created"] is True
    assert (entry["status"], entry["printer_id"], entry["estimate_seconds"]) == ("offered", "p1", 5400)
    assert entry["user_name"] == "Alice"
    assert entry["deadline"] is not None
    assert joined["position"] is None  # a printer is offered already

    again = await client.post(
        "/api/v1/queue", headers=await as_(server, "alice"), json={"job_name": "benchy.bgcode", "estimate": 5400}
    )
    assert again.status_code == 200, again.text
    assert (again.json()["created"], again.json()["entry"]["id"]) == (False, entry["id"])

    someone_else = await client.post(f"/api/v1/queue/{entry['id']}/claim", headers=await as_(server, "bob"))
    assert someone_else.status_code == 403
    assert someone_else.json()["reason"] == "not_yours"

    claimed = await client.post(f"/api/v1/queue/{entry['id']}/claim", headers=await as_(server, "alice"))
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["status"] == "claimed"
    queue = (await client.get("/api/v1/queue")).json()
    printers = {p["id"]: p for p in queue["printers"]}
    assert (printers["p1"]["holder_entry_id"], printers["p1"]["holder_user_id"]) == (
        entry["id"],
        await uid(server, "alice"),
    )
    assert printers["p2"]["holder_entry_id"] is None
    assert printers["p1"]["name"] == "Printer One"
    assert queue["policy"]["claim_window_seconds"] == 600
    assert queue["policy"]["start_window_seconds"] == 900
    assert queue["paused"] is False

    await p1.start_print("benchy.bgcode", duration_s=1.5)
    printing = await wait_entry(server, entry["id"], "printing")
    assert printing["entry"]["job_id"] is not None
    done = await wait_entry(server, entry["id"], "done")
    assert done["entry"]["outcome"] == "completed"
    assert done["entry"]["actual_seconds"] is not None
    kinds = [record["kind"] for record in reversed(done["history"])]
    assert kinds == ["joined", "offered", "claimed", "linked", "done"]

    ended = (await client.get("/api/v1/queue/history", params={"user_id": await uid(server, "alice")})).json()[
        "entries"
    ]
    assert [e["id"] for e in ended] == [entry["id"]]
    assert (await client.get("/api/v1/queue/history", params={"user_id": await uid(server, "bob")})).json()[
        "entries"
    ] == []
    mine = (await client.get(f"/api/v1/queue/users/{await uid(server, 'alice')}")).json()
    assert (mine["active"], [e["id"] for e in mine["recent"]]) == ([], [entry["id"]])

    prediction = (await client.get("/api/v1/queue/predict", params={"job_name": "Benchy_v2.gcode"})).json()
    assert prediction["match"] in ("exact", "similar")  # PrusaLink names the job by its 8.3 short name
    assert prediction["overall"]["count"] == 1
    assert prediction["suggested_seconds"] == prediction["overall"]["median_seconds"]
    on_p2 = (
        await client.get(
            "/api/v1/queue/predict",
            params={"job_name": "benchy", "printer_id": "p2", "user_id": await uid(server, "alice")},
        )
    ).json()
    assert on_p2["on_printer"] is None
    assert on_p2["bias"]["count"] == 1
    unknown = (await client.get("/api/v1/queue/predict", params={"job_name": "vase"})).json()
    assert (unknown["match"], unknown["suggested_seconds"]) == (None, None)


async def test_positions_moves_estimates_cancels_removals_holds_and_pause(queue_server: Any) -> None:
    server, _ = queue_server
    client: httpx.AsyncClient = server.client
    await hold(client, "p1", True)
    held = await hold(client, "p2", True)
    assert (held["id"], held["held"], held["free_at"]) == ("p2", True, None)

    a = (await join(server, "ann", "lid"))["entry"]["id"]
    b = (await join(server, "bea", "box"))["entry"]["id"]
    joined_c = await join(server, "cid", "cup", "1h", printer_ids=["p2"])
    c = joined_c["entry"]["id"]
    assert joined_c["position"] == 3
    assert joined_c["entry"]["printer_ids"] == ["p2"]
    queue = (await client.get("/api/v1/queue")).json()
    assert order(queue) == ["lid", "box", "cup"]
    assert [e["position"] for e in queue["entries"]] == [1, 2, 3]
    assert {e["status"] for e in queue["entries"]} == {"waiting"}

    moved = await client.post(f"/api/v1/queue/{c}/move", json={"position": 1})
    assert moved.status_code == 200, moved.text
    assert moved.json()["position"] == 1
    assert order((await client.get("/api/v1/queue")).json()) == ["cup", "lid", "box"]

    changed = await client.patch(f"/api/v1/queue/{a}", headers=await as_(server, "ann"), json={"estimate": "2h"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["estimate_seconds"] == 7200
    not_hers = await client.patch(f"/api/v1/queue/{a}", headers=await as_(server, "bea"), json={"estimate": "1h"})
    assert (not_hers.status_code, not_hers.json()["reason"]) == (403, "not_yours")

    cancelled = await client.post(f"/api/v1/queue/{b}/cancel", headers=await as_(server, "bea"))
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    # The entry has ended, it is not unknown: a claim is refused, a second cancel is harmless.
    again = await client.post(f"/api/v1/queue/{b}/claim", headers=await as_(server, "bea"))
    assert (again.status_code, again.json()["reason"]) == (409, "ended")
    cancelled_again = await client.post(f"/api/v1/queue/{b}/cancel", headers=await as_(server, "bea"))
    assert (cancelled_again.status_code, cancelled_again.json()) == (200, cancelled.json())

    removed = await client.delete(f"/api/v1/queue/{a}")
    assert (removed.status_code, removed.json()["status"]) == (200, "removed")
    assert (await client.delete(f"/api/v1/queue/{a}")).json()["status"] == "removed"  # harmless again
    detail = (await client.get(f"/api/v1/queue/{a}")).json()
    assert detail["entry"]["end_reason"] == "removed by admin"  # the operator who removed it
    assert "removed" in [r["kind"] for r in detail["history"]]
    assert order((await client.get("/api/v1/queue")).json()) == ["cup"]

    # p1 back in rotation: cup may use p2 only, so nothing is offered; dan joins and gets p1.
    await hold(client, "p1", False)
    dan = (await join(server, "dan", "dial"))["entry"]
    assert (dan["status"], dan["printer_id"]) == ("offered", "p1")
    assert (await client.get(f"/api/v1/queue/{c}")).json()["entry"]["status"] == "waiting"

    paused = await client.put("/api/v1/queue/paused", json={"paused": True})
    assert paused.json() == {"paused": True}
    await hold(client, "p2", False)
    await asyncio.sleep(0.3)
    queue = (await client.get("/api/v1/queue")).json()
    assert queue["paused"] is True
    assert next(e for e in queue["entries"] if e["id"] == c)["status"] == "waiting"
    assert (await client.put("/api/v1/queue/paused", json={"paused": False})).json() == {"paused": False}
    offered = await wait_entry(server, c, "offered")
    assert offered["entry"]["printer_id"] == "p2"

    not_waiting = await client.post(f"/api/v1/queue/{c}/move", json={"position": 1})
    assert (not_waiting.status_code, not_waiting.json()["reason"]) == (409, "not_waiting")
    given_up = await client.post(f"/api/v1/queue/{c}/cancel", headers=await as_(server, "cid"))
    assert given_up.json()["status"] == "cancelled"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"estimate": "abc"}, "estimate"),
        ({"estimate": "-5m"}, "estimate"),
        ({"estimate": "73 hours"}, "estimate"),
        ({"estimate": -60}, "estimate"),
        ({"estimate": 72 * 3600 + 1}, "estimate"),
        ({"estimate": 10**30}, "estimate"),
        ({"printer_ids": ["p1", HOSTILE]}, "printer_ids"),
        ({"job_name": "   "}, "job_name"),
    ],
    ids=["abc", "negative", "over-72h", "negative-seconds", "over-72h-seconds", "huge-seconds", "printer", "name"],
)
async def test_bad_joins_are_422_naming_the_field_without_echoing_it(queue_server: Any, body: Body, field: str) -> None:
    server, _ = queue_server
    request = {"job_name": "part", "estimate": "1h", **body}
    response = await server.client.post("/api/v1/queue", json=request, headers=await as_(server, "eve"))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert isinstance(response.json()["detail"], str)
    for value in body.values():
        for text in value if isinstance(value, list) else [value]:
            if text not in ("p1", "   "):
                assert str(text) not in response.text
    assert (await server.client.get("/api/v1/queue")).json()["entries"] == []


async def test_other_errors(queue_server: Any) -> None:
    server, _ = queue_server
    client: httpx.AsyncClient = server.client
    await hold(client, "p1", True)
    await hold(client, "p2", True)
    entry = (await join(server, "fay", "fan duct"))["entry"]["id"]

    limit = await client.post(
        "/api/v1/queue", headers=await as_(server, "fay"), json={"job_name": "other", "estimate": "1h"}
    )
    assert (limit.status_code, limit.json()["reason"]) == (409, "limit_reached")
    not_offered = await client.post(f"/api/v1/queue/{entry}/claim", headers=await as_(server, "fay"))
    assert (not_offered.status_code, not_offered.json()["reason"]) == (409, "not_offered")
    for request in (
        client.post("/api/v1/queue/999/claim", headers=await as_(server, "gil")),
        client.post("/api/v1/queue/999/cancel", headers=await as_(server, "gil")),
        client.get("/api/v1/queue/999"),
        client.delete("/api/v1/queue/999"),
        client.put(f"/api/v1/queue/printers/{HOSTILE}/hold", json={"held": True}),
    ):
        response = await request
        assert response.status_code == 404, response.text
        assert HOSTILE not in response.text
    gone = (await join(server, "hal", "hook"))["entry"]["id"]
    assert (await client.post(f"/api/v1/queue/{gone}/cancel", headers=await as_(server, "hal"))).status_code == 200
    late = await client.patch(f"/api/v1/queue/{gone}", headers=await as_(server, "hal"), json={"estimate": "1h"})
    assert (late.status_code, late.json()["reason"]) == (409, "ended")
    out_of_range = await client.post(f"/api/v1/queue/{entry}/move", json={"position": 5})
    assert (out_of_range.status_code, out_of_range.json()["field"]) == (422, "position")
    bad_estimate = await client.patch(
        f"/api/v1/queue/{entry}", headers=await as_(server, "fay"), json={"estimate": "0"}
    )
    assert (bad_estimate.status_code, bad_estimate.json()["field"]) == (422, "estimate")
    predict_printer = await client.get("/api/v1/queue/predict", params={"job_name": "x", "printer_id": HOSTILE})
    assert (predict_printer.status_code, predict_printer.json()["field"]) == (422, "printer_id")
    assert HOSTILE not in predict_printer.text
    predict_name = await client.get("/api/v1/queue/predict", params={"job_name": " "})
    assert (predict_name.status_code, predict_name.json()["field"]) == (422, "job_name")
    malformed = await client.post("/api/v1/queue", json={"job_name": "x", "estimate": [HOSTILE]})
    assert malformed.status_code == 422
    assert HOSTILE not in malformed.text


async def test_a_user_sending_too_many_commands_is_rate_limited(queue_server: Any) -> None:
    server, _ = queue_server
    client: httpx.AsyncClient = server.client
    codes = [
        (await client.post("/api/v1/queue/999/cancel", headers=await as_(server, "spam"))).status_code for _ in range(5)
    ]
    assert codes == [404] * 5  # the default burst is 5 commands
    limited = await client.post(
        "/api/v1/queue", headers=await as_(server, "spam"), json={"job_name": "x", "estimate": "1h"}
    )
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert (await client.get("/api/v1/queue")).json()["entries"] == []
    # Other users are not affected.
    assert (await client.post("/api/v1/queue/999/cancel", headers=await as_(server, "calm"))).status_code == 404


async def test_queue_events_arrive_on_the_websocket(queue_server: Any) -> None:
    server, _ = queue_server
    async with websockets.connect(server.ws_url, additional_headers=server.headers) as ws:
        entry = (await join(server, "gus", "gear"))["entry"]
        seen: dict[str, dict[str, Any]] = {}
        async with asyncio.timeout(10):
            while not {"queue_updated", "claim_offered"} <= seen.keys():
                frame = json.loads(await ws.recv())
                if frame["type"] in ("queue_updated", "claim_offered"):
                    seen.setdefault(frame["type"], frame["data"])
    assert seen["queue_updated"]["reason"] == "joined"
    assert seen["queue_updated"]["entry"]["id"] == entry["id"]
    assert seen["claim_offered"]["entry"]["id"] == entry["id"]
    assert seen["claim_offered"]["entry"]["status"] == "offered"
    assert seen["claim_offered"]["entry"]["printer_id"] == "p1"
