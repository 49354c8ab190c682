"""``printfleet serve`` protects itself from slow and greedy clients (the options come from the ``http`` settings):
a connection that is slow to send its headers is closed, too many connections get 503, and a foreign ``Host`` gets
400. Each test runs the real CLI in a subprocess on a loopback port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from printfleet.config import HttpSettings
from printfleet.serving import MAX_HEADER_BYTES, HeaderTimeoutProtocol, uvicorn_options
from tests.support import free_port


@contextlib.contextmanager
def serve(tmp_path: Path, **http: object) -> Iterator[str]:
    """``printfleet serve`` with ``http`` settings; yields its base URL once it answers."""
    port = free_port()
    settings = ", ".join(f"{key}: {value}" for key, value in {"port": port, **http}.items())
    config = tmp_path / "printfleet.yaml"
    config.write_text(f"database_url: sqlite+aiosqlite:///{tmp_path}/printfleet.db\nhttp: {{{settings}}}\n")
    env = {**os.environ, "PRINTFLEET_CONFIG": ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "printfleet", "serve", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(base_url + "/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` within ``seconds`` (reads until EOF; False on timeout)."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def test_a_client_slow_to_send_its_headers_is_disconnected(tmp_path: Path) -> None:
    with serve(tmp_path, header_timeout=1, keep_alive_timeout=30) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        with (
            socket.create_connection(("127.0.0.1", port)) as silent,
            socket.create_connection(("127.0.0.1", port)) as slow,
        ):
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # ...and the rest never comes
            assert closed_within(slow, 6)
            assert closed_within(silent, 6)
        with socket.create_connection(("127.0.0.1", port)) as kept:  # a keep-alive client waits for the next request
            kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            kept.settimeout(5)
            assert kept.recv(4096).startswith(b"HTTP/1.1 200")
            kept.sendall(b"GET /healthz HTTP/1.1\r\n")
            assert closed_within(kept, 6)
        assert httpx.get(base_url + "/healthz").status_code == 200


def test_connections_past_the_limit_get_503_and_only_allowed_host_names_are_served(tmp_path: Path) -> None:
    with serve(tmp_path, max_connections=2, header_timeout=30, allowed_hosts="[printfarm.local]") as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)):
            time.sleep(0.2)
            assert httpx.get(base_url + "/healthz").status_code == 503
        time.sleep(0.2)
        assert httpx.get(base_url + "/healthz").status_code == 200
        foreign = httpx.get(base_url + "/healthz", headers={"Host": f"rebind.evil.example:{port}"})
        assert foreign.status_code == 400
        listed = httpx.get(base_url + "/healthz", headers={"Host": f"PrintFarm.local:{port}"})
        assert listed.status_code == 200
        not_listed = httpx.get(base_url + "/healthz", headers={"Host": f"localhost:{port}"})  # the list replaces
        assert not_listed.status_code == 400


def test_the_server_options_follow_the_http_settings() -> None:
    http = HttpSettings(host="127.0.0.1", port=8123, header_timeout=7, keep_alive_timeout=3, max_connections=50)
    options = uvicorn_options(http)
    assert (options["host"], options["port"]) == ("127.0.0.1", 8123)
    assert issubclass(options["http"], HeaderTimeoutProtocol)
    assert options["http"].header_timeout == 7
    assert (options["timeout_keep_alive"], options["limit_concurrency"]) == (3, 50)
    assert options["h11_max_incomplete_event_size"] == MAX_HEADER_BYTES
    defaults = uvicorn_options(HttpSettings())
    assert (defaults["http"].header_timeout, defaults["timeout_keep_alive"], defaults["limit_concurrency"]) == (
        10.0,
        5,
        1000,
    )


@pytest.mark.parametrize("header_timeout", [0, -1])
def test_a_header_timeout_must_be_positive(header_timeout: float) -> None:
    with pytest.raises(ValueError, match="header_timeout"):
        HttpSettings(header_timeout=header_timeout)


def test_allowed_hosts_default_to_the_listen_address_and_localhost() -> None:
    assert HttpSettings().host_names() == {"127.0.0.1", "localhost"}
    assert HttpSettings(host="0.0.0.0").host_names() == {"0.0.0.0", "127.0.0.1", "localhost"}
    assert HttpSettings(allowed_hosts=["Farm.Example", "[::1]"]).host_names() == {"farm.example", "::1"}
