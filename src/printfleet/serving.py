"""The HTTP server's protective options: a header-read deadline, keep-alive and connection limits.

uvicorn (0.55) has no deadline for reading a request's headers: a client that sends one header line every few
seconds holds its connection (and a file descriptor) for ever, and about a thousand of them exhaust systemd's
default limit of 1,024 open files. :class:`HeaderTimeoutProtocol` adds that deadline to uvicorn's h11 protocol;
:func:`uvicorn_options` gives ``uvicorn.run`` / ``uvicorn.Config`` every option from the ``http`` settings.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from printfleet.config import HttpSettings

MAX_HEADER_BYTES = 16 * 1024
"""The largest request line plus headers accepted, bytes (h11's limit; a larger head is answered with 400)."""


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for a request's headers.

    The timer runs while the connection waits for a request (from connection, and again after each response):
    ``header_timeout`` seconds after it starts, a connection whose request line and headers are still incomplete is
    closed. A request being answered, its body, and a connection upgraded to a WebSocket are not affected.
    """

    header_timeout: ClassVar[float] = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the header deadline of the first request."""
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Feed h11; stop the deadline once a request's headers are complete."""
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()

    def on_response_complete(self) -> None:
        """Start the deadline of the next request on this keep-alive connection."""
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:  # not a pipelined request
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        waiting = self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)
        if waiting and not self.transport.is_closing() and self.transport.get_protocol() is self:
            self.transport.close()


def header_timeout_protocol(seconds: float) -> type[HeaderTimeoutProtocol]:
    """A :class:`HeaderTimeoutProtocol` whose deadline is ``seconds``."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": seconds})


def uvicorn_options(http: HttpSettings) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` for ``http``: address, the header deadline (``header_timeout``),
    ``keep_alive_timeout`` (seconds), ``max_connections`` (uvicorn's ``limit_concurrency``: connections and running
    requests at once before new requests get 503) and the largest request head (:data:`MAX_HEADER_BYTES`)."""
    return {
        "host": http.host,
        "port": http.port,
        "http": header_timeout_protocol(http.header_timeout),
        "timeout_keep_alive": http.keep_alive_timeout,
        "limit_concurrency": http.max_connections,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "ws": "websockets-sansio",
        "lifespan": "on",
        "log_level": "warning",
    }
