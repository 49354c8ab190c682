"""A small Spoolman REST client (httpx), from Spoolman's published API description (v0.26.1; research
materials-notifications.md §3): ``GET /api/v1/health``, ``GET /api/v1/spool/{id}``, ``PUT /api/v1/spool/{id}/use``.

Spoolman has no authentication of its own (its boundary is the network); deployments behind a proxy need a base URL
with a path and extra headers (``headers``, sent with every request and never logged). Errors are
:class:`SpoolmanError` with a ``reason``: ``unreachable`` (no connection), ``timeout``, ``server_error`` (5xx),
``not_found`` (404, Spoolman's ``{"message": "No spool with ID 9 found."}``), ``refused`` (another 4xx) or
``protocol_error`` (an answer that is not Spoolman's JSON).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import httpx

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

    async def use(self, spoolman_id: int, grams: float) -> dict[str, Any]:
        """``PUT /spool/{id}/use {"use_weight": grams}``: adds to the spool's use (not idempotent); the spool after."""
        data = await self._call("PUT", f"/spool/{spoolman_id}/use", {"use_weight": round(grams, 2)})
        return data if isinstance(data, dict) else {}
