"""The API refuses what it cannot handle with a 4xx that says why, instead of a 500 or a stored mess: ids and
offsets past the store's 64-bit integers, nulls in flags, oversized bodies and fields, unusable printer URLs, a
stored secret sent to a new address, a foreign ``Host`` (DNS rebinding) and cross-site WebSockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.api.conftest import RunningServer
from tests.support import free_port

TOO_BIG = 2**63  # one past the largest SQLite / PostgreSQL bigint
LARGEST = 2**63 - 1
API_KEY = "KEY-4471-stored-secret"


async def add_octoprint(server: RunningServer, printer_id: str = "op-1", port: int | None = None) -> None:
    body = {"id": printer_id, "type": "octoprint", "url": f"http://127.0.0.1:{port or free_port()}", "api_key": API_KEY}
    response = await server.client.post("/api/v1/printers", json=body)
    assert response.status_code == 201, response.text


async def add_job(server: RunningServer) -> dict[str, object]:
    await add_octoprint(server)
    response = await server.client.post("/api/v1/jobs", json={"printer_id": "op-1", "job_name": "benchy"})
    assert response.status_code == 201, response.text
    return dict(response.json())


def assert_refused(response: httpx.Response, status: int = 422) -> None:
    assert response.status_code == status, response.text
    assert "detail" in response.json()


# --- 64-bit ids, offsets -------------------------------------------------------------------------------------------


async def test_ids_and_offsets_past_64_bits_are_422_and_the_largest_is_a_plain_404(server: RunningServer) -> None:
    client = server.client
    for method, path, body in [
        ("GET", f"/api/v1/jobs/{TOO_BIG}", None),
        ("DELETE", f"/api/v1/jobs/{TOO_BIG}", None),
        ("PATCH", f"/api/v1/jobs/{TOO_BIG}", {"notes": "x"}),
        ("PUT", f"/api/v1/jobs/{TOO_BIG}", {"notes": "x"}),
        ("POST", f"/api/v1/jobs/{TOO_BIG}/convert-to-manual", None),
        ("GET", f"/api/v1/jobs?offset={TOO_BIG}", None),
        ("GET", f"/api/v1/queue/{TOO_BIG}", None),
        ("DELETE", f"/api/v1/queue/{TOO_BIG}", None),
    ]:
        response = await client.request(method, path, json=body)
        assert response.status_code == 422, (method, path, response.text)
        assert response.json()["detail"][0]["loc"][-1] in ("job_id", "offset", "entry_id")
    assert_refused(await client.get(f"/api/v1/jobs/{LARGEST}"), 404)
    assert_refused(await client.delete(f"/api/v1/queue/{LARGEST}"), 404)
    assert (await client.get(f"/api/v1/jobs?offset={LARGEST}")).json() == {"jobs": [], "total": 0}


# --- job fields ----------------------------------------------------------------------------------------------------


async def test_a_null_business_flag_or_customer_info_is_422_and_the_job_keeps_its_values(server: RunningServer) -> None:
    job = await add_job(server)
    for method in ("PATCH", "PUT"):
        for field in ("is_business", "customer_info"):
            response = await server.client.request(method, f"/api/v1/jobs/{job['id']}", json={field: None})
            assert response.status_code == 422, (method, field, response.text)
            assert response.json()["detail"][0]["loc"] == ["body", field]
    kept = (await server.client.get(f"/api/v1/jobs/{job['id']}")).json()
    assert (kept["is_business"], kept["customer_info"]) == (False, {})


async def test_a_huge_customer_info_is_refused_so_job_lists_stay_small(server: RunningServer) -> None:
    job = await add_job(server)
    huge = {"order": "x" * 20_000}
    created = await server.client.post("/api/v1/jobs", json={"printer_id": "op-1", "customer_info": huge})
    assert created.status_code == 422, created.text
    edited = await server.client.patch(f"/api/v1/jobs/{job['id']}", json={"customer_info": huge})
    assert edited.status_code == 422, edited.text
    assert "x" * 100 not in created.text + edited.text  # the value is not echoed
    listed = await server.client.get("/api/v1/jobs")
    assert listed.json()["total"] == 1
    assert len(listed.content) < 5_000
    fits = await server.client.patch(f"/api/v1/jobs/{job['id']}", json={"customer_info": {"order": "x" * 5_000}})
    assert fits.status_code == 200, fits.text


# --- request bodies ------------------------------------------------------------------------------------------------


async def test_a_body_over_one_megabyte_is_413_before_it_is_parsed(server: RunningServer) -> None:
    job = await add_job(server)
    two_mb = {"printer_id": "op-1", "notes": "n" * (2 * 1024 * 1024)}
    assert_refused(await server.client.post("/api/v1/jobs", json=two_mb), 413)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit is counted as the body arrives
        yield b'{"notes": "'
        for _ in range(40):
            yield b"n" * 65_536
        yield b'"}'

    chunked = await server.client.patch(
        f"/api/v1/jobs/{job['id']}", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_refused(chunked, 413)
    assert (await server.client.get("/api/v1/jobs")).json()["total"] == 1
    assert (await server.client.get(f"/api/v1/jobs/{job['id']}")).json()["notes"] is None


# --- printer addresses and secrets ---------------------------------------------------------------------------------


async def test_octoprint_urls_with_control_characters_or_bad_hosts_are_422(server: RunningServer) -> None:
    for url in ["http://\u0004x", "http://octo pi.local", "http://999.1.2.3", "http://ex\u00e4mple.com", "http://"]:
        body = {"id": "bad", "type": "octoprint", "url": url, "api_key": "k"}
        created = await server.client.post("/api/v1/printers", json=body)
        assert created.status_code == 422, (url, created.text)
        assert created.json()["detail"].startswith("url:")
        tested = await server.client.post("/api/v1/printers/test", json=body)
        assert tested.status_code == 422, (url, tested.text)
    prusa = {"id": "bad", "type": "prusalink", "host": "printer\r\nX-Injected: 1", "api_key": "k"}
    assert_refused(await server.client.post("/api/v1/printers", json=prusa))
    assert (await server.client.get("/api/v1/printers")).json()["printers"] == []


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A loopback TCP listener that records what each connection sends (and answers nothing useful)."""
    received: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(65_536)
        received.append(data)
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(record, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], received
    server.close()
    await server.wait_closed()


async def test_a_stored_key_is_never_sent_to_a_new_url(
    server: RunningServer, listener: tuple[int, list[bytes]]
) -> None:
    port, received = listener
    await add_octoprint(server)
    elsewhere = f"http://127.0.0.1:{port}"

    tested = await server.client.post("/api/v1/printers/op-1/test?timeout=2", json={"url": elsewhere})
    assert tested.status_code == 422, tested.text
    assert tested.json()["detail"].startswith("api_key: give it again")
    saved = await server.client.patch("/api/v1/printers/op-1", json={"url": elsewhere})
    assert saved.status_code == 422, saved.text
    await asyncio.sleep(0.5)
    assert received == []  # nothing was dialled
    assert (await server.client.get("/api/v1/printers/op-1")).json()["url"] != elsewhere

    given = await server.client.post(
        "/api/v1/printers/op-1/test?timeout=2", json={"url": elsewhere, "api_key": "KEY-new"}
    )
    assert given.status_code == 200, given.text
    assert received, "the test with the key given again reached the listener"
    assert b"KEY-new" in b"".join(received)
    assert API_KEY.encode() not in b"".join(received)


# --- Host and Origin -----------------------------------------------------------------------------------------------


async def test_a_foreign_host_gets_400_and_an_ip_address_or_localhost_is_served(server: RunningServer) -> None:
    port = server.base_url.rsplit(":", 1)[1]
    for host in (f"rebind.evil.example:{port}", "rebind.evil.example", f"127.0.0.1.evil.example:{port}"):
        for path in ("/healthz", "/api/v1/printers", "/jobs"):
            response = await server.client.get(path, headers={"Host": host})
            assert response.status_code == 400, (host, path, response.text)
            assert "allowed_hosts" in response.json()["detail"]
        posted = await server.client.post("/ui/settings", data={"monitoring_interval": "7"}, headers={"Host": host})
        assert posted.status_code == 400
    assert (await server.client.get("/api/v1/settings")).json()["monitoring_interval"] != 7
    for host in (f"localhost:{port}", f"LOCALHOST:{port}", f"127.0.0.1:{port}", "10.20.30.40", f"[::1]:{port}"):
        assert (await server.client.get("/healthz", headers={"Host": host})).status_code == 200, host


async def test_websockets_refuse_another_sites_page_and_a_foreign_host(server: RunningServer) -> None:
    base = server.base_url.replace("http://", "ws://")
    port = server.base_url.rsplit(":", 1)[1]
    for path in ("/ws", "/ui/ws?view=printers"):
        for headers in (
            {"Origin": "http://evil.example"},
            {"Origin": f"http://rebind.evil.example:{port}"},
            {"Origin": "null"},
            {"Host": f"rebind.evil.example:{port}", "Origin": f"http://rebind.evil.example:{port}"},
        ):
            signed = {**server.headers, **headers}  # signed in: refused for the Origin or Host alone
            with pytest.raises(InvalidStatus) as refused:
                async with websockets.connect(base + path, additional_headers=signed, open_timeout=5):
                    pass
            assert refused.value.response.status_code == 403, (path, headers)
        same_site = {"Origin": server.base_url, **server.headers}
        async with websockets.connect(base + path, additional_headers=same_site, open_timeout=5) as ws:
            if path == "/ui/ws?view=printers":
                assert "printer-grid" in str(await asyncio.wait_for(ws.recv(), 5))
        async with websockets.connect(base + path, additional_headers=server.headers, open_timeout=5):  # no Origin
            pass
