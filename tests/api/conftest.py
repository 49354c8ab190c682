"""A real printfleet server on a loopback port, with real adapters, for API and WebSocket tests."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from printfleet.app import Recovery, Runtime, build_app
from printfleet.config import load_settings
from printfleet.domain.accounts.roles import Role
from printfleet.domain.printer import PrinterConfig
from printfleet.services.dispatch.steps import DispatchTimings
from printfleet.services.ports import ConnectionFactory
from tests.support import free_port
from tests.support_accounts import bearer_headers, fast_hasher


@dataclass
class RunningServer:
    """A server under test: its base URL, an HTTP client signed in as an admin (``headers``), and its runtime
    parts."""

    base_url: str
    client: httpx.AsyncClient
    runtime: Runtime
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/ws"

    async def headers_for(self, username: str, role: Role) -> dict[str, str]:
        """Bearer headers of another user with ``role`` (created on first use)."""
        return await bearer_headers(self.runtime.accounts, username=username, role=role)


async def admin_headers(uv: uvicorn.Server) -> dict[str, str]:
    """Bearer headers of the test admin on a server started by :func:`start_server`."""
    runtime: Runtime = uv.config.app.state.runtime
    return await bearer_headers(runtime.accounts)


async def _serve(server: uvicorn.Server) -> None:
    """``server.serve()``, with uvicorn's ``sys.exit(3)`` on a failed start turned into an ordinary failure: a
    SystemExit escaping into pytest would end the test without its fixtures' teardown (its temporary directory and
    servers then leak into the next tests of the worker)."""
    caught = _StartFailures()
    logging.getLogger("uvicorn.error").addHandler(caught)
    try:
        await server.serve()
    except SystemExit as exit_:
        raise RuntimeError(
            f"the server did not start (uvicorn exit code {exit_.code}): {caught.cause()}; see its log above"
        ) from None
    finally:
        logging.getLogger("uvicorn.error").removeHandler(caught)


class _StartFailures(logging.Handler):
    """Keeps the errors uvicorn logs while a server starts, so a failed start names its cause in the test's one-line
    summary (a CI log shows only its tail)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def cause(self) -> str:
        for record in reversed(self.records):
            if record.exc_info and record.exc_info[1] is not None:
                error = record.exc_info[1]
                return f"{type(error).__name__}: {error}"[:500]
        if not self.records:
            return "no error was logged"
        # Starlette hands uvicorn the traceback as text: its last line names the exception
        lines = [line for line in self.records[-1].getMessage().splitlines() if line.strip()]
        return (lines[-1] if lines else "an empty error")[:500]


START_TIMEOUT_S = 45.0
"""How long a server may take to start: longer than ``migrate()`` waits for a SQLite file still locked."""


async def start_server(
    database_url: str,
    *,
    extra_printers: Sequence[PrinterConfig] = (),
    clock: Callable[[], datetime] | None = None,
    factory: ConnectionFactory | None = None,
    recovery: Recovery | None = None,
    dispatch_timings: DispatchTimings | None = None,
    **settings: Any,
) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    port = free_port()
    # the address it serves on: a farm's processes are told apart by it (printer ownership)
    settings["http"] = {"host": "127.0.0.1", "port": port, **settings.get("http", {})}
    app_settings = load_settings(None, database_url=database_url, **settings)
    app = build_app(
        app_settings,
        extra_printers=extra_printers,
        clock=clock,
        factory=factory,
        recovery=recovery,
        dispatch_timings=dispatch_timings,
        password_hasher=fast_hasher(),
        announce_setup=lambda _url: None,
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", ws="websockets-sansio")
    )
    task = asyncio.create_task(_serve(server))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while loop.time() < deadline:
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    assert server.started, "server did not start"
    return server, task, f"http://127.0.0.1:{port}"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A printfleet server on SQLite in ``tmp_path`` with no printers configured; its file library is
    ``tmp_path/files``."""
    uv, task, base_url = await start_server(
        f"sqlite+aiosqlite:///{tmp_path}/printfleet.db", files={"directory": str(tmp_path / "files")}
    )
    headers = await admin_headers(uv)
    async with httpx.AsyncClient(base_url=base_url, timeout=10, headers=headers) as client:
        yield RunningServer(base_url=base_url, client=client, runtime=uv.config.app.state.runtime, headers=headers)
    uv.should_exit = True
    await asyncio.wait_for(task, 15)
