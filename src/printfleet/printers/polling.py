"""What the polled HTTP adapters (PrusaLink, OctoPrint) share: API-key auth and the poll timer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator

import httpx

from printfleet.domain.printer import DEFAULT_POLL_INTERVAL_S, Secret
from printfleet.printers.base import PrinterConnectionBase


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
    """A connection that polls every :attr:`poll_interval_s` seconds; :meth:`_poll_soon` polls at once."""

    def _init_polling(self) -> None:
        self._poll_now = asyncio.Event()

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
