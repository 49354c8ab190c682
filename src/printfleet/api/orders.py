"""``/api/v1/orders`` and ``/api/v1/product-profiles``: shop orders, typed in or imported from a CSV file (Etsy's
arrive by themselves), scheduled as one print per plate, followed to ``printed``, marked shipped; and the product
profiles that say how each product prints. ``POST /api/orders/{order_id}/schedule-prints`` is the planning
document's path for scheduling an order.

Orders hold buyers' names: reading needs ``orders.read``, changes ``orders.manage`` (operators and admins), and every
change is audited (``order_changed``, ``product_profile_changed``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from printfleet.api.auth import audit, requires
from printfleet.api.context import ContextDep
from printfleet.api.errors import responses
from printfleet.api.order_schemas import (
    ImportResult,
    OrderCostPublic,
    OrderCreate,
    OrderDetail,
    OrderList,
    OrderPublic,
    OrderUpdate,
    ProfileBody,
    ProfileList,
    ProfilePublic,
    ScheduleBody,
    ShipBody,
)
from printfleet.api.schedule_schemas import ScheduledPrintPublic
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.domain.orders.model import OrderQuery, OrderSource, OrderStatus
from printfleet.domain.orders.planning import ScheduleOptions
from printfleet.services.errors import InvalidInput
from printfleet.services.schedule.service import Actor

router = APIRouter(tags=["orders"])

Reader = [requires(Permission.ORDERS_READ)]
Manager = [requires(Permission.ORDERS_MANAGE)]
OrderId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The order's id.")]
ProfileId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The product profile's id.")]
MAX_CSV_BYTES = 5 * 1024 * 1024
"""The largest CSV file an import takes (bytes)."""


def _now() -> datetime:
    return datetime.now(UTC)


# --- product profiles ---------------------------------------------------------------------------------------------


@router.get("/api/v1/product-profiles", response_model=ProfileList, dependencies=Reader, responses=responses())
async def list_profiles(context: ContextDep) -> ProfileList:
    """Every product profile, by name."""
    return ProfileList(profiles=[ProfilePublic.from_domain(p) for p in await context.orders.profiles()])


@router.post(
    "/api/v1/product-profiles",
    response_model=ProfilePublic,
    status_code=status.HTTP_201_CREATED,
    dependencies=Manager,
    responses=responses(),
)
async def add_profile(body: ProfileBody, request: Request, context: ContextDep) -> ProfilePublic:
    """Add a profile; open orders waiting for one are matched again."""
    profile = await context.orders.add_profile(body.to_domain())
    await audit(request, AuditAction.PRODUCT_PROFILE_CHANGED, f"product_profile:{profile.id}", op="added")
    return ProfilePublic.from_domain(profile)


@router.put(
    "/api/v1/product-profiles/{profile_id}",
    response_model=ProfilePublic,
    dependencies=Manager,
    responses=responses(404),
)
async def replace_profile(
    profile_id: ProfileId, body: ProfileBody, request: Request, context: ContextDep
) -> ProfilePublic:
    """Replace a profile's rule, parts and settings (prints already scheduled keep theirs)."""
    profile = await context.orders.update_profile(profile_id, body.to_domain())
    await audit(request, AuditAction.PRODUCT_PROFILE_CHANGED, f"product_profile:{profile_id}", op="replaced")
    return ProfilePublic.from_domain(profile)


@router.delete(
    "/api/v1/product-profiles/{profile_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=Manager,
    responses=responses(404),
)
async def delete_profile(profile_id: ProfileId, request: Request, context: ContextDep) -> Response:
    """Delete a profile."""
    await context.orders.delete_profile(profile_id)
    await audit(request, AuditAction.PRODUCT_PROFILE_CHANGED, f"product_profile:{profile_id}", op="deleted")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- orders -------------------------------------------------------------------------------------------------------


@router.get("/api/v1/orders", response_model=OrderList, dependencies=Reader, responses=responses())
async def list_orders(
    context: ContextDep,
    order_status: Annotated[list[OrderStatus] | None, Query(alias="status", description="Any of these.")] = None,
    source: Annotated[OrderSource | None, Query(description="Where the orders came from.")] = None,
    ship_by_before: Annotated[datetime | None, Query(description="Ship-by before this (ISO 8601).")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Buyer, shop order id or product title.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> OrderList:
    """A page of orders, ship-by soonest first."""
    if ship_by_before is not None and ship_by_before.tzinfo is None:
        raise InvalidInput("ship_by_before: give a time with its offset (e.g. 2026-12-24T00:00:00Z)")
    query = OrderQuery(
        statuses=frozenset(order_status or ()),
        source=source,
        ship_by_before=ship_by_before,
        search=q or None,
        limit=limit,
        offset=offset,
    )
    found, total = await context.orders.list_orders(query)
    return OrderList(orders=[OrderPublic.from_domain(order) for order in found], total=total)


@router.post(
    "/api/v1/orders",
    response_model=OrderPublic,
    status_code=status.HTTP_201_CREATED,
    responses=responses(),
)
async def create_order(
    body: OrderCreate,
    request: Request,
    context: ContextDep,
    principal: Annotated[Principal, requires(Permission.ORDERS_MANAGE)],
) -> OrderPublic:
    """Type in an order (source ``manual``); its lines are matched to product profiles at once."""
    order, created = await context.orders.receive(body.to_domain(_now()), created_by=principal.user.id)
    await audit(request, AuditAction.ORDER_CHANGED, f"order:{order.id}", op="created" if created else "updated")
    return OrderPublic.from_domain(order)


@router.post("/api/v1/orders/import", response_model=ImportResult, responses=responses(413))
async def import_orders(
    request: Request,
    context: ContextDep,
    principal: Annotated[Principal, requires(Permission.ORDERS_MANAGE)],
) -> ImportResult:
    """Import orders from a CSV file sent as the request body (``text/csv``, UTF-8; columns in docs/orders.md).
    Importing the same file again updates what it made; rows that cannot be read are listed, the rest imported."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_CSV_BYTES:
            raise InvalidInput(f"a CSV import is at most {MAX_CSV_BYTES // (1024 * 1024)} MB")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the file is not UTF-8 text") from None
    result = await context.orders.import_csv(text, created_by=principal.user.id)
    await audit(
        request, AuditAction.ORDER_CHANGED, "orders", op="imported", created=result.created, updated=result.updated
    )
    return ImportResult(created=result.created, updated=result.updated, errors=list(result.errors))


@router.get("/api/v1/orders/{order_id}", response_model=OrderDetail, dependencies=Reader, responses=responses(404))
async def get_order(order_id: OrderId, context: ContextDep) -> OrderDetail:
    """One order with its plates (each with its scheduled print), progress and cost so far."""
    view = await context.orders.get(order_id)
    costs = await context.usage.order_costs([order_id])
    cost = OrderCostPublic.from_domain(costs[order_id], context.usage.currency) if order_id in costs else None
    return OrderDetail.from_view(view, cost)


@router.patch("/api/v1/orders/{order_id}", response_model=OrderPublic, dependencies=Manager, responses=responses(404))
async def update_order(order_id: OrderId, body: OrderUpdate, request: Request, context: ContextDep) -> OrderPublic:
    """Change the buyer's name, the ship-by date or the notes."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    order = await context.orders.update(order_id, changes)
    await audit(request, AuditAction.ORDER_CHANGED, f"order:{order_id}", fields=sorted(changes))
    return OrderPublic.from_domain(order)


@router.post(
    "/api/v1/orders/{order_id}/schedule",
    response_model=list[ScheduledPrintPublic],
    responses=responses(404, 409),
)
@router.post(
    "/api/orders/{order_id}/schedule-prints",
    response_model=list[ScheduledPrintPublic],
    responses=responses(404, 409),
    summary="Schedule order prints (the planning document's path)",
)
async def schedule_order(
    order_id: OrderId,
    request: Request,
    context: ContextDep,
    principal: Annotated[Principal, requires(Permission.ORDERS_MANAGE)],
    body: ScheduleBody | None = None,
) -> list[ScheduledPrintPublic]:
    """Schedule every plate of the order that has no print yet (a second call adds nothing): the prints created.
    409 when the order is shipped or cancelled, or a line needs attention. ``POST /api/orders/{order_id}/
    schedule-prints`` is the planning document's path for the same (``printer_id``, ``material_type``,
    ``start_offset_minutes``)."""
    options = body or ScheduleBody()
    created = await context.orders.schedule(
        order_id,
        ScheduleOptions(
            printer_id=options.printer_id,
            material_type=options.material_type,
            start_offset_minutes=options.start_offset_minutes,
        ),
        actor=Actor(user_id=principal.user.id, manages=True),
    )
    await audit(request, AuditAction.ORDER_CHANGED, f"order:{order_id}", op="scheduled", prints=len(created))
    return [ScheduledPrintPublic.from_domain(await context.schedule.get(p.id)) for p in created]


@router.post(
    "/api/v1/orders/{order_id}/reprint",
    response_model=list[ScheduledPrintPublic],
    responses=responses(404, 409),
)
async def reprint_order(
    order_id: OrderId,
    request: Request,
    context: ContextDep,
    principal: Annotated[Principal, requires(Permission.ORDERS_MANAGE)],
) -> list[ScheduledPrintPublic]:
    """Print again every plate whose prints all failed (the failures acknowledged: also past ``orders.max_attempts``
    or with ``orders.reprint_failed`` off): the prints created, [] when none failed. 409 when the order is shipped
    or cancelled."""
    created = await context.orders.reprint_failed(order_id, actor=Actor(user_id=principal.user.id, manages=True))
    await audit(request, AuditAction.ORDER_CHANGED, f"order:{order_id}", op="reprinted", prints=len(created))
    return [ScheduledPrintPublic.from_domain(await context.schedule.get(p.id)) for p in created]


@router.post(
    "/api/v1/orders/{order_id}/ship", response_model=OrderPublic, dependencies=Manager, responses=responses(404, 409)
)
async def ship_order(
    order_id: OrderId, request: Request, context: ContextDep, body: ShipBody | None = None
) -> OrderPublic:
    """Mark the order shipped, with its tracking code."""
    shipment = body or ShipBody()
    order = await context.orders.mark_shipped(order_id, tracking_code=shipment.tracking_code, carrier=shipment.carrier)
    await audit(request, AuditAction.ORDER_CHANGED, f"order:{order_id}", op="shipped")
    return OrderPublic.from_domain(order)


@router.post(
    "/api/v1/orders/{order_id}/cancel", response_model=OrderPublic, dependencies=Manager, responses=responses(404, 409)
)
async def cancel_order(order_id: OrderId, request: Request, context: ContextDep) -> OrderPublic:
    """Cancel the order and its prints not sent yet (prints under way go on: stop them on their printer)."""
    order = await context.orders.cancel(order_id)
    await audit(request, AuditAction.ORDER_CHANGED, f"order:{order_id}", op="cancelled")
    return OrderPublic.from_domain(order)
