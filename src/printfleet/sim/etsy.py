"""An Etsy Open API v3 stand-in on a loopback port: OAuth (Authorization Code + PKCE), receipts, shipments.

It follows Etsy's published API document (``getShopReceipts``, ``getShopReceipt``, ``createReceiptShipment``,
``getMe``, ``ping``, the token endpoint) and research dispatch-scheduling-orders.md section 4:

- Every request except the browser's authorize page must carry ``x-api-key: <keystring>:<shared_secret>``: a bare
  keystring is a 403 ``{"error": "Shared secret is required in x-api-key header."}``, anything else malformed a
  403 ``{"error": "Invalid API key: should be in the format 'keystring:shared_secret'."}`` (research 4.1). A
  well-formed key with a wrong keystring or secret is a 403 ``{"error": "Invalid API key"}`` (our wording; Etsy's
  is not recorded), a missing header a 401 (the document's "Missing or invalid API key.").
- ``GET /oauth/connect`` checks ``response_type=code``, ``client_id``, an ``https`` ``redirect_uri``, ``scope``,
  ``state``, ``code_challenge`` with ``code_challenge_method=S256``, approves at once and redirects (302) to
  ``redirect_uri?code=…&state=…``. ``POST /v3/public/oauth/token`` takes ``grant_type=authorization_code``
  (``client_id`` = the bare keystring, ``redirect_uri``, ``code``, ``code_verifier``; the code is single-use) and
  ``grant_type=refresh_token``; each refresh returns a new refresh token and revokes the one used, whose reuse is a
  400 ``{"error": "invalid_grant", "error_description": "refresh_token is revoked"}`` (research 4.2). Tokens are
  ``"<user_id>.<random>"``; an expired access token is a 401 ``{"error": "invalid_token", "error_description":
  "access token is expired"}``.
- Application errors use the document's ``ErrorSchema`` ``{"error": …}``; a token without the operation's scope is a
  403 (``transactions_r`` to read receipts, ``transactions_w`` to add tracking, ``shops_r`` for ``getMe``).
- Successful responses carry ``x-limit-per-second``, ``x-remaining-this-second``, ``x-limit-per-day``,
  ``x-remaining-today`` (research 4.7). Failures are injected with :meth:`EtsyStandIn.fail_next` (429 with or
  without ``Retry-After``), :meth:`EtsyStandIn.fail_next_refresh` (500 on the token endpoint, research 4.2:
  etsy/open-api#549) and :meth:`EtsyStandIn.exhaust_daily_limit`.

Usage::

    async with EtsyStandIn() as etsy:
        etsy.seed_demo(datetime.now(UTC))
        tokens = etsy.issue_tokens()          # a token response without the browser round trip
        ...  # EtsyClient(base_url=etsy.url, token_url=etsy.token_url, keystring=etsy.keystring, ...)

Times are epoch seconds from ``clock`` (``time.time`` by default).
"""

from __future__ import annotations

import copy
import hmac
import itertools
import secrets
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from printfleet.sim.etsy_oauth import EtsyAuthority, oauth_error, s256
from printfleet.sim.etsy_receipts import (
    RECEIPT_STATUSES,
    Receipt,
    ReceiptBook,
    money,
    personalisation,
    receipt_query,
    transaction,
    variation,
)
from printfleet.sim.http_server import LoopbackHttpServer

Handler = Callable[[Request], Awaitable[Response]]

ALL_SCOPES = ("transactions_r", "transactions_w", "shops_r", "listings_r")
"""The scopes printfleet asks for (research 4.2)."""


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The document's ``ErrorSchema`` body."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request the stand-in answered: ``method``, ``path``, ``query`` and the bearer token it carried."""

    method: str
    path: str
    query: dict[str, str]
    bearer: str | None
    status: int


@dataclass
class _Failures:
    rate_limited: int = 0
    retry_after_s: int | None = None
    refresh_failures: int = 0
    refresh_status: int = 500
    daily_exhausted: bool = False
    daily_retry_after_s: int | None = None


@dataclass
class _Usage:
    second: int = 0
    this_second: int = 0
    today: int = 0
    log: list[LoggedRequest] = field(default_factory=list)


class EtsyStandIn:
    """Etsy's API for one seller (``user_id``, ``shop_id``) and one app (``keystring``, ``shared_secret``).

    ``redirect_uris`` are the app's registered redirect URIs (None: any ``https`` URI). ``expires_in_s`` is the
    access tokens' lifetime in seconds (Etsy: 3600). ``limit_per_second``/``limit_per_day`` are reported in the
    rate-limit headers; with ``enforce_limits`` going over them answers 429. ``port=None`` lets the OS choose.
    """

    def __init__(
        self,
        *,
        keystring: str | None = None,
        shared_secret: str | None = None,
        user_id: int = 84_512_377,
        shop_id: int = 31_055_402,
        application_id: int = 1_237_654,
        redirect_uris: Collection[str] | None = None,
        expires_in_s: int = 3600,
        limit_per_second: int = 10,
        limit_per_day: int = 10_000,
        enforce_limits: bool = False,
        clock: Callable[[], float] = time.time,
        port: int | None = None,
    ) -> None:
        self.keystring = keystring or secrets.token_hex(12)
        self.shared_secret = shared_secret or secrets.token_hex(5)
        self.user_id = user_id
        self.shop_id = shop_id
        self.application_id = application_id
        self.limit_per_second = limit_per_second
        self.limit_per_day = limit_per_day
        self.enforce_limits = enforce_limits
        self.clock = clock
        self.receipts = ReceiptBook()
        self.authority = EtsyAuthority(
            keystring=self.keystring,
            user_id=user_id,
            redirect_uris=redirect_uris,
            expires_in_s=expires_in_s,
            clock=clock,
        )
        self._failures = _Failures()
        self._usage = _Usage()
        self._ids = itertools.count(3_100_000_001)
        self._transaction_ids = itertools.count(4_200_000_001)
        self._shipment_ids = itertools.count(900_001)
        self._server = LoopbackHttpServer(self._app(), port=port)

    # -- network -------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the API base (Etsy's ``https://openapi.etsy.com``)."""
        return self._server.url

    @property
    def token_url(self) -> str:
        """The token endpoint (Etsy's ``https://api.etsy.com/v3/public/oauth/token``)."""
        return f"{self.url}/v3/public/oauth/token"

    @property
    def authorize_url(self) -> str:
        """The authorize page (Etsy's ``https://www.etsy.com/oauth/connect``)."""
        return f"{self.url}/oauth/connect"

    @property
    def api_key(self) -> str:
        """The ``x-api-key`` value: ``keystring:shared_secret``."""
        return f"{self.keystring}:{self.shared_secret}"

    async def start(self) -> None:
        """Start serving; returns once the port accepts connections."""
        await self._server.start()

    async def stop(self) -> None:
        """Stop serving."""
        await self._server.stop()

    async def __aenter__(self) -> EtsyStandIn:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def request_log(self) -> list[LoggedRequest]:
        """Every answered request, oldest first."""
        return self._usage.log

    # -- tokens ----------------------------------------------------------------------------------------------------

    def issue_tokens(self, scopes: Sequence[str] = ALL_SCOPES) -> dict[str, Any]:
        """A token response (``access_token``, ``token_type``, ``expires_in``, ``refresh_token``) as if the seller
        had just approved ``scopes``: for tests that do not walk the authorize page."""
        return self.authority.issue(frozenset(scopes))

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expired now (refresh tokens stay valid)."""
        self.authority.expire_access_tokens()

    def revoke_all_tokens(self) -> None:
        """Revoke every token, as a seller's password change does (etsy/open-api#519)."""
        self.authority.revoke_all()

    # -- failures --------------------------------------------------------------------------------------------------

    def fail_next(self, count: int, *, retry_after_s: int | None = None) -> None:
        """Answer the next ``count`` API requests (``/v3/application/…``) with 429, with ``Retry-After:
        retry_after_s`` (seconds) or without the header when None."""
        self._failures.rate_limited = count
        self._failures.retry_after_s = retry_after_s

    def fail_next_refresh(self, count: int = 1, *, status: int = 500) -> None:
        """Answer the next ``count`` refresh-token grants with ``status`` before looking at them (the refresh token
        stays valid), as etsy/open-api#549 reports."""
        self._failures.refresh_failures = count
        self._failures.refresh_status = status

    def exhaust_daily_limit(self, *, retry_after_s: int | None = None, exhausted: bool = True) -> None:
        """Answer every API request with 429 (quota for the day used up) until called with ``exhausted=False``."""
        self._failures.daily_exhausted = exhausted
        self._failures.daily_retry_after_s = retry_after_s

    # -- receipts --------------------------------------------------------------------------------------------------

    def add_receipt(
        self,
        *,
        transactions: Sequence[dict[str, Any]],
        name: str = "Ada Lovelace",
        status: str = "paid",
        is_paid: bool = True,
        is_shipped: bool = False,
        created: int | None = None,
        updated: int | None = None,
        receipt_id: int | None = None,
        **fields: Any,
    ) -> Receipt:
        """Add a receipt and return a copy of it. ``transactions`` come from :func:`transaction` (ids and times are
        filled in here); ``created``/``updated`` epoch seconds (default now); ``fields`` override any other
        ``ShopReceipt`` field, also into shapes Etsy would never send (for malformed-receipt tests)."""
        now = int(self.clock())
        created = now if created is None else created
        updated = created if updated is None else updated
        receipt_id = next(self._ids) if receipt_id is None else receipt_id
        buyer_user_id = 70_000_000 + receipt_id % 1_000_000
        lines = [
            {
                **line,
                "transaction_id": line.get("transaction_id", next(self._transaction_ids)),
                "receipt_id": receipt_id,
                "seller_user_id": self.user_id,
                "buyer_user_id": buyer_user_id,
                "create_timestamp": created,
                "created_timestamp": created,
                "paid_timestamp": created if is_paid else None,
                "shipped_timestamp": None,
            }
            for line in transactions
        ]
        subtotal = sum(_cents(line.get("price")) * _int(line.get("quantity")) for line in lines)
        receipt: Receipt = {
            "receipt_id": receipt_id,
            "receipt_type": 0,
            "seller_user_id": self.user_id,
            "seller_email": None,
            "buyer_user_id": buyer_user_id,
            "buyer_email": None,
            "name": name,
            "first_line": None,
            "second_line": None,
            "city": None,
            "state": None,
            "zip": None,
            "status": status,
            "formatted_address": None,
            "country_iso": "US",
            "payment_method": "cc",
            "payment_email": None,
            "message_from_seller": None,
            "message_from_buyer": None,
            "message_from_payment": None,
            "is_paid": is_paid,
            "is_shipped": is_shipped,
            "create_timestamp": created,
            "created_timestamp": created,
            "update_timestamp": updated,
            "updated_timestamp": updated,
            "is_gift": False,
            "gift_message": "",
            "gift_sender": "",
            "grandtotal": money(subtotal),
            "subtotal": money(subtotal),
            "total_price": money(subtotal),
            "total_shipping_cost": money(0),
            "total_tax_cost": money(0),
            "total_vat_cost": money(0),
            "discount_amt": money(0),
            "gift_wrap_price": money(0),
            "shipments": [],
            "transactions": lines,
            "refunds": [],
        }
        receipt.update(fields)
        self.receipts.put(receipt)
        return copy.deepcopy(receipt)

    def change_receipt(self, receipt_id: int, *, updated: int | None = None, **fields: Any) -> Receipt:
        """Change fields of a receipt (``status="canceled"``, ``is_shipped=True``, …) and bump its
        ``update_timestamp`` to ``updated`` (default: now, and always after its previous value); returns a copy.
        Raises KeyError for an unknown receipt."""
        receipt = copy.deepcopy(self._receipt(receipt_id))
        receipt.update(fields)
        self._touch(receipt, updated)
        self.receipts.put(receipt)
        return copy.deepcopy(receipt)

    def receipt(self, receipt_id: int) -> Receipt:
        """A copy of the stored receipt; KeyError when unknown."""
        return copy.deepcopy(self._receipt(receipt_id))

    def _receipt(self, receipt_id: int) -> Receipt:
        receipt = self.receipts.get(receipt_id)
        if receipt is None:
            raise KeyError(receipt_id)
        return receipt

    def _touch(self, receipt: Receipt, updated: int | None) -> None:
        stamp = max(int(self.clock()), int(receipt["update_timestamp"]) + 1) if updated is None else updated
        receipt["update_timestamp"] = receipt["updated_timestamp"] = stamp

    def seed_demo(self, now: datetime) -> list[Receipt]:
        """Add three paid, unshipped receipts from the hours before ``now`` (aware): a keychain in two variations,
        quantity 7; a personalised name tag; a plain vase. Returns copies of them."""
        at = int(now.timestamp())
        day = 86_400
        return [
            self.add_receipt(
                name="Grace Hopper",
                created=at - 3 * 3600,
                transactions=[
                    transaction(
                        title="Custom keychain, 3D printed PLA",
                        quantity=7,
                        listing_id=1_462_850_311,
                        sku="KEY-STAR",
                        price=650,
                        variations=[
                            variation("Color", "Galaxy Black"),
                            variation("Pack", "Gift &amp; box", property_id=514),
                        ],
                        expected_ship_date=at + 2 * day,
                    )
                ],
            ),
            self.add_receipt(
                name="Ada Lovelace",
                created=at - 2 * 3600,
                transactions=[
                    transaction(
                        title="Personalised name tag",
                        listing_id=1_462_850_312,
                        sku="TAG-NAME",
                        price=900,
                        variations=[variation("Color", "Signal Red"), personalisation("Ada &amp; Byron")],
                        expected_ship_date=at + 3 * day,
                    )
                ],
            ),
            self.add_receipt(
                name="Hedy Lamarr",
                created=at - 3600,
                transactions=[
                    transaction(
                        title="Spiral vase, 20 cm",
                        listing_id=1_462_850_313,
                        price=2400,
                        variations=[personalisation("Not requested on this item.")],
                        expected_ship_date=None,
                        max_processing_days=5,
                    )
                ],
            ),
        ]

    # -- HTTP ------------------------------------------------------------------------------------------------------

    def _app(self) -> Starlette:
        base = "/v3/application"
        shop = base + "/shops/{shop_id:int}"
        return Starlette(
            routes=[
                Route("/oauth/connect", self._authorize, methods=["GET"]),
                Route("/v3/public/oauth/token", self._logged(self._token), methods=["POST"]),
                Route(base + "/openapi-ping", self._api(self._ping, scope=None), methods=["GET"]),
                Route(base + "/users/me", self._api(self._me, scope="shops_r"), methods=["GET"]),
                Route(shop + "/receipts", self._api(self._list_receipts, scope="transactions_r"), methods=["GET"]),
                Route(
                    shop + "/receipts/{receipt_id:int}",
                    self._api(self._get_receipt, scope="transactions_r"),
                    methods=["GET"],
                ),
                Route(
                    shop + "/receipts/{receipt_id:int}/tracking",
                    self._api(self._create_shipment, scope="transactions_w"),
                    methods=["POST"],
                ),
            ]
        )

    def _key_problem(self, request: Request) -> JSONResponse | None:
        key = request.headers.get("x-api-key")
        if key is None:
            return _error(401, "Missing API key")
        if ":" not in key:
            return _error(403, "Shared secret is required in x-api-key header.")
        keystring, _, secret = key.partition(":")
        if not keystring or not secret or ":" in secret:
            return _error(403, "Invalid API key: should be in the format 'keystring:shared_secret'.")
        if not (hmac.compare_digest(keystring, self.keystring) and hmac.compare_digest(secret, self.shared_secret)):
            return _error(403, "Invalid API key")
        return None

    def _count(self) -> None:
        second = int(self.clock())
        if second != self._usage.second:
            self._usage.second, self._usage.this_second = second, 0
        self._usage.this_second += 1
        self._usage.today += 1

    def _limit_headers(self) -> dict[str, str]:
        return {
            "x-limit-per-second": str(self.limit_per_second),
            "x-remaining-this-second": str(max(0, self.limit_per_second - self._usage.this_second)),
            "x-limit-per-day": str(self.limit_per_day),
            "x-remaining-today": str(max(0, self.limit_per_day - self._usage.today)),
        }

    def _rate_problem(self) -> JSONResponse | None:
        failures = self._failures
        if failures.daily_exhausted:
            return _retry_later("You have exceeded your quota of requests for the day.", failures.daily_retry_after_s)
        if failures.rate_limited > 0:
            failures.rate_limited -= 1
            return _retry_later("Too many requests.", failures.retry_after_s)
        if self.enforce_limits:
            if self._usage.today > self.limit_per_day:
                return _retry_later("You have exceeded your quota of requests for the day.", None)
            if self._usage.this_second > self.limit_per_second:
                return _retry_later("Too many requests.", 1)
        return None

    def _bearer(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def _logged(self, handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            response = await handler(request)
            self._usage.log.append(
                LoggedRequest(
                    request.method,
                    request.url.path,
                    dict(request.query_params),
                    self._bearer(request),
                    response.status_code,
                )
            )
            return response

        return run

    def _api(self, handler: Handler, *, scope: str | None) -> Handler:
        async def guarded(request: Request) -> Response:
            problem = self._key_problem(request)
            if problem is not None:
                return problem
            self._count()
            problem = self._rate_problem()
            if problem is not None:
                return problem
            if scope is not None:
                problem = self.authority.token_problem(self._bearer(request), scope)
                if problem is not None:
                    return problem
            response = await handler(request)
            if response.status_code < 400:
                response.headers.update(self._limit_headers())
            return response

        return self._logged(guarded)

    async def _authorize(self, request: Request) -> Response:
        return self.authority.authorize(request.query_params)

    async def _token(self, request: Request) -> Response:
        problem = self._key_problem(request)
        if problem is not None:
            return problem
        form = {key: str(value) for key, value in (await request.form()).items()}
        if form.get("grant_type") == "refresh_token" and self._failures.refresh_failures > 0:
            self._failures.refresh_failures -= 1
            return oauth_error(self._failures.refresh_status, "server_error", "please try again")
        answer = self.authority.grant(form)
        if isinstance(answer, Response):
            return answer
        return JSONResponse(answer, headers=self._limit_headers())

    async def _ping(self, request: Request) -> Response:
        return JSONResponse({"application_id": self.application_id})

    async def _me(self, request: Request) -> Response:
        return JSONResponse({"user_id": self.user_id, "shop_id": self.shop_id})

    def _shop_problem(self, request: Request) -> JSONResponse | None:
        if request.path_params["shop_id"] != self.shop_id:
            return _error(404, f"Could not find a Shop with shop_id = {request.path_params['shop_id']}")
        return None

    async def _list_receipts(self, request: Request) -> Response:
        problem = self._shop_problem(request)
        if problem is not None:
            return problem
        try:
            query = receipt_query(request.query_params)
        except ValueError as exc:
            return _error(400, str(exc))
        count, page = self.receipts.query(query)
        return JSONResponse({"count": count, "results": page})

    async def _get_receipt(self, request: Request) -> Response:
        problem = self._shop_problem(request)
        if problem is not None:
            return problem
        receipt = self.receipts.get(request.path_params["receipt_id"])
        if receipt is None:
            return _error(404, f"Could not find a Receipt with receipt_id = {request.path_params['receipt_id']}")
        return JSONResponse(receipt)

    async def _create_shipment(self, request: Request) -> Response:
        problem = self._shop_problem(request)
        if problem is not None:
            return problem
        receipt_id = request.path_params["receipt_id"]
        if receipt_id not in self.receipts:
            return _error(404, f"Could not find a Receipt with receipt_id = {receipt_id}")
        form = await request.form()
        tracking_code = str(form.get("tracking_code") or "")
        carrier_name = str(form.get("carrier_name") or "")
        if tracking_code and not carrier_name:
            return _error(400, "carrier_name is required with a tracking_code.")
        receipt = copy.deepcopy(self._receipt(receipt_id))
        if tracking_code and any(s.get("tracking_code") == tracking_code for s in receipt["shipments"]):
            return _error(409, f"Tracking code {tracking_code} was already submitted for this receipt.")
        now = int(self.clock())
        if tracking_code:
            receipt["shipments"].append(
                {
                    "receipt_shipping_id": next(self._shipment_ids),
                    "shipment_notification_timestamp": now,
                    "carrier_name": carrier_name,
                    "tracking_code": tracking_code,
                }
            )
        receipt["is_shipped"] = True
        if receipt["status"] in ("paid", "open"):
            receipt["status"] = "completed"
        for line in receipt["transactions"]:
            # expected_ship_date is null once shipped (research 4.5: etsy/open-api#211).
            line["shipped_timestamp"] = now
            line["expected_ship_date"] = None
        self._touch(receipt, None)
        self.receipts.put(receipt)
        return JSONResponse(receipt)


def _retry_later(message: str, retry_after_s: int | None) -> JSONResponse:
    headers = None if retry_after_s is None else {"retry-after": str(retry_after_s)}
    return _error(429, message, headers)


def _cents(value: object) -> int:
    return int(value["amount"]) if isinstance(value, dict) and isinstance(value.get("amount"), int) else 0


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


__all__ = ["ALL_SCOPES", "RECEIPT_STATUSES", "EtsyStandIn", "LoggedRequest", "s256"]
