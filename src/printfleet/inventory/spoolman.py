"""A small Spoolman REST client (httpx), from Spoolman's published API description (v0.26.1; research
materials-notifications.md §3): ``GET /api/v1/health``, ``GET /api/v1/spool/{id}``, ``PUT /api/v1/spool/{id}/use``.

Spoolman has no authentication of its own (its boundary is the network); deployments behind a proxy need a base URL
with a path and extra headers (``headers``, sent with every request and never logged). Errors are
:class:`SpoolmanError` with a ``reason``: ``unreachable`` (no connection), ``timeout``, ``server_error`` (5xx),
``not_found`` (404, Spoolman's ``{"message": "No spool with ID 9 found."}``), ``refused`` (another 4xx) or
``protocol_error`` (an answer that is not Spoolman's JSON).
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal

import httpx
import websockets
import websockets.exceptions

SpoolmanFailure = Literal["unreachable", "timeout", "server_error", "not_found", "refused", "protocol_error"]

MAX_ANSWER_BYTES = 1024 * 1024
"""An answer longer than this (1 MiB) is refused as ``protocol_error``."""


class SpoolmanError(Exception):
    """A request to Spoolman failed; ``reason`` is a :data:`SpoolmanFailure`, ``str()`` a message without headers."""

    def __init__(self, reason: SpoolmanFailure, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class SpoolmanClient:
    """Spoolman at ``base_url`` (``http://host:7912``, or with the path a proxy serves it under). ``timeout``
    seconds per request. Close with :meth:`aclose`."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._headers = dict(headers or {})
        self._timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/api/v1",
            headers=dict(headers or {}),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = await self._http.request(method, path, json=body)
        except httpx.TimeoutException:
            raise SpoolmanError("timeout", f"Spoolman did not answer {method} {path} in time") from None
        except httpx.HTTPError as exc:
            raise SpoolmanError("unreachable", f"cannot reach Spoolman: {type(exc).__name__}") from None
        if len(response.content) > MAX_ANSWER_BYTES:
            raise SpoolmanError("protocol_error", f"Spoolman's answer to {method} {path} is too long")
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
        message = data.get("message") if isinstance(data, dict) and isinstance(data.get("message"), str) else None
        if response.status_code >= 500:
            raise SpoolmanError("server_error", f"Spoolman answered {response.status_code} to {method} {path}")
        if response.status_code == 404:
            raise SpoolmanError("not_found", (message or f"{path} not found")[:200])
        if response.status_code >= 400:
            raise SpoolmanError("refused", f"{response.status_code}: {(message or 'refused')[:200]}")
        if data is None and response.content:
            raise SpoolmanError("protocol_error", f"Spoolman's answer to {method} {path} is not JSON")
        return data

    async def healthy(self) -> bool:
        """Whether Spoolman answers ``GET /health`` with ``{"status": "healthy"}``; never raises."""
        try:
            data = await self._call("GET", "/health")
        except SpoolmanError:
            return False
        return isinstance(data, dict) and data.get("status") == "healthy"

    async def spool(self, spoolman_id: int) -> dict[str, Any]:
        """The spool as Spoolman sends it (``used_weight`` g, ``remaining_weight`` g, ``filament``...)."""
        data = await self._call("GET", f"/spool/{spoolman_id}")
        if not isinstance(data, dict):
            raise SpoolmanError("protocol_error", "a spool is not a JSON object")
        return data

    async def used_weight(self, spoolman_id: int) -> float:
        """The spool's ``used_weight``, grams."""
        value = (await self.spool(spoolman_id)).get("used_weight")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise SpoolmanError("protocol_error", "the spool's used_weight is not a number")
        return float(value)

    async def list_spools(self, *, offset: int = 0, limit: int = 100) -> tuple[list[dict[str, Any]], int]:
        """A page of spools, archived ones too, by id, and how many there are (Spoolman's ``x-total-count``)."""
        params = {"allow_archived": "true", "offset": str(offset), "limit": str(limit), "sort": "id:asc"}
        try:
            response = await self._http.get("/spool", params=params)
        except httpx.TimeoutException:
            raise SpoolmanError("timeout", "Spoolman did not answer GET /spool in time") from None
        except httpx.HTTPError as exc:
            raise SpoolmanError("unreachable", f"cannot reach Spoolman: {type(exc).__name__}") from None
        if response.status_code >= 400:
            reason: SpoolmanFailure = "server_error" if response.status_code >= 500 else "refused"
            raise SpoolmanError(reason, f"Spoolman answered {response.status_code} to GET /spool")
        try:
            data = response.json()
            total = int(response.headers.get("x-total-count", "0"))
        except ValueError:
            raise SpoolmanError("protocol_error", "Spoolman's spool list is not JSON") from None
        if not isinstance(data, list):
            raise SpoolmanError("protocol_error", "Spoolman's spool list is not a list")
        return [item for item in data if isinstance(item, dict)], max(total, len(data))

    async def open_changes(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Connect to the spool change feed (``ws…/api/v1/spool``) and return its frames as ``(type, spool)``
        (``added``, ``updated``, ``deleted``); the iterator ends when the feed closes. Frames that are not Spoolman's
        are skipped. Raises SpoolmanError (``unreachable``) when it cannot connect."""
        url = httpx.URL(str(self._http.base_url).rstrip("/") + "/spool")
        ws_url = str(url.copy_with(scheme="wss" if url.scheme == "https" else "ws"))
        try:
            connection = await websockets.connect(
                ws_url, additional_headers=dict(self._headers), open_timeout=self._timeout, max_size=MAX_ANSWER_BYTES
            )
        except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
            raise SpoolmanError("unreachable", f"cannot open Spoolman's change feed: {type(exc).__name__}") from None

        async def frames() -> AsyncIterator[tuple[str, dict[str, Any]]]:
            try:
                async for message in connection:
                    try:
                        frame = json.loads(message)
                    except ValueError:
                        continue
                    if not isinstance(frame, dict) or not isinstance(frame.get("payload"), dict):
                        continue  # a {"status": "healthy"} answer to a ping
                    kind = frame.get("type")
                    if kind in ("added", "updated", "deleted"):
                        yield str(kind), frame["payload"]
            except websockets.exceptions.WebSocketException:
                return
            finally:
                await connection.close()

        return frames()

    async def use(self, spoolman_id: int, grams: float) -> dict[str, Any]:
        """``PUT /spool/{id}/use {"use_weight": grams}``: adds to the spool's use (not idempotent); the spool after."""
        data = await self._call("PUT", f"/spool/{spoolman_id}/use", {"use_weight": round(grams, 2)})
        return data if isinstance(data, dict) else {}
