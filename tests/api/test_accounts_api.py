"""Accounts through a real server: every route declares a permission, each role against each family of routes
(REST, pages, WebSockets), sign-in and sessions, tokens, the cross-site check, first-run set-up, ``/metrics`` and
the audit log. No secret appears in any answer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import BaseRoute, Mount

from printfleet.api.auth import SESSION_COOKIE, Public, Requires
from printfleet.app import build_app
from printfleet.config import load_settings
from printfleet.domain.accounts.roles import Role
from tests.api.conftest import RunningServer, start_server
from tests.support_accounts import TEST_PASSWORD, bearer_headers, fast_hasher

PUBLIC_ALLOWLIST = {
    ("GET", "/healthz"),
    ("GET", "/metrics"),  # loopback-only or metrics.token: checked inside
    ("GET", "/signin"),
    ("POST", "/signin"),
    ("POST", "/api/v1/auth/sign-in"),
    ("GET", "/setup"),
    ("POST", "/setup"),
    ("GET", "/ui/lang/{code}"),
    ("POST", "/api/v1/shops/etsy/webhook/{token}"),  # Etsy's ORDER_PAID webhook: its secret is in the address
}
"""Routes anyone may call. Everything else must declare a permission."""

OPENAPI_PAGES = {"/openapi.json", "/docs", "/docs/oauth2-redirect"}
STATIC_MOUNTS = {"/static", "/docs/assets"}
"""Static files anyone may load: the web UI's scripts and styles, Swagger UI's for ``/docs``."""


def _declared(route: APIRoute | APIWebSocketRoute, inherited: tuple[Any, ...]) -> list[object]:
    calls = [dep.call for dep in route.dependant.dependencies] + [dep.dependency for dep in inherited]
    return [call for call in calls if isinstance(call, Requires | Public)]


def _routes(routes: Iterable[BaseRoute], prefix: str = "", inherited: tuple[Any, ...] = ()) -> Iterator[Any]:
    """Every route of the app as ``(path, inherited dependencies, route)``, through included routers (newer
    FastAPI keeps an included router as one entry instead of copying its routes into the app)."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            context = route.include_context  # type: ignore[attr-defined]
            yield from _routes(original.routes, prefix + context.prefix, inherited + tuple(context.dependencies))
        else:
            yield prefix + getattr(route, "path", ""), inherited, route


def test_every_route_declares_a_permission_or_is_on_the_public_allowlist(tmp_path: Path) -> None:
    app = build_app(load_settings(None, database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db"))
    undeclared, public, seen = [], set(), 0
    for path, inherited, route in _routes(app.routes):
        if isinstance(route, Mount):
            assert path in STATIC_MOUNTS, f"unexpected mount {path}"
            continue
        if isinstance(route, APIRoute | APIWebSocketRoute):
            seen += 1
            marks = _declared(route, inherited)
            methods = sorted(getattr(route, "methods", None) or {"WEBSOCKET"})
            if not marks:
                undeclared.append((methods, path))
            elif all(isinstance(mark, Public) for mark in marks):
                public.update((method, path) for method in methods)
            continue
        assert path in OPENAPI_PAGES, f"unexpected route {route}"
    assert seen > 60  # the walk reached the routes (REST, pages, actions, WebSockets)
    assert undeclared == []
    assert public <= PUBLIC_ALLOWLIST, public - PUBLIC_ALLOWLIST


@pytest.fixture
async def people(server: RunningServer) -> dict[str, dict[str, str]]:
    """Bearer headers of one user per role (admin is the server's own test admin)."""
    headers = {"admin": server.headers}
    for role in (Role.OPERATOR, Role.MEMBER, Role.VIEWER):
        headers[role.value] = await server.headers_for(role.value, role)
    headers["member2"] = await server.headers_for("member2", Role.MEMBER)
    return headers


def _bambu() -> dict[str, object]:
    return {
        "id": "x1c",
        "name": "X1C",
        "type": "bambu",
        "host": "127.0.0.1",
        "port": 1,
        "serial": "01S00C000000001",
        "access_code": "12345678",
        "tls_insecure": True,
    }


async def test_each_role_against_representative_rest_routes(
    server: RunningServer, people: dict[str, dict[str, str]]
) -> None:
    client = server.client
    assert (await client.post("/api/v1/printers", json=_bambu())).status_code == 201
    everyone = {"admin": 200, "operator": 200, "member": 200, "viewer": 200}
    admin_only = {"admin": 200, "operator": 403, "member": 403, "viewer": 403}
    expected: list[tuple[str, str, dict[str, object] | None, dict[str, int]]] = [
        ("GET", "/api/v1/printers", None, everyone),
        # the printer is unreachable: 409 once the role may send the command
        ("POST", "/api/v1/printers/x1c/pause", None, {"admin": 409, "operator": 409, "member": 403, "viewer": 403}),
        ("PATCH", "/api/v1/printers/x1c", {"name": "X"}, admin_only),
        ("GET", "/api/v1/jobs", None, everyone),
        ("PUT", "/api/v1/settings", {"monitoring_interval": 5}, admin_only),
        ("GET", "/api/v1/queue", None, everyone),
        (
            "PUT",
            "/api/v1/queue/paused",
            {"paused": False},
            {"admin": 200, "operator": 200, "member": 403, "viewer": 403},
        ),
        ("GET", "/api/v1/users", None, admin_only),
        ("GET", "/api/v1/audit", None, admin_only),
        ("GET", "/api/v1/me", None, everyone),
    ]
    for method, path, body, codes in expected:
        for role, code in codes.items():
            response = await client.request(method, path, json=body, headers=people[role])
            assert response.status_code == code, (role, method, path, response.text)
            if code == 403:
                assert response.json()["permission"]  # names what the role lacks
    assert (await httpx.AsyncClient(base_url=server.base_url).get("/api/v1/printers")).status_code == 401


async def test_a_member_may_not_pause_a_printer_nor_act_on_another_members_entry(
    server: RunningServer, people: dict[str, dict[str, str]]
) -> None:
    client = server.client
    paused = await client.post("/api/v1/printers/any/pause", headers=people["member"])
    assert (paused.status_code, paused.json()["permission"]) == (403, "printers.control")
    await client.put("/api/v1/queue/paused", json={"paused": True})  # nothing is offered: entries stay waiting
    mine = await client.post("/api/v1/queue", json={"job_name": "bracket", "estimate": "1h"}, headers=people["member"])
    assert mine.status_code == 201, mine.text
    entry = mine.json()["entry"]
    me = (await client.get("/api/v1/me", headers=people["member"])).json()
    assert entry["user_name"] == me["display_name"]
    theirs = await client.post(f"/api/v1/queue/{entry['id']}/cancel", headers=people["member2"])
    assert (theirs.status_code, theirs.json()["reason"]) == (403, "not_yours")
    for_someone = await client.post(
        f"/api/v1/queue/{entry['id']}/cancel", json={"on_behalf_of": "member"}, headers=people["member2"]
    )
    assert (for_someone.status_code, for_someone.json()["permission"]) == (403, "queue.manage")
    by_operator = await client.post(
        f"/api/v1/queue/{entry['id']}/cancel", json={"on_behalf_of": "member"}, headers=people["operator"]
    )
    assert (by_operator.status_code, by_operator.json()["status"]) == (200, "cancelled")
    history = (await client.get(f"/api/v1/queue/{entry['id']}")).json()["history"]
    assert history[0]["kind"] == "cancelled"
    assert history[0]["detail"] == "by operator"  # the entry's own history says who acted for its user
    audit = (await client.get("/api/v1/audit", params={"action": "queue_admin"})).json()["records"]
    assert any(r["actor_name"] == "operator" and r["detail"].get("on_behalf_of") == "member" for r in audit)


async def test_members_see_only_their_own_jobs(server: RunningServer, people: dict[str, dict[str, str]]) -> None:
    client = server.client
    assert (await client.post("/api/v1/printers", json=_bambu())).status_code == 201
    created = await client.post("/api/v1/jobs", json={"printer_id": "x1c", "job_name": "customer order"})
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    assert (await client.get("/api/v1/jobs", headers=people["viewer"])).json()["total"] == 1
    assert (await client.get("/api/v1/jobs", headers=people["member"])).json()["total"] == 0
    assert (await client.get(f"/api/v1/jobs/{job_id}", headers=people["member"])).status_code == 404
    edit = await client.patch(f"/api/v1/jobs/{job_id}", json={"notes": "x"}, headers=people["member"])
    assert edit.status_code == 404
    assert (
        await client.post("/api/v1/jobs", json={"printer_id": "x1c", "job_name": "y"}, headers=people["member"])
    ).status_code == 403


async def test_sign_in_sets_a_session_cookie_that_works_until_sign_out(server: RunningServer) -> None:
    await server.runtime.accounts.create_user(username="alice", password=TEST_PASSWORD, role=Role.MEMBER)
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        wrong = await browser.post("/api/v1/auth/sign-in", json={"username": "alice", "password": "wrong password"})
        unknown = await browser.post("/api/v1/auth/sign-in", json={"username": "nobody", "password": "wrong password"})
        assert (wrong.status_code, unknown.status_code) == (401, 401)
        assert wrong.json() == unknown.json()
        signed = await browser.post("/api/v1/auth/sign-in", json={"username": "Alice", "password": TEST_PASSWORD})
        assert signed.status_code == 200, signed.text
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Secure" not in cookie  # plain HTTP on loopback
        assert TEST_PASSWORD not in signed.text
        assert (await browser.get("/api/v1/me")).json()["username"] == "alice"
        assert (await browser.post("/api/v1/auth/sign-out")).status_code == 204
        assert (await browser.get("/api/v1/me")).status_code == 401


async def test_pages_redirect_to_sign_in_and_the_form_signs_in(server: RunningServer) -> None:
    await server.runtime.accounts.create_user(username="wall", password=TEST_PASSWORD, role=Role.VIEWER)
    browser_headers = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=browser_headers) as browser:
        assert (await browser.get("/api/v1/jobs")).status_code == 401  # the API answers, never redirects
        page = await browser.get("/jobs?status=running")
        assert page.status_code == 303
        assert page.headers["location"] == "/signin?next=%2Fjobs%3Fstatus%3Drunning"
        form = await browser.get(page.headers["location"])
        assert form.status_code == 200
        assert 'name="password"' in form.text
        bad = await browser.post("/signin", data={"username": "wall", "password": "nope nope nope", "next": "/jobs"})
        assert bad.status_code == 401
        assert "Wrong username or password." in bad.text
        good = await browser.post(
            "/signin", data={"username": "wall", "password": TEST_PASSWORD, "next": "https://evil.example/"}
        )
        assert (good.status_code, good.headers["location"]) == (303, "/")  # never off-site
        home = await browser.get("/")
        assert home.status_code == 200
        assert 'id="signed-in-as"' in home.text
        assert 'href="/settings"' in home.text  # a viewer may read settings
        assert 'href="/users"' not in home.text
        settings = await browser.post("/ui/settings", data={"monitoring_interval": "5"})
        assert settings.status_code == 403


async def test_cross_site_posts_with_the_cookie_are_refused_but_tokens_are_not(server: RunningServer) -> None:
    session_id = (await server.runtime.accounts.sign_in("admin", TEST_PASSWORD, client=None)).session_id
    cookies = {SESSION_COOKIE: session_id}
    async with httpx.AsyncClient(base_url=server.base_url, cookies=cookies) as browser:
        for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://evil.example"}):
            refused = await browser.put("/api/v1/queue/paused", json={"paused": True}, headers=headers)
            assert (refused.status_code, refused.json()["reason"]) == (403, "cross_site")
        same = await browser.put(
            "/api/v1/queue/paused", json={"paused": True}, headers={"Sec-Fetch-Site": "same-origin"}
        )
        assert same.status_code == 200
    by_token = await server.client.put(
        "/api/v1/queue/paused", json={"paused": False}, headers={"Origin": "http://evil.example"}
    )
    assert by_token.status_code == 200


async def test_websockets_need_a_session_or_a_token(server: RunningServer) -> None:
    ws_base = server.base_url.replace("http://", "ws://")
    for path in ("/ws", "/ui/ws?view=printers"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(ws_base + path):
                pass
        assert refused.value.response.status_code == 403
        async with websockets.connect(ws_base + path, additional_headers=server.headers) as ws:
            await asyncio.wait_for(ws.ping(), 5)
    session_id = (await server.runtime.accounts.sign_in("admin", TEST_PASSWORD, client=None)).session_id
    cookie = {"Cookie": f"{SESSION_COOKIE}={session_id}"}
    async with websockets.connect(ws_base + "/ui/ws?view=printers", additional_headers=cookie) as ws:
        await asyncio.wait_for(ws.recv(), 5)


async def test_tokens_are_shown_once_act_with_the_owners_role_and_stop_when_revoked(
    server: RunningServer, people: dict[str, dict[str, str]]
) -> None:
    created = await server.client.post("/api/v1/me/tokens", json={"name": "home assistant"}, headers=people["viewer"])
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    as_token = {"Authorization": f"Bearer {token}"}
    listed = (await server.client.get("/api/v1/me/tokens", headers=as_token)).json()["tokens"]
    assert token not in str(listed)
    assert listed[0]["prefix"] == token[:11]
    assert (await server.client.put("/api/v1/queue/paused", json={"paused": True}, headers=as_token)).status_code == 403
    revoked = await server.client.delete(f"/api/v1/me/tokens/{created.json()['id']}", headers=as_token)
    assert revoked.status_code == 200
    assert (await server.client.get("/api/v1/me", headers=as_token)).status_code == 401


async def test_metrics_are_open_on_loopback_or_behind_their_own_token(tmp_path: Path) -> None:
    uv, task, base_url = await start_server(
        f"sqlite+aiosqlite:///{tmp_path}/m.db", metrics={"token": "metrics-secret-1234"}
    )
    try:
        async with httpx.AsyncClient(base_url=base_url) as client:
            assert (await client.get("/metrics")).status_code == 401
            good = await client.get("/metrics", headers={"Authorization": "Bearer metrics-secret-1234"})
            assert good.status_code == 200
            assert "printfleet" in good.text
            assert "metrics-secret-1234" not in good.text
    finally:
        uv.should_exit = True
        await asyncio.wait_for(task, 15)


async def test_first_run_set_up_creates_one_admin_with_a_one_time_link(tmp_path: Path) -> None:
    announced: list[str] = []
    settings = load_settings(None, database_url=f"sqlite+aiosqlite:///{tmp_path}/fresh.db")
    app = build_app(settings, password_hasher=fast_hasher(), announce_setup=announced.append)
    async with app.router.lifespan_context(app):
        assert len(announced) == 1
        assert announced[0].startswith("http://127.0.0.1:8000/setup?token=")
        token = announced[0].split("token=", 1)[1]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as browser:
            assert (await browser.get("/setup?token=wrong")).status_code == 403
            assert (await browser.get(f"/setup?token={token}")).status_code == 200
            weak = await browser.post(
                "/setup", data={"token": token, "username": "root", "password": "short", "password_repeat": "short"}
            )
            assert weak.status_code == 422
            assert "at least 10" in weak.text
            made = await browser.post(
                "/setup",
                data={"token": token, "username": "root", "password": TEST_PASSWORD, "password_repeat": TEST_PASSWORD},
            )
            assert (made.status_code, made.headers["location"]) == (303, "/")
            assert (await browser.get("/api/v1/me")).json()["role"] == "admin"
            again = await browser.post(
                "/setup",
                data={"token": token, "username": "two", "password": TEST_PASSWORD, "password_repeat": TEST_PASSWORD},
            )
            assert again.status_code == 403


async def test_admin_manages_users_and_the_audit_log_shows_it_without_secrets(server: RunningServer) -> None:
    client = server.client
    created = await client.post(
        "/api/v1/users", json={"username": "Bob", "password": "bobs long password", "role": "member"}
    )
    assert created.status_code == 201, created.text
    bob = created.json()
    assert "password" not in bob
    assert (
        await client.post("/api/v1/users", json={"username": "bob", "password": "another long one"})
    ).status_code == 409
    weak = await client.post("/api/v1/users", json={"username": "carl", "password": "password123"})
    assert (weak.status_code, "too common" in weak.text) == (422, True)
    session_id = (await server.runtime.accounts.sign_in("bob", "bobs long password", client=None)).session_id
    promoted = await client.patch(f"/api/v1/users/{bob['id']}", json={"role": "operator", "disabled": True})
    assert (promoted.json()["role"], promoted.json()["disabled"]) == ("operator", True)
    assert await server.runtime.accounts.session_principal(session_id) is None  # disabling ended the session
    me = (await client.get("/api/v1/me")).json()
    last_admin = await client.patch(f"/api/v1/users/{me['id']}", json={"role": "viewer"})
    assert last_admin.status_code == 409
    records = (await client.get("/api/v1/audit")).json()["records"]
    actions = {r["action"] for r in records}
    assert {"user_created", "role_changed", "user_disabled", "sign_in", "token_created"} <= actions
    assert "bobs long password" not in str(records)
    huge = await client.get("/api/v1/audit", params={"offset": 2**63})
    assert huge.status_code == 422
    page = await client.get("/audit", params={"action": "role_changed"})
    assert page.status_code == 200
    assert "user:bob" in page.text
    assert "bobs long password" not in page.text
    member = await server.headers_for("mia", Role.MEMBER)
    assert (await client.get("/audit", headers=member)).status_code == 403


async def test_a_personal_token_made_by_the_cli_helper_never_outranks_its_owner(server: RunningServer) -> None:
    headers = await bearer_headers(server.runtime.accounts, username="lowly", role=Role.VIEWER)
    assert (await server.client.delete("/api/v1/printers/x", headers=headers)).json()["permission"] == "printers.manage"
    assert (await server.client.get("/api/v1/users", headers=headers)).status_code == 403
