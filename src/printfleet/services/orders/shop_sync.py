"""Orders from a connected shop: poll it every ``interval`` from a stored watermark, hand each order to the order
service (which updates an order it has, so a re-poll adds nothing), and tell the shop of the shipments marked here
(each stored with its order's shipment and sent after commit, retried until the shop has it: DESIGN's outbox rule).

The shop's own client (the Etsy adapter) is reached through :class:`ShopClient`; its refusals arrive as
:class:`ShopReconnectNeeded` (the seller must connect again: polling stops until they do) or
:class:`ShopUnavailable` (answered again at the next poll). The watermark moves only after every order of a poll
was stored, so an outage mid-poll loses nothing. One poll at a time runs in a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from printfleet.aio import within
from printfleet.domain.events import ShopNeedsReconnect, ShopPollWanted
from printfleet.domain.orders.model import IncomingOrder, OrderSource
from printfleet.domain.orders.shops import ConnectionState, ShopConnection
from printfleet.services.errors import ServiceError, StoreUnavailable
from printfleet.services.events import EventBus
from printfleet.services.orders.service import OrderService

log = structlog.get_logger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


BATCH = 100
"""Orders handed to the order service at once (a page of Etsy's receipts): those a re-poll reads unchanged are left
out with one query."""


class ShopReconnectNeeded(ServiceError):
    """The shop refused printfleet's tokens (revoked, reused or expired): the seller must connect again."""


class ShopUnavailable(ServiceError):
    """The shop could not be reached or refused a request for now (an outage, its rate limit)."""


class ShopRefused(ServiceError):
    """The shop refused a request for good (e.g. a shipment it already has): asking again would not help."""


class ShopClient(Protocol):
    """A shop's API as the sync needs it (the Etsy adapter, wrapped by the composition root)."""

    async def identify(self) -> tuple[str, str]:
        """The seller's (user id, shop id). Raises ShopReconnectNeeded, ShopUnavailable."""
        ...

    def orders_since(self, shop_id: str, watermark: datetime | None) -> AsyncIterator[IncomingOrder]:
        """The shop's orders changed since a little before ``watermark`` (all when None), oldest change first.
        Raises ShopReconnectNeeded, ShopUnavailable."""
        ...

    async def ship(self, shop_id: str, order_id: str, *, tracking_code: str | None, carrier: str | None) -> None:
        """Tell the shop the order was shipped. Raises ShopReconnectNeeded, ShopUnavailable."""
        ...


class ShopConnector(Protocol):
    """Connecting a shop (OAuth 2.0 with PKCE for Etsy), implemented by the composition root."""

    async def begin(self) -> str:
        """The address to send the seller to, to approve printfleet. Raises InvalidInput when the app's settings
        lack what the shop needs."""
        ...

    async def finish(self, *, code: str, state: str) -> None:
        """Complete the connection with the shop's callback. Raises InvalidInput, ShopReconnectNeeded,
        ShopUnavailable."""
        ...

    async def disconnect(self) -> None:
        """Forget the shop's tokens (orders stay)."""
        ...


class ShopRepository(Protocol):
    """Connected shops (store: ``SqlShopRepository``)."""

    async def get(self, shop: str) -> ShopConnection | None: ...
    async def update(self, shop: str, now: datetime, *, add_seen: int = 0, **changes: Any) -> ShopConnection: ...


class ShopSync:
    """Poll one shop's orders into the order service, and write its shipments back. Use as an async context
    manager (or :meth:`start`/:meth:`stop`) to poll every ``interval_s`` seconds."""

    def __init__(
        self,
        *,
        shop: str,
        repository: ShopRepository,
        orders: OrderService,
        client: ShopClient,
        interval_s: float,
        clock: Callable[[], datetime] = _utcnow,
        bus: EventBus | None = None,
        webhook_token: str | None = None,
    ) -> None:
        """``bus`` hears :class:`~printfleet.domain.events.ShopNeedsReconnect` when the shop starts refusing the
        tokens; ``webhook_token``: the secret in the address the shop's webhook calls (None: no webhook)."""
        self._webhook_token = webhook_token
        self._shop = shop
        self._bus = bus
        self._repository = repository
        self._orders = orders
        self._client = client
        self._interval_s = interval_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def shop(self) -> str:
        """The shop's kind (``etsy``)."""
        return self._shop

    async def status(self) -> ShopConnection:
        """How the connection stands (``disconnected`` when it never was)."""
        found = await self._repository.get(self._shop)
        return found or ShopConnection(shop=self._shop, state=ConnectionState.DISCONNECTED, updated_at=self._clock())

    async def poll(self) -> int:
        """Poll once now (waiting for a poll under way): how many orders (new or changed) were received. Nothing
        when the shop is not connected. A refusal of the tokens marks it ``reconnect_needed``; an outage is kept as
        ``last_error`` for the next poll to retry."""
        async with self._lock:
            connection = await self.status()
            if connection.state is not ConnectionState.CONNECTED:
                return 0
            received = 0
            newest = connection.watermark
            try:
                shop_id = connection.shop_id
                if shop_id is None:
                    user_id, shop_id = await self._client.identify()
                    await self._repository.update(self._shop, self._clock(), user_id=user_id, shop_id=shop_id)
                page: list[IncomingOrder] = []
                async for incoming in self._client.orders_since(shop_id, connection.watermark):
                    page.append(incoming)
                    if incoming.updated_at is not None and (newest is None or incoming.updated_at > newest):
                        newest = incoming.updated_at
                    if len(page) == BATCH:
                        await self._orders.receive_batch(page)
                        received += len(page)
                        page = []
                await self._orders.receive_batch(page)
                received += len(page)
            except ShopReconnectNeeded as refused:
                log.warning("shop.reconnect_needed", shop=self._shop, problem=refused.message)
                await self._repository.update(
                    self._shop,
                    self._clock(),
                    state=ConnectionState.RECONNECT_NEEDED,
                    last_error=refused.message[:500],
                    last_poll_at=self._clock(),
                    add_seen=received,
                )
                self._announce_reconnect(connection.state, refused.message)
                return received
            except ShopUnavailable as outage:
                log.warning("shop.poll_failed", shop=self._shop, problem=outage.message, received=received)
                await self._repository.update(
                    self._shop, self._clock(), last_error=outage.message[:500], last_poll_at=self._clock()
                )
                return received
            await self._repository.update(
                self._shop,
                self._clock(),
                watermark=newest,
                last_poll_at=self._clock(),
                last_error=None,
                add_seen=received,
            )
            if received:
                log.info("shop.polled", shop=self._shop, received=received)
            return received

    async def deliver_shipments(self) -> int:
        """Tell the shop of the shipments marked here and not told yet (each stored as ``shop_shipment: pending``
        with its order's shipment, so none is lost if printfleet stops first): how many were told. An outage
        leaves them pending for the next round; a refusal for good (e.g. Etsy's 409) marks one ``failed``."""
        connection = await self.status()
        if connection.state is not ConnectionState.CONNECTED or connection.shop_id is None:
            return 0
        told = 0
        for order in await self._orders.pending_shipments(OrderSource(self._shop)):
            try:
                await self._client.ship(
                    connection.shop_id,
                    order.external_id or "",
                    tracking_code=order.tracking_code,
                    carrier=order.carrier,
                )
            except ShopRefused as refused:
                log.warning("shop.shipment_refused", shop=self._shop, order_id=order.id, problem=refused.message)
                await self._orders.shipment_told(order, "failed")
                await self._repository.update(self._shop, self._clock(), last_error=refused.message[:500])
                continue
            except (ShopReconnectNeeded, ShopUnavailable) as refused:
                log.warning("shop.shipment_deferred", shop=self._shop, order_id=order.id, problem=refused.message)
                changes: dict[str, Any] = {"last_error": refused.message[:500]}
                if not isinstance(refused, ShopReconnectNeeded):
                    await self._repository.update(self._shop, self._clock(), **changes)
                    return told
                was = (await self.status()).state
                await self._repository.update(
                    self._shop, self._clock(), state=ConnectionState.RECONNECT_NEEDED, **changes
                )
                self._announce_reconnect(was, refused.message)
                return told
            await self._orders.shipment_told(order, "sent")
            log.info("shop.shipment_sent", shop=self._shop, order_id=order.id)
            told += 1
        return told

    def _announce_reconnect(self, was: ConnectionState, problem: str) -> None:
        """Tell people once, when the connection has entered ``reconnect_needed`` (``was``: its state before; called
        after the new state is stored, as every event is published after its commit)."""
        if was is ConnectionState.RECONNECT_NEEDED or self._bus is None:
            return
        self._bus.publish(ShopNeedsReconnect(shop=self._shop, problem=problem[:500], occurred_at=self._clock()))

    def hint(self, token: str) -> bool:
        """The shop's webhook called with ``token``: when it is the configured one (compared in constant time), the
        process that polls the shop is asked to poll now (here, or through the farm's announcements) and True is
        returned. Etsy's ``ORDER_PAID`` payload is only a hint: the poll reads the receipts as usual."""
        expected = self._webhook_token
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            return False
        self.wake()
        if self._bus is not None:
            self._bus.publish(ShopPollWanted(shop=self._shop))
        log.info("shop.webhook_hint", shop=self._shop)
        return True

    def wake(self) -> None:
        """Send pending shipments and poll soon (a shop was just connected, an order marked shipped)."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.deliver_shipments()
                await self.poll()
            except StoreUnavailable:
                log.warning("shop.poll_deferred", shop=self._shop)
            except Exception:  # a bug must not stop polling for good
                log.exception("shop.poll_crashed", shop=self._shop)
            with contextlib.suppress(TimeoutError):
                await within(self._wake.wait(), self._interval_s)

    async def start(self) -> None:
        """Poll now and every ``interval_s`` seconds."""
        self._task = asyncio.create_task(self._run(), name=f"shop-sync-{self._shop}")

    async def stop(self) -> None:
        """Stop polling (a poll under way is cancelled; its orders stored so far stay)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def __aenter__(self) -> ShopSync:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()
