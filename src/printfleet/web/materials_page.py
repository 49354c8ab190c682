"""The Materials page (``/materials``): spools with colour swatches and remaining-weight bars, filters, add / edit /
weigh / archive, and per printer its slots with the spools in them (assign a spool to a slot).

Reading needs ``materials.read``; every form ``materials.manage``, a same-site request, and is audited as the REST
routes are (``material_added``, ``material_updated``). Forms post and redirect back (303), so the page works without
script; a refused value comes back as the page with the reason shown.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from printfleet.api.auth import audit, requires
from printfleet.api.material_schemas import MAX_ID
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.materials import FilamentFields, FilamentQuery, InvalidMaterial, SpoolQuery
from printfleet.domain.materials.units import default_density
from printfleet.services.errors import Conflict, NotFound
from printfleet.web.pages import Context, Locale, SameSite, html, page, translate

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Query(max_length=100)]
SpoolId = Annotated[int, Form(ge=1, le=MAX_ID)]
PAGE_SIZE = 200


def _back(message: str | None = None, *, error: bool = False) -> RedirectResponse:
    target = "/materials"
    if message:
        target += "?" + urlencode({"error" if error else "done": message})
    return RedirectResponse(target, status_code=303)


def _number(value: str | None) -> float | None:
    text = (value or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidMaterial("number", f"{value!r} is not a number") from None


async def _view(context: Context, *, search: str, material: str, archived: bool) -> dict[str, Any]:
    query = SpoolQuery(
        search=search.strip() or None, material=material.strip() or None, archived=archived, limit=PAGE_SIZE
    )
    spools, total = await context.materials.list_spools(query)
    filaments, _ = await context.materials.list_filaments(FilamentQuery(limit=500))
    active, _ = await context.materials.list_spools(SpoolQuery(limit=500))
    printers = []
    for config, _status in await context.printers.list():
        try:
            slots = await context.slots.printer_slots(config.id)
        except NotFound:
            slots = []
        printers.append((config, slots))
    return {
        "spools": spools,
        "total": total,
        "filaments": filaments,
        "assignable": active,
        "materials": sorted({f.material for f in filaments}),
        "printers": printers,
        "search": search,
        "material": material,
        "archived": archived,
        "low_stock_g": context.slots.low_stock_grams,
    }


@router.get("/materials", dependencies=[requires(Permission.MATERIALS_READ)])
async def materials_page(
    request: Request,
    context: Context,
    locale: Locale,
    search: Text = "",
    material: Text = "",
    archived: bool = False,
    done: Text = "",
    error: Text = "",
) -> Response:
    """Spools (filtered) and each printer's slots."""
    values = await _view(context, search=search, material=material, archived=archived)
    title = translate(locale, "Materials")
    body = page(request, locale, "materials.html", page_name="materials", title=title, done=done, error=error, **values)
    return html(body)


@router.post("/ui/filaments", dependencies=[SameSite, requires(Permission.MATERIALS_MANAGE)])
async def add_filament(
    request: Request,
    context: Context,
    material: Annotated[str, Form(max_length=32)],
    name: Annotated[str, Form(max_length=64)] = "",
    color: Annotated[str, Form(max_length=9)] = "",
    net_weight_g: Annotated[str, Form(max_length=16)] = "",
    price_per_kg: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Add a filament (density from the material's typical one)."""
    try:
        filament = await context.materials.add_filament(
            FilamentFields(
                material=material,
                name=name or None,
                color_hex=color or None,
                density_g_cm3=default_density(material.strip() or "PLA"),
                net_weight_g=_number(net_weight_g),
                price_per_kg=_number(price_per_kg),
            )
        )
    except InvalidMaterial as exc:
        return _back(f"{exc.field}: {exc.message}", error=True)
    await audit(request, AuditAction.MATERIAL_ADDED, f"filament:{filament.id}", material=filament.material)
    return _back(filament.name or filament.material)


@router.post("/ui/spools", dependencies=[SameSite, requires(Permission.MATERIALS_MANAGE)])
async def add_spool(
    request: Request,
    context: Context,
    filament_id: SpoolId,
    initial_weight_g: Annotated[str, Form(max_length=16)] = "",
    location: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Add a spool of a filament."""
    values: dict[str, Any] = {"location": location or None}
    try:
        weight = _number(initial_weight_g)
        if weight is not None:
            values["initial_weight_g"] = weight
        spool = await context.materials.add_spool(filament_id, values)
    except InvalidMaterial as exc:
        return _back(f"{exc.field}: {exc.message}", error=True)
    await audit(request, AuditAction.MATERIAL_ADDED, f"spool:{spool.id}", filament_id=spool.filament_id)
    return _back(f"#{spool.id}")


@router.post("/ui/spools/{spool_id}/edit", dependencies=[SameSite, requires(Permission.MATERIALS_MANAGE)])
async def edit_spool(
    request: Request,
    context: Context,
    spool_id: int,
    location: Annotated[str, Form(max_length=64)] = "",
    comment: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Change a spool's location and comment."""
    changes = {"location": location or None, "comment": comment or None}
    try:
        await context.materials.update_spool(spool_id, changes)
    except (InvalidMaterial, NotFound, Conflict) as exc:
        return _back(str(exc), error=True)
    await audit(request, AuditAction.MATERIAL_UPDATED, f"spool:{spool_id}", fields=sorted(changes))
    return _back(f"#{spool_id}")


@router.post("/ui/spools/{spool_id}/measure", dependencies=[SameSite, requires(Permission.MATERIALS_MANAGE)])
async def weigh_spool(
    request: Request, context: Context, spool_id: int, weight: Annotated[str, Form(max_length=16)]
) -> Response:
    """Set a spool's remaining filament from a weighing (gross grams, spool included)."""
    try:
        gross = _number(weight)
        if gross is None:
            raise InvalidMaterial("weight", "give the weight in grams")
        await context.materials.measure(spool_id, gross)
    except (InvalidMaterial, NotFound) as exc:
        return _back(str(exc), error=True)
    await audit(request, AuditAction.MATERIAL_UPDATED, f"spool:{spool_id}", operation="measure", weight=gross)
    return _back(f"#{spool_id}")


@router.post("/ui/spools/{spool_id}/archive", dependencies=[SameSite, requires(Permission.MATERIALS_MANAGE)])
async def archive_spool(
    request: Request, context: Context, spool_id: int, archived: Annotated[bool, Form()] = True
) -> Response:
    """Archive a spool (hide it from the default list), or bring it back."""
    try:
        await context.materials.set_archived(spool_id, archived)
    except NotFound as exc:
        return _back(str(exc), error=True)
    operation = "archive" if archived else "unarchive"
    await audit(request, AuditAction.MATERIAL_UPDATED, f"spool:{spool_id}", operation=operation)
    return _back(f"#{spool_id}")


@router.post("/ui/printers/{printer_id}/slots/{slot}", dependencies=[SameSite, requires(Permission.MATERIALS_MANAGE)])
async def assign_slot(
    request: Request,
    context: Context,
    printer_id: str,
    slot: str,
    spool_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Say which spool is in a printer's slot (empty: none)."""
    try:
        chosen = int(spool_id) if spool_id.strip() else None
        loaded = await context.slots.assign(printer_id, slot, spool_id=chosen)
    except ValueError:
        return _back("spool_id: not a spool", error=True)
    except (InvalidMaterial, NotFound) as exc:
        return _back(str(exc), error=True)
    await audit(request, AuditAction.MATERIAL_UPDATED, f"slot:{printer_id}:{loaded.record.slot}", spool_id=chosen)
    return _back(f"{printer_id} {loaded.record.slot}")
