"""printfleet benchmarks: ``python -m bench [ingest|latency|farm ...]`` (``make bench`` runs them all).

Each benchmark module has a ``run() -> list[Figure]`` that measures and returns its figures; ``bench.__main__``
prints them as one table with the target and PASS/MISS. A miss is a finding, not a failure: the process exits
non-zero only when a benchmark crashes.

The helpers here are shared by the benchmarks that run a real server: a free loopback port, percentiles, and
:class:`ServerProcess`, ``printfleet serve --config <tmp yaml>`` as a separate process.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import shutil
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import yaml

from printfleet.domain.printer import PrinterConfig, PrinterKind

__all__ = ["Figure", "ServerProcess", "free_port", "percentile", "printer_entry"]


@dataclass(frozen=True, slots=True)
class Figure:
    """One printed line: what was measured, the measured text, the target text, and whether it was met.

    ``passed`` is None for figures that are context only (no target).
    """

    name: str
    measured: str
    target: str = ""
    passed: bool | None = None

    @property
    def verdict(self) -> str:
        """``PASS``, ``MISS`` or empty for context-only figures."""
        if self.passed is None:
            return ""
        return "PASS" if self.passed else "MISS"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` (0-1) percentile by the nearest-rank method: p99 of 200 samples is the 198th smallest."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def printer_entry(config: PrinterConfig) -> dict[str, Any]:
    """A simulated printer's :class:`PrinterConfig` as a ``printers:`` entry of the YAML config file."""
    entry: dict[str, Any] = {"id": config.id, "name": config.name, "type": config.kind.value}
    if config.kind is PrinterKind.BAMBU:
        assert config.access_code is not None
        entry |= {
            "host": config.host,
            "port": config.port,
            "serial": config.serial,
            "access_code": config.access_code.reveal(),
            "ca_file": config.ca_file,
        }
    elif config.kind is PrinterKind.PRUSALINK:
        entry |= {"host": config.host, "port": config.port, "poll_interval": config.poll_interval}
        if config.username is not None:
            entry["username"] = config.username
        if config.password is not None:
            entry["password"] = config.password.reveal()
        if config.api_key is not None:
            entry["api_key"] = config.api_key.reveal()
    elif config.kind is PrinterKind.MOONRAKER:
        entry["url"] = config.url
        if config.api_key is not None:
            entry["api_key"] = config.api_key.reveal()
    else:
        raise ValueError(f"no YAML entry for {config.kind.value} printers in the benchmarks")
    return entry


def _printfleet_command() -> list[str]:
    """The ``printfleet`` script beside this interpreter (the venv's), else ``python -m printfleet``."""
    script = Path(sys.executable).parent / "printfleet"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("printfleet")
    return [found] if found else [sys.executable, "-m", "printfleet"]


class ServerProcess:
    """``printfleet serve --config <workdir>/printfleet.yaml`` on a free loopback port, SQLite in ``workdir``.

    Use as an async context manager; :meth:`wait_connected` waits until ``/healthz`` counts enough connected
    printers. The server's stderr goes to ``<workdir>/server.log`` (its tail is shown when it does not start).

    Before the first start an admin ``bench`` (password :attr:`password`) and a personal API token are made with
    ``printfleet users``, as an operator would: :attr:`headers` signs requests and WebSocket handshakes in.
    """

    def __init__(
        self,
        workdir: Path,
        printers: Sequence[Mapping[str, Any]],
        *,
        log_level: str = "INFO",
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        """``settings``: more top-level keys of the config file (e.g. ``{"schedule": {"stagger": 0}}``)."""
        self.workdir = workdir
        self.port = free_port()
        self.log_file = workdir / "server.log"
        self.config_file = workdir / "printfleet.yaml"
        self._config: dict[str, Any] = {
            "database_url": f"sqlite+aiosqlite:///{workdir / 'printfleet.db'}",
            "http": {"host": "127.0.0.1", "port": self.port},
            "logging": {"level": log_level, "format": "console"},
            "printers": [dict(entry) for entry in printers],
            **dict(settings or {}),
        }
        self._write_config()
        self.process: asyncio.subprocess.Process | None = None
        self.username = "bench"
        self.password = secrets.token_urlsafe(16)
        self.headers: dict[str, str] = {}

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """The server's ``/ws`` address."""
        return f"ws://127.0.0.1:{self.port}/ws"

    def _write_config(self) -> None:
        self._config["http"] = {"host": "127.0.0.1", "port": self.port}
        self.config_file.write_text(yaml.safe_dump(self._config, sort_keys=False))

    @property
    def pid(self) -> int:
        """The server's process id (it is the ``printfleet`` process itself, not a shell)."""
        assert self.process is not None, "server not started"
        return self.process.pid

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the server's log."""
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.strip().splitlines()[-lines:])

    async def _cli(self, *args: str, stdin: str | None = None) -> str:
        """Run ``printfleet <args> --config <file>``; its stdout. Raises RuntimeError with its stderr."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("PRINTFLEET_")}
        process = await asyncio.create_subprocess_exec(
            *_printfleet_command(),
            *args,
            "--config",
            str(self.config_file),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=self.workdir,
        )
        out, err = await process.communicate(None if stdin is None else stdin.encode())
        if process.returncode != 0:
            raise RuntimeError(f"printfleet {args[0]} {args[1]} failed: {err.decode(errors='replace')}")
        return out.decode()

    async def _sign_in_setup(self) -> None:
        """Create the bench admin and its token once (the CLI migrates the database first)."""
        if self.headers:
            return
        await self._cli("users", "create", self.username, "--role", "admin", "--password-stdin", stdin=self.password)
        token = (await self._cli("users", "token", self.username, "--name", "bench")).strip()
        self.headers = {"Authorization": f"Bearer {token}"}

    async def session_cookie(self) -> tuple[str, str]:
        """Sign in as the bench admin through the API; the session cookie's (name, value) for a browser."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10.0) as client:
            response = await client.post(
                "/api/v1/auth/sign-in", json={"username": self.username, "password": self.password}
            )
            response.raise_for_status()
            name, value = next(iter(response.cookies.items()))
            return name, value

    async def start(self, *, timeout_s: float = 60.0) -> None:
        """Start the server and wait until ``/healthz`` answers. Raises RuntimeError with the log tail. The first
        start takes a port free at that moment (one picked long before may have gone to a printer connection meanwhile:
        a farm of 1,000 printers holds 1,000 ephemeral ports); a restart keeps it."""
        if self.process is None:
            self.port = free_port()
            self._write_config()
        await self._sign_in_setup()
        env = {key: value for key, value in os.environ.items() if not key.startswith("PRINTFLEET_")}
        with self.log_file.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                *_printfleet_command(),
                "serve",
                "--config",
                str(self.config_file),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as client:
            while True:
                if self.process.returncode is not None:
                    raise RuntimeError(f"printfleet exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"printfleet did not answer /healthz in {timeout_s:.0f} s:\n{self.log_tail()}")
                await asyncio.sleep(0.1)

    async def health(self) -> dict[str, Any]:
        """The ``/healthz`` body."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=5.0) as client:
            response = await client.get("/healthz")
            response.raise_for_status()
            body: dict[str, Any] = response.json()
            return body

    async def metric(self, name: str, labels: str = "") -> float:
        """One sample of ``/metrics`` (``name{labels}``), 0 when absent."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=5.0) as client:
            response = await client.get("/metrics")
        wanted = f"{name}{{{labels}}}" if labels else name
        for line in response.text.splitlines():
            if line.startswith(wanted + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    async def wait_connected(self, count: int, *, timeout_s: float) -> float:
        """Wait until ``count`` printers are connected; return the seconds it took. Raises TimeoutError."""
        started = time.monotonic()
        connected = 0
        while time.monotonic() - started < timeout_s:
            if self.process is not None and self.process.returncode is not None:
                raise RuntimeError(f"printfleet exited with {self.process.returncode}:\n{self.log_tail()}")
            connected = int((await self.health())["printers_connected"])
            if connected >= count:
                return time.monotonic() - started
            await asyncio.sleep(0.25)
        raise TimeoutError(f"{connected}/{count} printers connected after {timeout_s:.0f} s:\n{self.log_tail()}")

    async def stop(self) -> None:
        """SIGINT (uvicorn's graceful shutdown), then SIGKILL after 15 s."""
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 15.0)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def __aenter__(self) -> ServerProcess:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
