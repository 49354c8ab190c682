"""A printfleet server (in-process, restartable on the same database) beside simulated printers, for job tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
import uvicorn
import websockets

from printfleet.domain.printer import PrinterConfig
from tests.api.conftest import admin_headers, start_server

Job = dict[str, Any]


def awaiting() -> str:
    """Each running task of this event loop with the innermost frames it awaits in (for a failure message)."""
    lines = []
    for task in sorted(asyncio.all_tasks(), key=lambda t: t.get_name()):
        frames = task.get_stack(limit=60)
        where = " > ".join(
            f"{f.f_code.co_filename.rsplit('/', 1)[-1]}:{f.f_code.co_name}:{f.f_lineno}" for f in frames[-5:]
        )
        lines.append(f"  {task.get_name()}: {where or '?'}")
    return "\n".join(lines)


class Server:
    """One printfleet server process-equivalent: start, stop (graceful) and start again on one database."""

    def __init__(self, database_url: str, printers: Sequence[PrinterConfig], **settings: Any) -> None:
        self.database_url = database_url
        self.printers = list(printers)
        self.settings = settings
        self._uv: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.base_url = ""
        self.headers: dict[str, str] = {}
        self.client = httpx.AsyncClient(timeout=10)

    async def start(self) -> None:
        self._uv, self._task, self.base_url = await start_server(
            self.database_url, extra_printers=self.printers, **self.settings
        )
        self.headers = await admin_headers(self._uv)
        self.client = httpx.AsyncClient(base_url=self.base_url, timeout=10, headers=self.headers)

    async def wait_online(self, *, timeout: float = 15.0) -> None:
        """Wait until every printer has reported once (so a print started next is seen starting, not discovered)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            answer = await self.client.get("/api/v1/printers")
            # 503 while the store is briefly unavailable at start-up (a test may shorten SQLite's busy timeout)
            printers = answer.json()["printers"] if answer.status_code == 200 else None
            if printers is not None and all(p["status"]["state"] != "offline" for p in printers):
                return
            if loop.time() > deadline:
                shown = [p["status"] for p in printers] if printers is not None else answer.text[:300]
                raise AssertionError(f"printers never came online: {shown}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop the server gracefully; fail naming what the server still awaits when it takes over 15 s."""
        if self._uv is not None and self._task is not None:
            self._uv.should_exit = True
            done, _ = await asyncio.wait({self._task}, timeout=15)
            if not done:
                stuck = awaiting()
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(self._task, 5)
                raise AssertionError(f"the server did not stop within 15 s; its tasks were awaiting:\n{stuck}")
            self._task.result()
        await self.client.aclose()
        self._uv = self._task = None

    @property
    def runtime(self) -> Any:
        assert self._uv is not None
        return self._uv.config.app.state.runtime

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/ws"

    async def jobs(self, **params: Any) -> list[Job]:
        response = await self.client.get("/api/v1/jobs", params={"limit": 500, **params})
        assert response.status_code == 200, response.text
        return list(reversed(response.json()["jobs"]))  # oldest first reads better in assertions

    async def wait_jobs(
        self, predicate: Callable[[list[Job]], bool], *, timeout: float = 15.0, **params: Any
    ) -> list[Job]:
        """Poll the jobs API until ``predicate(jobs)`` holds; fail with the last list after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            jobs = await self.jobs(**params)
            if predicate(jobs):
                return jobs
            if loop.time() > deadline:
                raise AssertionError(f"jobs never matched: {json.dumps(jobs, indent=1, default=str)}")
            await asyncio.sleep(0.1)

    async def upload(self, name: str, content: bytes) -> int:
        """Upload a print file to the library; its id."""
        files = {"file": (name, content, "application/octet-stream")}
        response = await self.client.post("/api/v1/files", files=files)
        assert response.status_code in (200, 201), response.text
        file_id: int = response.json()["id"]
        return file_id

    async def send(self, printer_id: str, file_id: int, **body: Any) -> dict[str, Any]:
        """Send a library file to a printer (``POST .../print``); the dispatch (202 expected)."""
        response = await self.client.post(f"/api/v1/printers/{printer_id}/print", json={"file_id": file_id, **body})
        assert response.status_code == 202, response.text
        dispatch: dict[str, Any] = response.json()
        return dispatch

    async def wait_dispatch(self, dispatch_id: int, state: str, *, timeout: float = 20.0) -> dict[str, Any]:
        """Poll a dispatch until it is in ``state``; fail at once when it ends in another state."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            body: dict[str, Any] = (await self.client.get(f"/api/v1/dispatches/{dispatch_id}")).json()
            if body["state"] == state:
                return body
            if body["state"] in ("started", "failed") or loop.time() > deadline:
                raise AssertionError(f"dispatch never became {state}: {body}")
            await asyncio.sleep(0.05)

    async def wait_printer(self, printer_id: str, state: str, *, timeout: float = 15.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            body = (await self.client.get(f"/api/v1/printers/{printer_id}")).json()
            if body["status"]["state"] == state:
                return body
            if loop.time() > deadline:
                raise AssertionError(f"{printer_id} never became {state}: {body['status']}")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running(server: Server) -> AsyncIterator[Server]:
    """``server`` started with every printer online; stopped on exit."""
    await server.start()
    try:
        await server.wait_online()
        yield server
    finally:
        await server.stop()


def statuses(jobs: list[Job]) -> list[str]:
    return [job["status"] for job in jobs]


async def collect_frames(
    url: str, types: set[str], seconds: float, *, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Frames of the given types received on /ws (signed in with ``headers``) within ``seconds``."""
    frames: list[dict[str, Any]] = []
    async with websockets.connect(url, additional_headers=headers or {}) as ws:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), left))
            except TimeoutError:
                break
            if frame["type"] in types:
                frames.append(frame)
    return frames


async def printer_owner(servers: Sequence[Server], printer_id: str, *, timeout: float = 20.0) -> Server:
    """The one server connected to ``printer_id`` (its owner in a shared farm), once one is; fails when two are."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = [server for server in servers if server.runtime.monitoring.owns(printer_id)]
        assert len(found) <= 1, f"{len(found)} processes are connected to {printer_id}"
        if found:
            return found[0]
        assert loop.time() < deadline, f"no process owns {printer_id}"
        await asyncio.sleep(0.05)
