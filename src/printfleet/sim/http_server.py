"""Serve an ASGI app with uvicorn on a loopback port inside the running event loop.

Simulators (PrusaLink, OctoPrint demo) need a real HTTP server that tests and scenario scripts can take off the
network and bring back **on the same port**, the way a printer drops off Wi-Fi. :class:`LoopbackHttpServer` owns
one uvicorn server task::

    server = LoopbackHttpServer(app)          # port chosen by the OS, kept across restarts
    await server.start()                      # returns once the port accepts connections
    print(server.url)                         # http://127.0.0.1:<port>
    await server.stop()                       # listener closed, open connections shut: clients see refused
    await server.start()                      # same port again
    await server.restart()                    # stop + start

or ``async with LoopbackHttpServer(app) as server: ...``. uvicorn is told not to touch logging
(``log_config=None``) nor signal handlers, so it can run inside printfleet's own server or a pytest loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from types import TracebackType
from typing import Literal, Self

import structlog
import uvicorn
from starlette.types import ASGIApp

from printfleet.aio import within


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves the process's signal handlers alone (the host program owns them)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class LoopbackHttpServer:
    """One ASGI app on ``host:port``, startable and stoppable any number of times on the same port.

    ``port=None`` lets the OS pick a free port at the first :meth:`start`; the port is then kept for
    restarts. ``shutdown_timeout_s`` (seconds) bounds how long :meth:`stop` waits for in-flight requests.
    ``lifespan`` is uvicorn's lifespan mode (``"off"`` by default: simulator apps have no start-up hooks).
    Raises ``OSError`` from :meth:`start` when the port cannot be bound.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        shutdown_timeout_s: float = 1.0,
        lifespan: Literal["auto", "on", "off"] = "off",
    ) -> None:
        self.app = app
        self.host = host
        self._port = port
        self._shutdown_timeout_s = shutdown_timeout_s
        self._lifespan = lifespan
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The TCP port; raises RuntimeError before the first :meth:`start` when the OS is to choose it."""
        if self._port is None:
            raise RuntimeError("the port is chosen at the first start()")
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True between a completed :meth:`start` and the next :meth:`stop`."""
        return self._task is not None and not self._task.done()

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            # SO_REUSEADDR: a restart must get the same port back while old connections sit in TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._port or 0))
        except OSError:
            sock.close()
            raise
        sock.set_inheritable(True)
        self._port = int(sock.getsockname()[1])
        return sock

    async def start(self) -> None:
        """Start serving; return once the port accepts connections. No-op when already running."""
        if self.running:
            return
        sock = self._bind()
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan=self._lifespan,
            timeout_graceful_shutdown=max(1, round(self._shutdown_timeout_s)),
        )
        server = _EmbeddedServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"http-server:{self._port}")
        try:
            while not server.started:
                if task.done():
                    sock.close()
                    task.result()  # re-raise the start-up failure
                    raise RuntimeError("uvicorn stopped during start-up")
                await asyncio.sleep(0.005)
        except asyncio.CancelledError:
            server.should_exit = True  # cancelled mid-start: let the server wind down rather than leak it
            raise
        self._server, self._task = server, task

    async def stop(self) -> None:
        """Close the listener and open connections, wait for the server task. No-op when not running."""
        server, task = self._server, self._task
        self._server = self._task = None
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            await within(asyncio.shield(task), self._shutdown_timeout_s + 2.0)
        except TimeoutError:
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def restart(self) -> None:
        """:meth:`stop` then :meth:`start` on the same port."""
        await self.stop()
        await self.start()

    async def __aenter__(self) -> LoopbackHttpServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


class HttpSimulatorNetwork:
    """The network side every HTTP printer simulator shares: on and off the network, on one port.

    Subclasses call :meth:`_init_network` at the end of their ``__init__`` with their ASGI app. ``disconnect``
    drops the printer off the network and brings it back on the same port later, as a printer losing Wi-Fi does.
    """

    printer_id: str
    _server: LoopbackHttpServer
    _reconnect_task: asyncio.Task[None] | None

    def _init_network(self, app: ASGIApp, *, port: int | None) -> None:
        self._reconnect_task = None
        self._server = LoopbackHttpServer(app, port=port)

    @property
    def port(self) -> int:
        """The TCP port (after the first :meth:`start` when it was chosen by the OS)."""
        return self._server.port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return self._server.url

    @property
    def online(self) -> bool:
        """True while the HTTP server accepts connections."""
        return self._server.running

    async def start(self) -> None:
        """Put the printer on the network."""
        await self._server.start()

    async def stop(self) -> None:
        """Take the printer off the network for good (cancels a pending reconnect)."""
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
            self._reconnect_task = None
        await self._server.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def disconnect(self, seconds: float) -> None:
        """Drop off the network now and come back on the same port after ``seconds``; printing goes on.

        Returns once the printer is unreachable; the reconnect runs in a background task.
        """
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        await self._server.stop()
        self._reconnect_task = asyncio.create_task(self._come_back(seconds), name=f"sim-reconnect:{self.port}")

    async def _come_back(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        for attempt in range(50):
            try:
                await self._server.start()
                break
            except OSError as exc:  # someone took the port meanwhile; a real printer would keep trying too
                structlog.get_logger("printfleet.sim").warning(
                    "sim.port_busy", printer_id=self.printer_id, port=self.port, error=str(exc)
                )
                await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
        self._reconnect_task = None
