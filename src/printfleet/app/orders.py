"""Wiring of shop orders for the composition root: the order service's policy, and an Etsy shop — its client (the
``shops.etsy`` adapter) behind the shop sync's port, its tokens sealed at rest in the store, and the OAuth connect
flow (PKCE) behind the connector port."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import structlog

from printfleet.config import Settings
from printfleet.domain.orders.model import IncomingOrder
from printfleet.domain.orders.shops import ConnectionState
from printfleet.domain.printer import Secret
from printfleet.security.secretbox import SecretBox, SecretUnreadable
from printfleet.services.errors import InvalidInput
from printfleet.services.events import EventBus
from printfleet.services.orders import OrderService, OrdersPolicy
from printfleet.services.orders.shop_sync import ShopReconnectNeeded, ShopRefused, ShopSync, ShopUnavailable
from printfleet.shops.etsy import EtsyClient, EtsyError, EtsyReconnectNeeded, EtsyTokens, start_authorization
from printfleet.shops.etsy.oauth import SCOPES, exchange_code
from printfleet.store.database import Database
from printfleet.store.orders.shops import SqlShopRepository

log = structlog.get_logger(__name__)

ETSY = "etsy"
"""The shop kind of Etsy orders (their ``source``)."""


def orders_policy_of(settings: Settings) -> OrdersPolicy:
    """The order service's policy from the ``orders`` settings."""
    orders = settings.orders
    return OrdersPolicy(
        ship_buffer=timedelta(hours=orders.ship_buffer),
        auto_schedule=orders.auto_schedule,
        reprint_failed=orders.reprint_failed,
        max_attempts=orders.max_attempts,
    )


class SealedTokenStore:
    """The Etsy client's :class:`~printfleet.shops.etsy.TokenStore` on the store, sealed with ``box``: tokens are
    never stored in clear. Tokens sealed with another key read as none (the seller connects again)."""

    def __init__(self, repository: SqlShopRepository, box: SecretBox, clock: Callable[[], datetime]) -> None:
        self._repository = repository
        self._box = box
        self._clock = clock

    async def load(self) -> EtsyTokens | None:
        """The stored tokens, or None."""
        sealed = await self._repository.tokens(ETSY)
        if sealed is None:
            return None
        try:
            data = json.loads(self._box.open(sealed))
        except (SecretUnreadable, ValueError):
            log.warning("shop.tokens_unreadable", shop=ETSY)
            return None
        return EtsyTokens(
            access_token=Secret(data["access_token"]),
            refresh_token=Secret(data["refresh_token"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            scopes=frozenset(data["scopes"]),
        )

    async def save(self, tokens: EtsyTokens) -> None:
        """Seal and store ``tokens`` (one transaction: the rotated refresh token is kept before it is needed)."""
        data = {
            "access_token": tokens.access_token.reveal(),
            "refresh_token": tokens.refresh_token.reveal(),
            "expires_at": tokens.expires_at.isoformat(),
            "scopes": sorted(tokens.scopes),
        }
        await self._repository.save_tokens(ETSY, self._box.seal(json.dumps(data)), self._clock())


def _refusal(error: EtsyError) -> ShopReconnectNeeded | ShopUnavailable | ShopRefused:
    """Etsy's refusal as the sync's: ``invalid_grant`` → reconnect; a 4xx other than 401, 403 and 429 (e.g. 409 for a
    shipment Etsy has) → refused for good; anything else → try again later."""
    if isinstance(error, EtsyReconnectNeeded):
        return ShopReconnectNeeded(str(error))
    if error.status is not None and 400 <= error.status < 500 and error.status not in (401, 403, 429):
        return ShopRefused(str(error))
    return ShopUnavailable(str(error))


class EtsyShop:
    """The shop sync's :class:`~printfleet.services.orders.shop_sync.ShopClient` on the Etsy client: ids as text,
    Etsy's refusals as the service's errors, the overlap from ``etsy.overlap``."""

    def __init__(self, client: EtsyClient, overlap: timedelta) -> None:
        self._client = client
        self._overlap = overlap

    async def identify(self) -> tuple[str, str]:
        """The seller's (user id, shop id) as text."""
        try:
            user_id, shop_id = await self._client.me()
        except EtsyError as error:
            raise _refusal(error) from None
        return str(user_id), str(shop_id)

    async def orders_since(self, shop_id: str, watermark: datetime | None) -> AsyncIterator[IncomingOrder]:
        """Receipts changed since ``watermark`` less the overlap, as orders."""
        try:
            async for order in self._client.receipts_since(int(shop_id), watermark=watermark, overlap=self._overlap):
                yield order
        except EtsyError as error:
            raise _refusal(error) from None

    async def ship(self, shop_id: str, order_id: str, *, tracking_code: str | None, carrier: str | None) -> None:
        """``createReceiptShipment`` with the tracking code (carrier ``other`` when none was given)."""
        try:
            await self._client.create_shipment(
                int(shop_id), int(order_id), tracking_code=tracking_code or "", carrier=carrier or "other"
            )
        except EtsyError as error:
            raise _refusal(error) from None


class EtsyConnector:
    """The OAuth 2.0 authorization-code flow with PKCE that connects an Etsy shop
    (:class:`~printfleet.services.orders.shop_sync.ShopConnector`): the state and code verifier are kept sealed in
    the store between the redirect and the callback (any process may take the callback)."""

    def __init__(
        self,
        *,
        settings: Settings,
        repository: SqlShopRepository,
        box: SecretBox,
        tokens: SealedTokenStore,
        http: httpx.AsyncClient,
        on_connected: Callable[[], None],
        clock: Callable[[], datetime],
    ) -> None:
        self._etsy = settings.etsy
        self._repository = repository
        self._box = box
        self._tokens = tokens
        self._http = http
        self._on_connected = on_connected
        self._clock = clock

    async def begin(self) -> str:
        """The authorize URL to send the seller to. Raises InvalidInput when ``etsy.redirect_url`` is not set."""
        if not self._etsy.redirect_url or not self._etsy.keystring:
            raise InvalidInput("etsy.redirect_url and etsy.keystring must be set to connect an Etsy shop")
        request = start_authorization(
            keystring=self._etsy.keystring, redirect_uri=self._etsy.redirect_url, endpoint=self._etsy.authorize_url
        )
        pending = json.dumps({"state": request.state, "verifier": request.code_verifier.reveal()})
        now = self._clock()
        await self._repository.save_pending(ETSY, self._box.seal(pending), now)
        await self._repository.update(ETSY, now, state=ConnectionState.CONNECTING, last_error=None)
        return request.url

    async def finish(self, *, code: str, state: str) -> None:
        """Trade the callback's ``code`` for tokens when its ``state`` is the one sent; store them sealed; the shop
        is ``connected`` and polled at once. Raises InvalidInput (no authorization under way, another state),
        ShopReconnectNeeded (Etsy refused the code), ShopUnavailable."""
        sealed = await self._repository.pending(ETSY)
        if sealed is None:
            raise InvalidInput("no Etsy connection is under way: start it again")
        try:
            pending = json.loads(self._box.open(sealed))
        except (SecretUnreadable, ValueError):
            raise InvalidInput("the Etsy connection under way cannot be read: start it again") from None
        if state != pending["state"]:
            raise InvalidInput("the answer from Etsy does not belong to this connection: start it again")
        assert self._etsy.keystring is not None
        assert self._etsy.shared_secret is not None
        assert self._etsy.redirect_url is not None
        try:
            tokens = await exchange_code(
                self._http,
                token_url=self._etsy.token_url,
                keystring=self._etsy.keystring,
                shared_secret=Secret(self._etsy.shared_secret.get_secret_value()),
                redirect_uri=self._etsy.redirect_url,
                code=code,
                code_verifier=Secret(pending["verifier"]),
                scopes=SCOPES,
                now=self._clock(),
            )
        except EtsyError as error:
            raise _refusal(error) from None
        await self._tokens.save(tokens)
        now = self._clock()
        await self._repository.save_pending(ETSY, None, now)
        await self._repository.update(ETSY, now, state=ConnectionState.CONNECTED, last_error=None)
        log.info("shop.connected", shop=ETSY)
        self._on_connected()

    async def connect_with(self, tokens: EtsyTokens) -> None:
        """Store tokens obtained elsewhere (the demo's stand-in) and mark the shop connected."""
        await self._tokens.save(tokens)
        await self._repository.update(ETSY, self._clock(), state=ConnectionState.CONNECTED, last_error=None)
        self._on_connected()

    async def disconnect(self) -> None:
        """Forget the tokens and the authorization under way; orders stay."""
        now = self._clock()
        await self._repository.save_tokens(ETSY, None, now)
        await self._repository.save_pending(ETSY, None, now)
        await self._repository.update(ETSY, now, state=ConnectionState.DISCONNECTED)
        log.info("shop.disconnected", shop=ETSY)


@dataclass(frozen=True, slots=True)
class EtsyParts:
    """A configured Etsy shop's parts: the sync (polling, shipments), the connector, and the HTTP client to close."""

    sync: ShopSync
    connector: EtsyConnector
    http: httpx.AsyncClient


def build_etsy(
    settings: Settings,
    database: Database,
    orders: OrderService,
    clock: Callable[[], datetime] | None = None,
    bus: EventBus | None = None,
) -> EtsyParts | None:
    """The Etsy shop's parts when ``etsy.keystring`` and ``etsy.shared_secret`` are set, else None. Shipments of
    Etsy orders marked here are written back. Raises ValueError naming the setting for a bad ``secrets.key``."""
    etsy = settings.etsy
    if not etsy.configured:
        return None
    assert etsy.keystring is not None
    assert etsy.shared_secret is not None
    now = clock or (lambda: datetime.now(UTC))
    key = settings.secrets.key.get_secret_value() if settings.secrets.key else None
    box = SecretBox.from_settings(key, Path(settings.secrets.key_file))
    repository = SqlShopRepository(database)
    tokens = SealedTokenStore(repository, box, now)
    http = httpx.AsyncClient(timeout=30.0)
    client = EtsyClient(
        keystring=etsy.keystring,
        shared_secret=Secret(etsy.shared_secret.get_secret_value()),
        tokens=tokens,
        base_url=etsy.api_url,
        token_url=etsy.token_url,
        http=http,
        clock=now,
    )
    sync = ShopSync(
        shop=ETSY,
        repository=repository,
        orders=orders,
        client=EtsyShop(client, timedelta(seconds=etsy.overlap)),
        interval_s=etsy.poll_interval,
        clock=now,
        bus=bus,
        webhook_token=etsy.webhook_token.get_secret_value() if etsy.webhook_token else None,
    )
    orders.add_shipment_hint(sync.wake)
    connector = EtsyConnector(
        settings=settings, repository=repository, box=box, tokens=tokens, http=http, on_connected=sync.wake, clock=now
    )
    return EtsyParts(sync=sync, connector=connector, http=http)
