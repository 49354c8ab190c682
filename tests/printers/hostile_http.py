"""A raw asyncio HTTP/1.1 server on loopback that plays a misbehaving PrusaLink or OctoPrint printer.

No web framework in between: the bytes on the wire are exactly what the test asks for (a body nested 50,000 deep,
a number with 5,000 digits, an answer trickling in one byte at a time, a 64 MiB body), and the server counts how
many body bytes it managed to hand to the socket, so a test can tell that the client stopped reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from printfleet.domain.printer import PrinterConfig, PrinterKind, PrinterStatus, Secret


@dataclass
class Reply:
    """One answer. ``mode``: ``normal`` (``body`` with its Content-Length), ``trickle`` (headers announcing
    ``size`` bytes, then one byte every ``interval_s`` seconds, forever), ``huge`` (``size`` bytes of JSON-ish
    filler, with a Content-Length when ``declared``, else delimited by closing the connection)."""

    status: int = 200
    body: bytes = b""
    mode: str = "normal"
    size: int = 0
    interval_s: float = 0.1
    declared: bool = True


Handler = Callable[[str], Reply]
"""``handler(path)``: the reply to a GET of ``path``."""


class HostilePrinter:
    """Serves ``handler``'s replies on 127.0.0.1 (keep-alive) until the context exits."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.body_bytes_sent = 0
        self.requests: list[str] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._stopping = False

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> HostilePrinter:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._stopping = True
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            while not self._stopping:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                self.requests.append(path)
                if not await self._answer(writer, self.handler(path)):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, reply: Reply) -> bool:
        """Write ``reply``; False when the connection must be closed afterwards."""
        status_line = f"HTTP/1.1 {reply.status} X\r\nContent-Type: application/json\r\n"
        if reply.mode == "normal":
            if reply.status == 204:
                writer.write(f"{status_line}\r\n".encode())
            else:
                writer.write(f"{status_line}Content-Length: {len(reply.body)}\r\n\r\n".encode() + reply.body)
            await writer.drain()
            return True
        if reply.mode == "trickle":
            writer.write(f"{status_line}Content-Length: {reply.size}\r\n\r\n".encode())
            while not self._stopping:
                writer.write(b" ")
                await writer.drain()
                self.body_bytes_sent += 1
                await asyncio.sleep(reply.interval_s)
            return False
        length = f"Content-Length: {reply.size}\r\n" if reply.declared else "Connection: close\r\n"
        writer.write(f"{status_line}{length}\r\n".encode())
        chunk = b"[" + b"0," * (32 * 1024 - 1) + b"0"
        while self.body_bytes_sent < reply.size and not self._stopping:
            writer.write(chunk)
            await writer.drain()  # raises once the client has closed the connection
            self.body_bytes_sent += len(chunk)
        return False


def prusalink_bodies(nozzle: float) -> Handler:
    """A healthy idle PrusaLink printer whose nozzle reads ``nozzle`` °C."""

    def handler(path: str) -> Reply:
        if path == "/api/v1/job":
            return Reply(status=204)
        body = {"printer": {"state": "IDLE", "temp_nozzle": nozzle, "target_nozzle": 0, "temp_bed": 22.0}}
        return Reply(body=json.dumps(body).encode())

    return handler


def octoprint_bodies(nozzle: float) -> Handler:
    """A healthy operational OctoPrint server whose nozzle reads ``nozzle`` °C."""

    def handler(path: str) -> Reply:
        if path == "/api/job":
            job = {"job": {"file": {"name": None}}, "progress": {"completion": None}, "state": "Operational"}
            return Reply(body=json.dumps(job).encode())
        flags = {"operational": True, "printing": False, "paused": False, "ready": True, "error": False}
        printer = {
            "state": {"text": "Operational", "flags": flags},
            "temperature": {"tool0": {"actual": nozzle, "target": 0}, "bed": {"actual": 22.0, "target": 0}},
        }
        return Reply(body=json.dumps(printer).encode())

    return handler


STATUS_PATH = {PrinterKind.PRUSALINK: "/api/v1/status", PrinterKind.OCTOPRINT: "/api/printer"}
"""The first request of each poll, per kind."""


def config_for(kind: PrinterKind, port: int, *, poll_interval: float) -> PrinterConfig:
    """A printer of ``kind`` at the fake on ``port``, API-key auth."""
    if kind is PrinterKind.PRUSALINK:
        return PrinterConfig(
            id="fake", name="fake", kind=kind, host="127.0.0.1", port=port, api_key=Secret("k"),
            poll_interval=poll_interval,
        )  # fmt: skip
    return PrinterConfig(
        id="fake", name="fake", kind=kind, url=f"http://127.0.0.1:{port}", api_key=Secret("k"),
        poll_interval=poll_interval,
    )  # fmt: skip


class Recorder:
    """A status sink that keeps every snapshot and lets a test wait for one."""

    def __init__(self) -> None:
        self.statuses: list[PrinterStatus] = []
        self._changed = asyncio.Condition()

    async def __call__(self, printer_id: str, status: PrinterStatus) -> None:
        async with self._changed:
            self.statuses.append(status)
            self._changed.notify_all()

    async def wait_for(self, check: Callable[[PrinterStatus], bool], timeout_s: float = 5.0) -> PrinterStatus:
        """The first snapshot so far passing ``check``; fails (TimeoutError) after ``timeout_s`` seconds."""
        async with asyncio.timeout(timeout_s), self._changed:
            while True:
                found = next((status for status in self.statuses if check(status)), None)
                if found is not None:
                    return found
                await self._changed.wait()


class CountingObserver:
    """Counts the adapter's metric hooks."""

    def __init__(self) -> None:
        self.reports = self.parse_errors = self.reconnects = 0

    def report_received(self, kind: PrinterKind) -> None:
        self.reports += 1

    def parse_error(self, kind: PrinterKind) -> None:
        self.parse_errors += 1

    def reconnect(self, kind: PrinterKind) -> None:
        self.reconnects += 1


@contextlib.asynccontextmanager
async def running_task(coroutine: object) -> AsyncIterator[None]:
    """Run ``coroutine`` (a connection's ``run()``) as a task for the block, then cancel it."""
    task: asyncio.Task[None] = asyncio.ensure_future(coroutine)  # type: ignore[arg-type]
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
