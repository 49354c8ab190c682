"""JSON-RPC 2.0 calls over one Moonraker websocket: ids, pending answers, client-side deadlines.

Sources: Moonraker ``docs/external_api/introduction.md`` ("JSON-RPC API Overview": requests carry an ``id``, answers
``result`` or ``error {code, message}`` with HTTP codes reused). Moonraker never times out a call it forwards to
Klippy (research moonraker-auth-scale.md A1), so every call here has its own deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import websockets

from printfleet.aio import within
from printfleet.domain.printer import OfflineReason
from printfleet.printers.base import ConnectionFailed

Handler = Callable[[object], Awaitable[None]]
"""``await handler(result)``: run by the reader with a call's result before it reads the next frame."""


class MoonrakerRpcError(Exception):
    """Moonraker answered a call with a JSON-RPC error: ``code`` (HTTP status reused) and ``message``."""

    def __init__(self, code: object, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class RpcChannel:
    """The calls in flight on one websocket (``socket``: anything with ``async send(str)``).

    The connection's reader hands every answer frame to :meth:`answer`; :meth:`close` fails what is still pending.
    """

    def __init__(self, socket: Any, *, timeout_s: float) -> None:
        self.socket = socket
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[asyncio.Future[object], Handler | None]] = {}

    async def call(self, method: str, params: Mapping[str, object], *, on_result: Handler | None = None) -> Any:
        """One call; its result. ``on_result`` is awaited with the result by the reader, before it reads the next
        frame (so a delta right behind a full status builds on it). Raises MoonrakerRpcError (refused),
        ConnectionFailed (API key refused → ``auth_failed``, no answer within ``timeout_s`` seconds → ``timeout``,
        closed → ``unreachable``, or whatever ``on_result`` raised)."""
        call_id = next(self._ids)
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = (future, on_result)
        try:
            frame = json.dumps({"jsonrpc": "2.0", "method": method, "params": dict(params), "id": call_id})
            await self.socket.send(frame)
            return await within(future, self.timeout_s)
        except TimeoutError:
            raise ConnectionFailed(OfflineReason.TIMEOUT, f"{method}: no answer in {self.timeout_s:g} s") from None
        except websockets.ConnectionClosed:
            raise ConnectionFailed(OfflineReason.UNREACHABLE, f"{method}: connection closed") from None
        except MoonrakerRpcError as exc:
            text = exc.message.lower()
            if exc.code in (401, 403, -32602) and ("unauthorized" in text or "api key" in text):
                detail = f"Moonraker refused the API key ({exc.code})"
                raise ConnectionFailed(OfflineReason.AUTH_FAILED, detail) from None
            raise
        finally:
            self._pending.pop(call_id, None)

    async def answer(self, message: Mapping[str, object]) -> None:
        """Settle the call ``message`` answers (an unknown or late id is ignored)."""
        call_id = message.get("id")
        entry = self._pending.pop(call_id, None) if isinstance(call_id, int) else None
        if entry is None or entry[0].done():
            return
        future, handler = entry
        error = message.get("error")
        if isinstance(error, Mapping):
            future.set_exception(MoonrakerRpcError(error.get("code"), str(error.get("message", ""))[:500]))
            return
        result = message.get("result")
        if handler is not None:
            try:
                await handler(result)
            except ConnectionFailed as exc:
                future.set_exception(exc)
                return
        future.set_result(result)

    def close(self) -> None:
        """Fail every call still waiting (``unreachable``)."""
        for future, _handler in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionFailed(OfflineReason.UNREACHABLE, "connection closed"))
        self._pending.clear()
