"""The Etsy Open API v3 client: the seller's identity, receipts since a watermark, tracking write-back.

Protocol facts (Etsy's document operations ``getMe``, ``ping``, ``getShopReceipts``, ``getShopReceipt``,
``createReceiptShipment``; research dispatch-scheduling-orders.md 4.1-4.8):

- Every request sends ``x-api-key: <keystring>:<shared_secret>`` and ``Authorization: Bearer <access token>``.
- The access token lives 3600 s; it is refreshed 5 minutes before it expires and once more when a request is
  answered 401 ``invalid_token``. The rotated refresh token is saved through :class:`TokenStore` before the new
  access token is used (the old one is dead the moment Etsy answers). ``invalid_grant`` means the seller must
  connect again (:class:`EtsyReconnectNeeded`).
- 429: wait ``Retry-After`` seconds when Etsy sends it, else exponential backoff with jitter (1 s doubling, capped
  at 30 s), at most 6 times and 120 s in all per request; then :class:`EtsyRateLimited`. Successful answers carry
  ``x-limit-per-second``, ``x-remaining-this-second``, ``x-limit-per-day``, ``x-remaining-today``
  (:attr:`EtsyClient.rate_limits`).
- Incremental sync: ``getShopReceipts?min_last_modified=<watermark - overlap>&sort_on=updated&sort_order=asc
  &limit=100&offset=…`` until a page shorter than 100 (research 4.6). A receipt changed while the pages are read
  moves to the end and is read again; the client yields it again only when its ``update_timestamp`` is newer.

Secrets (the shared secret, the tokens) are :class:`~printfleet.domain.printer.Secret` and never logged.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Protocol

import httpx
import structlog

from printfleet.domain.orders.model import IncomingOrder
from printfleet.domain.printer import Secret
from printfleet.shops.etsy.errors import (
    EtsyError,
    EtsyRateLimited,
    EtsyReconnectNeeded,
    EtsyUnavailable,
    error_texts,
)
from printfleet.shops.etsy.mapping import EtsyReceiptMalformed, receipt_to_order
from printfleet.shops.etsy.oauth import ETSY_API_URL, ETSY_TOKEN_URL, EtsyTokens, refresh_tokens

log = structlog.get_logger("printfleet.shops.etsy")

PAGE_SIZE = 100
"""``getShopReceipts``' largest ``limit``."""

MIN_TIMESTAMP = 946684800
"""The document's ``minimum`` for ``min_last_modified`` (2000-01-01)."""

DEFAULT_OVERLAP = timedelta(minutes=10)
"""How far before the watermark a poll starts again, for changes Etsy reports late."""


class TokenStore(Protocol):
    """Where a seller's tokens live (the service layer keeps them in the database, encrypted)."""

    async def load(self) -> EtsyTokens | None:
        """The stored tokens, or None when the shop was never connected."""
        ...

    async def save(self, tokens: EtsyTokens) -> None:
        """Store ``tokens`` durably (they replace the previous ones, whose refresh token is already dead)."""
        ...


class MemoryTokenStore:
    """A :class:`TokenStore` in memory, for tests and the demo. ``saved`` lists every save, oldest first."""

    def __init__(self, tokens: EtsyTokens | None = None) -> None:
        self.tokens = tokens
        self.saved: list[EtsyTokens] = []

    async def load(self) -> EtsyTokens | None:
        """The last saved tokens."""
        return self.tokens

    async def save(self, tokens: EtsyTokens) -> None:
        """Keep ``tokens``."""
        self.tokens = tokens
        self.saved.append(tokens)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Etsy's rate-limit headers of the last successful answer (requests; None when a header was absent)."""

    per_second: int | None
    remaining_this_second: int | None
    per_day: int | None
    remaining_today: int | None

    @classmethod
    def from_headers(cls, headers: httpx.Headers) -> RateLimits | None:
        """The four ``x-limit-*``/``x-remaining-*`` headers, or None when none is present."""
        values = [
            _header_int(headers, name)
            for name in ("x-limit-per-second", "x-remaining-this-second", "x-limit-per-day", "x-remaining-today")
        ]
        return None if all(value is None for value in values) else cls(*values)


def _header_int(headers: httpx.Headers, name: str) -> int | None:
    raw = headers.get(name)
    try:
        return None if raw is None else int(raw)
    except ValueError:
        return None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class EtsyClient:
    """One seller's shop on Etsy, over ``http`` (an :class:`httpx.AsyncClient`; one is made and closed by
    :meth:`aclose` when None).

    ``base_url`` is the API host (``https://openapi.etsy.com``), ``token_url`` the token endpoint; ``keystring``
    and ``shared_secret`` the app's key; ``tokens`` where the seller's tokens are loaded and saved. ``clock`` gives
    aware UTC now; ``sleep`` waits seconds (both replaceable in tests). ``refresh_margin`` is how long before
    expiry the access token is refreshed. 429 handling: ``max_rate_limit_retries`` retries and
    ``max_rate_limit_wait_s`` seconds of waiting per request, backoff from ``backoff_initial_s`` doubling up to
    ``backoff_max_s`` seconds when Etsy sends no ``Retry-After``.

    ``skipped_receipts`` counts receipts that could not be mapped (logged with their id and field, then skipped).
    """

    def __init__(
        self,
        *,
        keystring: str,
        shared_secret: Secret,
        tokens: TokenStore,
        base_url: str = ETSY_API_URL,
        token_url: str = ETSY_TOKEN_URL,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] = _utcnow,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        refresh_margin: timedelta = timedelta(minutes=5),
        max_rate_limit_retries: int = 6,
        max_rate_limit_wait_s: float = 120.0,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
        rng: random.Random | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self._keystring = keystring
        self._shared_secret = shared_secret
        self._store = tokens
        self._base_url = base_url.rstrip("/")
        self._token_url = token_url
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout_s)
        self._clock = clock
        self._sleep = sleep
        self._refresh_margin = refresh_margin
        self._max_retries = max_rate_limit_retries
        self._max_wait_s = max_rate_limit_wait_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._rng = rng or random.Random()
        self._tokens: EtsyTokens | None = None
        self._refresh_lock = asyncio.Lock()
        self.rate_limits: RateLimits | None = None
        self.skipped_receipts = 0

    def __repr__(self) -> str:
        return f"EtsyClient(base_url={self._base_url!r}, keystring={self._keystring!r})"

    async def aclose(self) -> None:
        """Close the HTTP client when this client made it."""
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> EtsyClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- operations ------------------------------------------------------------------------------------------------

    async def ping(self) -> int:
        """Check the app's key (``GET /v3/application/openapi-ping``, no token needed); returns the application id.
        Raises :class:`EtsyError` (403 for a bad key)."""
        response = await self._send("GET", "/v3/application/openapi-ping", action="ping", authorised=False)
        return _positive_int(_json_object(response, "ping"), "application_id", "ping")

    async def me(self) -> tuple[int, int]:
        """``(user_id, shop_id)`` of the connected seller (``getMe``, scope ``shops_r``)."""
        body = _json_object(await self._send("GET", "/v3/application/users/me", action="read the seller"), "getMe")
        return _positive_int(body, "user_id", "getMe"), _positive_int(body, "shop_id", "getMe")

    async def receipts_since(
        self, shop_id: int, *, watermark: datetime | None, overlap: timedelta = DEFAULT_OVERLAP
    ) -> AsyncIterator[IncomingOrder]:
        """The shop's receipts changed at or after ``watermark - overlap`` (every receipt when ``watermark`` is
        None), oldest change first, as :class:`IncomingOrder` (``getShopReceipts``, scope ``transactions_r``).
        The caller advances its watermark to the largest ``updated_at`` it has stored. Malformed receipts are
        logged and skipped (:attr:`skipped_receipts`). Raises :class:`EtsyError` subclasses as :meth:`_send`."""
        params: dict[str, str | int] = {"sort_on": "updated", "sort_order": "asc", "limit": PAGE_SIZE}
        if watermark is not None:
            params["min_last_modified"] = max(MIN_TIMESTAMP, math.floor((watermark - overlap).timestamp()))
        path = f"/v3/application/shops/{shop_id}/receipts"
        yielded: dict[str, datetime | None] = {}
        offset = 0
        while True:
            response = await self._send("GET", path, params={**params, "offset": offset}, action="list receipts")
            results = _json_object(response, "getShopReceipts").get("results")
            if not isinstance(results, list):
                raise EtsyError("Etsy's receipts answer has no results list", status=response.status_code)
            for raw in results:
                order = self._map(raw)
                if order is None or order.external_id is None:
                    continue
                if order.external_id in yielded and not _newer(order.updated_at, yielded[order.external_id]):
                    continue  # the same version again, on the next page after an earlier receipt changed
                yielded[order.external_id] = order.updated_at
                yield order
            if len(results) < PAGE_SIZE:
                return
            offset += len(results)

    async def receipt(self, shop_id: int, receipt_id: int) -> IncomingOrder:
        """One receipt (``getShopReceipt``, scope ``transactions_r``); raises :class:`EtsyReceiptMalformed` when it
        cannot be mapped, :class:`EtsyError` with status 404 when unknown."""
        response = await self._send(
            "GET", f"/v3/application/shops/{shop_id}/receipts/{receipt_id}", action="read a receipt"
        )
        return receipt_to_order(_json_object(response, "getShopReceipt"))

    async def create_shipment(self, shop_id: int, receipt_id: int, *, tracking_code: str, carrier: str) -> None:
        """Tell Etsy the receipt shipped with ``tracking_code`` by ``carrier`` (``createReceiptShipment``, form
        ``tracking_code``, ``carrier_name``; scope ``transactions_w``). Etsy emails the buyer each time. Raises
        :class:`EtsyError` (409 when Etsy refuses it in the receipt's state, e.g. already submitted)."""
        await self._send(
            "POST",
            f"/v3/application/shops/{shop_id}/receipts/{receipt_id}/tracking",
            data={"tracking_code": tracking_code, "carrier_name": carrier},
            action="add tracking",
        )

    # -- plumbing --------------------------------------------------------------------------------------------------

    def _map(self, raw: object) -> IncomingOrder | None:
        try:
            if not isinstance(raw, Mapping):
                raise EtsyReceiptMalformed(None, "receipt", "is not an object")
            return receipt_to_order(raw)
        except EtsyReceiptMalformed as exc:
            self.skipped_receipts += 1
            log.warning("etsy.receipt_skipped", receipt_id=exc.receipt_id, field=exc.field, problem=str(exc))
            return None

    async def _send(
        self,
        method: str,
        path: str,
        *,
        action: str,
        params: Mapping[str, str | int] | None = None,
        data: Mapping[str, str] | None = None,
        authorised: bool = True,
    ) -> httpx.Response:
        """One request with the key, the access token, one refresh on 401 ``invalid_token`` and 429 retries.
        Raises :class:`EtsyReconnectNeeded`, :class:`EtsyRateLimited`, :class:`EtsyUnavailable` or
        :class:`EtsyError` (any other 4xx/5xx, with Etsy's ``error`` text)."""
        refreshed = False
        limited = 0
        waited_s = 0.0
        while True:
            headers = {"x-api-key": f"{self._keystring}:{self._shared_secret.reveal()}", "accept": "application/json"}
            tokens = await self._current_tokens() if authorised else None
            if tokens is not None:
                headers["authorization"] = f"Bearer {tokens.access_token.reveal()}"
            try:
                response = await self._http.request(
                    method, self._base_url + path, params=params, data=data, headers=headers
                )
            except httpx.HTTPError as exc:
                raise EtsyUnavailable(f"Etsy did not answer ({action}): {type(exc).__name__}") from None
            if response.status_code == 429:
                retry_after = self._retry_after_s(response)
                delay = retry_after if retry_after is not None else self._backoff_s(limited)
                limited += 1
                if limited > self._max_retries or waited_s + delay > self._max_wait_s:
                    raise EtsyRateLimited(
                        f"Etsy is rate-limiting requests ({action}): {limited} answers 429, {waited_s:.1f} s waited",
                        retry_after_s=retry_after,
                    )
                log.info("etsy.rate_limited", action=action, delay_s=round(delay, 3), retry_after=retry_after)
                await self._sleep(delay)
                waited_s += delay
                continue
            expired = response.status_code == 401 and error_texts(response)[0] == "invalid_token"
            if expired and tokens is not None and not refreshed:
                refreshed = True
                await self._refresh(tokens)
                continue
            if not response.is_success:
                raise EtsyError.from_response(response, action=action)
            self.rate_limits = RateLimits.from_headers(response.headers) or self.rate_limits
            return response

    def _retry_after_s(self, response: httpx.Response) -> float | None:
        """``Retry-After`` in seconds (delta-seconds or an HTTP date, RFC 9110 10.2.3); None when absent or
        unreadable."""
        raw = response.headers.get("retry-after")
        if raw is None:
            return None
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - self._clock()).total_seconds())

    def _backoff_s(self, attempt: int) -> float:
        """Full-jitter exponential backoff: uniform in [c/2, c] with c = initial·2^attempt capped (seconds)."""
        ceiling = min(self._backoff_max_s, self._backoff_initial_s * 2**attempt)
        return self._rng.uniform(ceiling / 2, ceiling)

    async def _current_tokens(self) -> EtsyTokens:
        tokens = self._tokens
        if tokens is None:
            tokens = await self._store.load()
            if tokens is None:
                raise EtsyReconnectNeeded("No Etsy tokens are stored; connect the shop", error="no_tokens")
            self._tokens = tokens
        if tokens.expires_at - self._refresh_margin <= self._clock():
            tokens = await self._refresh(tokens)
        return tokens

    async def _refresh(self, stale: EtsyTokens) -> EtsyTokens:
        """Refresh once for everyone holding ``stale``; save the rotated pair before returning it."""
        async with self._refresh_lock:
            current = self._tokens
            if current is not None and current.refresh_token != stale.refresh_token:
                return current  # another request refreshed while this one waited for the lock
            try:
                fresh = await refresh_tokens(
                    self._http,
                    token_url=self._token_url,
                    keystring=self._keystring,
                    shared_secret=self._shared_secret,
                    tokens=stale,
                    now=self._clock(),
                )
            except EtsyReconnectNeeded:
                # Another process sharing the store may have rotated the token first: use what it saved.
                stored = await self._store.load()
                if stored is not None and stored.refresh_token != stale.refresh_token:
                    self._tokens = stored
                    return stored
                log.warning("etsy.reconnect_needed")
                raise
            await self._store.save(fresh)
            self._tokens = fresh
            log.info("etsy.tokens_refreshed", expires_at=fresh.expires_at.isoformat())
            return fresh


def _newer(stamp: datetime | None, before: datetime | None) -> bool:
    return stamp is not None and (before is None or stamp > before)


def _json_object(response: httpx.Response, operation: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise EtsyError(f"Etsy's {operation} answer is not JSON", status=response.status_code) from None
    if not isinstance(body, dict):
        raise EtsyError(f"Etsy's {operation} answer is not a JSON object", status=response.status_code)
    return body


def _positive_int(body: Mapping[str, Any], name: str, operation: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise EtsyError(f"Etsy's {operation} answer has no valid {name}")
    return value
