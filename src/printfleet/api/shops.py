"""``/api/v1/shops/etsy``: the Etsy shop's connection (never its tokens), connecting it (OAuth 2.0 with PKCE: the
seller approves printfleet on Etsy, which sends them back to ``/ui/shops/etsy/callback``), polling now, and
disconnecting. Reading needs ``orders.read``; the rest ``settings.manage`` (admins), audited
(``settings_changed``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel

from printfleet.api.auth import audit, public, requires
from printfleet.api.context import ApiContext, ContextDep
from printfleet.api.errors import responses
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.orders.shops import ConnectionState
from printfleet.services.errors import Conflict, NotFound
from printfleet.services.orders.shop_sync import ShopConnector, ShopSync

router = APIRouter(prefix="/api/v1/shops/etsy", tags=["orders"])


class ShopStatus(BaseModel):
    """How the Etsy shop stands: ``configured`` (the app's keystring and shared secret are set), ``state``
    (``disconnected``, ``connecting``, ``connected``, ``reconnect_needed``), the seller's shop id, the last poll and
    its trouble, how many orders (new or changed) polls received. Never a token."""

    configured: bool
    state: ConnectionState
    shop_id: str | None
    last_poll_at: datetime | None
    last_error: str | None
    orders_seen: int
    watermark: datetime | None


class ConnectStart(BaseModel):
    """Where to send the seller's browser to approve printfleet on Etsy."""

    authorize_url: str


class PollResult(BaseModel):
    """Orders (new or changed) the poll received."""

    received: int


def _parts(context: ApiContext) -> tuple[ShopSync, ShopConnector]:
    if context.shop is None or context.shop_connector is None:
        raise Conflict("Etsy is not configured: set etsy.keystring and etsy.shared_secret")
    return context.shop, context.shop_connector


@router.get("", response_model=ShopStatus, dependencies=[requires(Permission.ORDERS_READ)], responses=responses())
async def shop_status(context: ContextDep) -> ShopStatus:
    """The Etsy shop's connection."""
    if context.shop is None:
        return ShopStatus(
            configured=False,
            state=ConnectionState.DISCONNECTED,
            shop_id=None,
            last_poll_at=None,
            last_error=None,
            orders_seen=0,
            watermark=None,
        )
    found = await context.shop.status()
    return ShopStatus(
        configured=True,
        state=found.state,
        shop_id=found.shop_id,
        last_poll_at=found.last_poll_at,
        last_error=found.last_error,
        orders_seen=found.orders_seen,
        watermark=found.watermark,
    )


@router.post(
    "/connect",
    response_model=ConnectStart,
    dependencies=[requires(Permission.SETTINGS_MANAGE)],
    responses=responses(409),
)
async def connect(request: Request, context: ContextDep) -> ConnectStart:
    """Start connecting: the Etsy address to send the seller to (409 when Etsy is not configured)."""
    _, connector = _parts(context)
    url = await connector.begin()
    await audit(request, AuditAction.SETTINGS_CHANGED, "shop:etsy", op="connect_started")
    return ConnectStart(authorize_url=url)


@router.post(
    "/poll", response_model=PollResult, dependencies=[requires(Permission.ORDERS_MANAGE)], responses=responses(409)
)
async def poll(context: ContextDep) -> PollResult:
    """Poll the shop's orders now."""
    sync, _ = _parts(context)
    return PollResult(received=await sync.poll())


@router.delete(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[requires(Permission.SETTINGS_MANAGE)],
    responses=responses(409),
)
async def disconnect(request: Request, context: ContextDep) -> Response:
    """Forget the shop's tokens (its orders stay)."""
    _, connector = _parts(context)
    await connector.disconnect()
    await audit(request, AuditAction.SETTINGS_CHANGED, "shop:etsy", op="disconnected")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/webhook/{token}",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    dependencies=[public()],
    responses=responses(404),
)
async def shop_webhook(token: Annotated[str, Path(min_length=1, max_length=200)], context: ContextDep) -> Response:
    """Etsy's ``ORDER_PAID`` webhook (commercial apps; its flat body ``{event_type, resource_url, shop_id}`` is not
    read): the address carries ``etsy.webhook_token``, and the shop is polled at once by the process that polls it
    (202). 404 for any other address, or without Etsy or a webhook token configured. Open to the internet by design:
    it only brings the next poll forward, which reads the receipts as usual."""
    if context.shop is None or not context.shop.hint(token):
        raise NotFound("no such webhook")
    return Response(status_code=status.HTTP_202_ACCEPTED)
