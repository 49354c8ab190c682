"""The Orders page (``/orders``): shop orders, ship-by soonest first, with their status, progress and what needs
attention; operators schedule, ship and cancel them, import a CSV file, and add product profiles from a library
file, try a profile's match rule on the recent orders before saving it, and delete profiles. Forms post to
``/ui/orders/...`` and ``/ui/product-profiles...`` and the page is shown again with a note (or the error)."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from printfleet.api.auth import audit, requires
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.domain.files.library import FileQuery
from printfleet.domain.jobs import Job
from printfleet.domain.orders.model import OrderQuery, OrderStatus
from printfleet.domain.orders.planning import ScheduleOptions
from printfleet.domain.orders.profiles import ProfileDraft, ProfilePart, Trial, try_rule
from printfleet.services.errors import InvalidInput, ServiceError
from printfleet.services.schedule.service import Actor
from printfleet.web.pages import Context, Locale, SameSite, form_text, html, live_url, page, translate

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 100
"""Orders the page shows (the REST API pages through more)."""

TRIED_ORDERS = 200
"""How many orders (ship-by soonest first) a profile's rule is tried on."""

MAX_CSV_BYTES = 5 * 1024 * 1024
"""The largest CSV file the page imports (bytes)."""

OrderId = Annotated[int, Path(ge=1, le=2**31 - 1)]


async def _render(
    request: Request,
    context: Context,
    locale: str,
    *,
    status: str | None = None,
    note: str | None = None,
    error: str | None = None,
    status_code: int = 200,
    trial: list[Trial] | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    """The page; ``trial``: the recent lines a profile's rule being tried covers; ``typed``: the profile form's
    values to show again."""
    known = {s.value for s in OrderStatus}
    statuses = frozenset({OrderStatus(status)}) if status is not None and status in known else frozenset()
    found, total = await context.orders.list_orders(OrderQuery(statuses=statuses, limit=PAGE_SIZE))
    views = await context.orders.views(found)
    costs = await context.usage.order_costs([order.id for order in found])
    profiles = await context.orders.profiles()
    shop = await context.shop.status() if context.shop is not None else None
    files, _ = await context.files.list(FileQuery(limit=200))
    body = page(
        request,
        locale,
        "orders.html",
        page_name="orders",
        title=translate(locale, "Orders"),
        views=views,
        costs=costs,
        currency=context.usage.currency,
        total=total,
        profiles=profiles,
        profile_names={profile.id: profile.name for profile in profiles},
        files=files,
        statuses=[s.value for s in OrderStatus],
        shown_status=status or "",
        shop=shop,
        note=note,
        error=error,
        trial=trial,
        typed=typed or {},
        file_names={f.id: f.name for f in files},
    )
    return html(body, status_code=status_code)


@router.get("/orders", dependencies=[requires(Permission.ORDERS_READ)])
async def orders_page(
    request: Request,
    context: Context,
    locale: Locale,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Orders, ship-by soonest first, optionally of one status."""
    return await _render(request, context, locale, status=status)


@router.get("/orders/{order_id}", dependencies=[requires(Permission.ORDERS_READ)])
async def order_page(request: Request, order_id: OrderId, context: Context, locale: Locale) -> Response:
    """One order: its lines and profiles, and every plate's print with its printer and job, kept up to date by the
    page's live connection (view ``order``: the section is fetched again when the order, a print or a job changes)."""
    try:
        view = await context.orders.get(order_id)
    except ServiceError as exc:
        heading = translate(locale, "Not found")
        body = page(
            request, locale, "error.html", page_name="orders", title=heading, heading=heading, message=exc.message
        )
        return html(body, status_code=404)
    jobs: dict[int, Job] = {}
    for _link, shown in view.prints:
        job_id = shown.scheduled.job_id if shown is not None else None
        if job_id is not None:
            with contextlib.suppress(ServiceError):
                jobs[job_id] = await context.jobs.get(job_id)
    costs = await context.usage.order_costs([order_id])
    profiles = await context.orders.profiles()
    body = page(
        request,
        locale,
        "order.html",
        page_name="orders",
        title=translate(locale, "Order %(number)s") % {"number": view.order.external_id or view.order.id},
        view=view,
        jobs=jobs,
        cost=costs.get(order_id),
        currency=context.usage.currency,
        profile_names={profile.id: profile.name for profile in profiles},
        lines={line.id: line for line in view.order.lines},
        live_url=live_url("order", locale, order_id=order_id),
    )
    return html(body)


@router.post("/ui/orders/{order_id}/schedule", dependencies=[SameSite])
async def schedule(
    request: Request,
    order_id: OrderId,
    context: Context,
    locale: Locale,
    principal: Annotated[Principal, requires(Permission.ORDERS_MANAGE)],
) -> Response:
    """Schedule the order's plates that have no print yet."""
    try:
        created = await context.orders.schedule(
            order_id, ScheduleOptions(), actor=Actor(user_id=principal.user.id, manages=True)
        )
    except ServiceError as exc:
        return await _render(request, context, locale, error=exc.message, status_code=409)
    await audit(request, AuditAction.ORDER_CHANGED, f"order:{order_id}", op="scheduled", prints=len(created))
    note = translate(locale, "%(count)s print(s) scheduled") % {"count": len(created)}
    return await _render(request, context, locale, note=note)


@router.post("/ui/orders/{order_id}/reprint", dependencies=[SameSite])
async def reprint(
    request: Request,
    order_id: OrderId,
    context: Context,
    locale: Locale,
    principal: Annotated[Principal, requires(Permission.ORDERS_MANAGE)],
) -> Response:
    """Print the order's failed plates again (the failures acknowledged)."""
    try:
        created = await context.orders.reprint_failed(order_id, actor=Actor(user_id=principal.user.id, manages=True))
    except ServiceError as exc:
        return await _render(request, context, locale, error=exc.message, status_code=409)
    await audit(request, AuditAction.ORDER_CHANGED, f"order:{order_id}", op="reprinted", prints=len(created))
    note = translate(locale, "%(count)s print(s) scheduled") % {"count": len(created)}
    return await _render(request, context, locale, note=note)


@router.post("/ui/orders/{order_id}/ship", dependencies=[SameSite, requires(Permission.ORDERS_MANAGE)])
async def ship(request: Request, order_id: OrderId, context: Context, locale: Locale) -> Response:
    """Mark the order shipped, with the tracking code typed."""
    form = await request.form()
    try:
        await context.orders.mark_shipped(
            order_id,
            tracking_code=form_text(form, "tracking_code", 120) or None,
            carrier=form_text(form, "carrier", 64),
        )
    except ServiceError as exc:
        return await _render(request, context, locale, error=exc.message, status_code=409)
    await audit(request, AuditAction.ORDER_CHANGED, f"order:{order_id}", op="shipped")
    return await _render(request, context, locale, note=translate(locale, "Marked shipped"))


@router.post("/ui/orders/{order_id}/cancel", dependencies=[SameSite, requires(Permission.ORDERS_MANAGE)])
async def cancel(request: Request, order_id: OrderId, context: Context, locale: Locale) -> Response:
    """Cancel the order (the page asked for confirmation)."""
    try:
        await context.orders.cancel(order_id)
    except ServiceError as exc:
        return await _render(request, context, locale, error=exc.message, status_code=409)
    await audit(request, AuditAction.ORDER_CHANGED, f"order:{order_id}", op="cancelled")
    return await _render(request, context, locale, note=translate(locale, "Cancelled"))


@router.post("/ui/orders/import", dependencies=[SameSite])
async def import_csv(
    request: Request,
    context: Context,
    locale: Locale,
    principal: Annotated[Principal, requires(Permission.ORDERS_MANAGE)],
) -> Response:
    """Import the CSV file chosen in the form."""
    form = await request.form(max_part_size=MAX_CSV_BYTES)
    upload = form.get("file")
    content = await upload.read(MAX_CSV_BYTES + 1) if upload is not None and not isinstance(upload, str) else b""
    try:
        if len(content) > MAX_CSV_BYTES:
            raise InvalidInput(translate(locale, "The file is larger than 5 MB."))
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(translate(locale, "The file is not UTF-8 text.")) from None
        result = await context.orders.import_csv(text, created_by=principal.user.id)
    except InvalidInput as exc:
        return await _render(request, context, locale, error=exc.message, status_code=422)
    created, updated = result.created, result.updated
    await audit(request, AuditAction.ORDER_CHANGED, "orders", op="imported", created=created, updated=updated)
    note = translate(locale, "%(created)s order(s) added, %(updated)s updated") % {
        "created": created,
        "updated": updated,
    }
    return await _render(request, context, locale, note=note, error="; ".join(result.errors[:10]) or None)


_PROFILE_FIELDS = ("name", "listing_id", "sku", "file_id", "units_per_plate", "material_type")


def _profile_form(form: FormData, locale: str) -> tuple[ProfileDraft, dict[str, str]]:
    """The profile of one part the form describes, and what was typed. Raises InvalidInput (in the page's words)."""
    typed = {name: form_text(form, name, 120) for name in _PROFILE_FIELDS}
    typed["allow_personalisation"] = "on" if form.get("allow_personalisation") == "on" else ""
    try:
        file_id = int(typed["file_id"])
        units = int(typed["units_per_plate"] or "1")
    except ValueError:
        raise InvalidInput(translate(locale, "Choose a file and give the units per plate as a number.")) from None
    draft = ProfileDraft(
        name=typed["name"],
        listing_id=typed["listing_id"][:64],
        sku=typed["sku"] or None,
        parts=(ProfilePart(file_id=file_id, units_per_plate=units, material_type=typed["material_type"][:32] or None),),
        allow_personalisation=bool(typed["allow_personalisation"]),
    )
    return draft, typed


@router.post("/ui/product-profiles", dependencies=[SameSite, requires(Permission.ORDERS_MANAGE)])
async def add_profile(request: Request, context: Context, locale: Locale) -> Response:
    """Add a product profile of one part from the form (the REST API takes several parts and variations)."""
    form = await request.form()
    typed: dict[str, str] = {}
    try:
        draft, typed = _profile_form(form, locale)
        await context.files.get(draft.parts[0].file_id)
        profile = await context.orders.add_profile(draft)
    except ServiceError as exc:
        return await _render(request, context, locale, error=exc.message, status_code=422, typed=typed)
    await audit(request, AuditAction.PRODUCT_PROFILE_CHANGED, f"product_profile:{profile.id}", op="added")
    return await _render(request, context, locale, note=translate(locale, "Added %(name)s") % {"name": profile.name})


@router.post("/ui/product-profiles/test", dependencies=[SameSite, requires(Permission.ORDERS_MANAGE)])
async def test_profile(request: Request, context: Context, locale: Locale) -> Response:
    """Try the form's match rule on the recent orders without saving it: the lines it covers, and for each whether
    it would print them or a more specific profile would."""
    form = await request.form()
    typed: dict[str, str] = {}
    try:
        draft, typed = _profile_form(form, locale)
        if not draft.listing_id.strip():
            raise InvalidInput(translate(locale, "Give the listing id the rule matches."))
    except ServiceError as exc:
        return await _render(request, context, locale, error=exc.message, status_code=422, typed=typed)
    recent, _ = await context.orders.list_orders(OrderQuery(limit=TRIED_ORDERS))
    trial = try_rule(draft, recent, await context.orders.profiles())
    return await _render(request, context, locale, trial=trial, typed=typed)


@router.post("/ui/product-profiles/{profile_id}/delete", dependencies=[SameSite, requires(Permission.ORDERS_MANAGE)])
async def delete_profile(request: Request, profile_id: OrderId, context: Context, locale: Locale) -> Response:
    """Delete a product profile (the lines it matched keep their prints; new lines match the others)."""
    try:
        await context.orders.delete_profile(profile_id)
    except ServiceError as exc:
        return await _render(request, context, locale, error=exc.message, status_code=404)
    await audit(request, AuditAction.PRODUCT_PROFILE_CHANGED, f"product_profile:{profile_id}", op="deleted")
    return await _render(request, context, locale, note=translate(locale, "Profile deleted"))


@router.post("/ui/shops/etsy/connect", dependencies=[SameSite, requires(Permission.SETTINGS_MANAGE)])
async def connect_etsy(request: Request, context: Context, locale: Locale) -> Response:
    """Send the admin's browser to Etsy to approve printfleet (Etsy sends it back to the callback)."""
    if context.shop_connector is None:
        error = translate(locale, "Etsy is not configured: set etsy.keystring and etsy.shared_secret.")
        return await _render(request, context, locale, error=error, status_code=409)
    try:
        url = await context.shop_connector.begin()
    except ServiceError as exc:
        return await _render(request, context, locale, error=exc.message, status_code=409)
    await audit(request, AuditAction.SETTINGS_CHANGED, "shop:etsy", op="connect_started")
    return RedirectResponse(url, status_code=303)


@router.get("/ui/shops/etsy/callback", dependencies=[requires(Permission.SETTINGS_MANAGE)])
async def etsy_callback(
    request: Request,
    context: Context,
    locale: Locale,
    code: Annotated[str | None, Query(max_length=2000)] = None,
    state: Annotated[str | None, Query(max_length=200)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Where Etsy sends the admin back: the code is traded for tokens (kept sealed) and the shop is polled."""
    if context.shop_connector is None:
        return await _render(request, context, locale, error="Etsy is not configured.", status_code=409)
    if error or not code or not state:
        message = translate(locale, "Etsy did not connect the shop: %(reason)s") % {"reason": error or "no code"}
        return await _render(request, context, locale, error=message, status_code=400)
    try:
        await context.shop_connector.finish(code=code, state=state)
    except ServiceError as exc:
        return await _render(request, context, locale, error=exc.message, status_code=400)
    await audit(request, AuditAction.SETTINGS_CHANGED, "shop:etsy", op="connected")
    return await _render(request, context, locale, note=translate(locale, "Etsy shop connected"))


@router.post("/ui/shops/etsy/poll", dependencies=[SameSite, requires(Permission.ORDERS_MANAGE)])
async def poll_etsy(request: Request, context: Context, locale: Locale) -> Response:
    """Poll the Etsy shop now."""
    if context.shop is None:
        return await _render(request, context, locale, error="Etsy is not configured.", status_code=409)
    received = await context.shop.poll()
    note = translate(locale, "%(count)s order(s) received from Etsy") % {"count": received}
    return await _render(request, context, locale, note=note)
