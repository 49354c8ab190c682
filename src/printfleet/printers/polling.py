"""What the polled HTTP adapters (PrusaLink, OctoPrint) share: API-key auth, the poll timer, bounded requests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import httpx

from printfleet.domain.printer import DEFAULT_POLL_INTERVAL_S, OfflineReason, Secret
from printfleet.printers.base import ConnectionFailed, PrinterConnectionBase
from printfleet.printers.limits import MAX_RESPONSE_BYTES

DEFAULT_REQUEST_TIMEOUT_S = 10.0
"""Default deadline, in seconds, for one HTTP request to a printer: connecting, sending, and reading the whole
answer. Twice the default poll interval: a printer that cannot answer a status request in that time is shown
``timeout`` rather than frozen at its last status."""


class ResponseTooLarge(Exception):
    """An answer body longer than the cap; ``limit`` is the cap in bytes. The rest of the body was not read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"answer larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A printer's whole answer: HTTP status code, the body (at most the cap, decoded from any Content-Encoding)
    and the request's path, for messages."""

    status_code: int
    content: bytes
    path: str


def http_timeouts(timeout_s: float) -> httpx.Timeout:
    """httpx's per-phase timeouts for a request deadline of ``timeout_s`` seconds: connecting gets half of it, so a
    host that never accepts is told apart (``unreachable``) from one that accepts and never answers (``timeout``)."""
    return httpx.Timeout(timeout_s, connect=timeout_s / 2)


async def bounded_request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    deadline_s: float,
    max_bytes: int = MAX_RESPONSE_BYTES,
    **kwargs: Any,
) -> HttpAnswer:
    """Send one request and read its whole answer within ``deadline_s`` seconds, keeping at most ``max_bytes``.

    The body is streamed: a Content-Length above the cap is refused before reading any of it, and a body that
    grows past the cap is refused at that point; the connection is then closed, the rest never read. ``kwargs``
    go to :meth:`httpx.AsyncClient.stream` (``json=...``). Raises TimeoutError past the deadline (however slowly
    the bytes trickle in), :class:`ResponseTooLarge`, and httpx's transport errors.
    """
    async with asyncio.timeout(deadline_s), client.stream(method, url, **kwargs) as response:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise ResponseTooLarge(max_bytes)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise ResponseTooLarge(max_bytes)
        return HttpAnswer(response.status_code, bytes(body), response.request.url.path)


class ApiKeyAuth(httpx.Auth):
    """Adds ``X-Api-Key`` to every request, so the key sits in no header dict that could be logged.

    Used by OctoPrint (per-user application keys) and PrusaLink on a Raspberry Pi / older Buddy firmware.
    """

    def __init__(self, api_key: Secret) -> None:
        self._api_key = api_key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Set the header and send the request once."""
        request.headers["X-Api-Key"] = self._api_key.reveal()
        yield request


class PolledConnectionBase(PrinterConnectionBase):
    """A connection that polls every :attr:`poll_interval_s` seconds; :meth:`_poll_soon` polls at once.

    Every request goes through :meth:`_fetch`: one deadline of ``timeout_s`` seconds for the whole request and
    answer, and a cap of ``max_response_bytes`` on the body.
    """

    timeout_s: float
    max_response_bytes: int

    def _init_polling(self, *, timeout_s: float, max_response_bytes: int) -> None:
        self._poll_now = asyncio.Event()
        self.timeout_s = timeout_s
        self.max_response_bytes = max_response_bytes

    async def _fetch(self, client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> HttpAnswer:
        """One request to the printer through :func:`bounded_request`, failures mapped to offline reasons.

        Raises ConnectionFailed: ``timeout`` when the whole answer is not in within ``timeout_s`` (also when it
        trickles in), ``unreachable`` when no connection can be made or it breaks, ``protocol_error`` when the
        answer is larger than ``max_response_bytes``.
        """
        try:
            return await bounded_request(
                client, method, url, deadline_s=self.timeout_s, max_bytes=self.max_response_bytes, **kwargs
            )
        except ResponseTooLarge as exc:
            self.log.warning(f"{self.kind.value}.answer_too_large", path=url, limit_bytes=exc.limit)
            raise ConnectionFailed(OfflineReason.PROTOCOL_ERROR, f"{url}: {exc}") from None
        except httpx.ConnectTimeout as exc:
            raise ConnectionFailed(OfflineReason.UNREACHABLE, f"no connection within {self.timeout_s / 2:g} s") from exc
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise ConnectionFailed(OfflineReason.TIMEOUT, f"no complete answer within {self.timeout_s:g} s") from exc
        except httpx.ConnectError as exc:
            raise ConnectionFailed(OfflineReason.UNREACHABLE, "connection refused or no route") from exc
        except httpx.DecodingError as exc:
            raise ConnectionFailed(OfflineReason.PROTOCOL_ERROR, f"{url}: body cannot be decoded") from exc
        except httpx.TransportError as exc:
            raise ConnectionFailed(OfflineReason.UNREACHABLE, f"connection lost ({type(exc).__name__})") from exc

    @property
    def poll_interval_s(self) -> float:
        """Seconds between polls: ``config.poll_interval``.

        The monitoring service builds every connection with the effective interval filled in (the printer's own,
        else the global ``monitoring_interval``), so None is seen only when a connection is built from a stored
        configuration directly (a script, a test); it then polls at the default, 5 s.
        """
        interval = self.config.poll_interval
        return DEFAULT_POLL_INTERVAL_S if interval is None else interval

    def _poll_soon(self) -> None:
        """Poll now instead of at the next interval (after a command, so its effect shows at once)."""
        self._poll_now.set()

    async def _wait_for_next_poll(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.poll_interval_s):
                await self._poll_now.wait()
        self._poll_now.clear()
