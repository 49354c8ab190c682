"""``/api/v1/vendors``, ``/api/v1/filaments``, ``/api/v1/spools``: the filament inventory.

Reading needs ``materials.read``; every change ``materials.manage`` and is audited (``material_added``,
``material_updated`` with the fields or the operation, ``material_removed``). A refused value answers 422 with
``field`` naming it; an unknown id 404; deleting a vendor or filament still named, or a ``tray_uuid`` another spool
has, 409.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from printfleet.api.auth import audit, requires
from printfleet.api.context import ContextDep
from printfleet.api.errors import responses
from printfleet.api.material_schemas import (
    MAX_ID,
    NO_CONTROL,
    FilamentCreate,
    FilamentList,
    FilamentPublic,
    FilamentUpdate,
    SpoolCreate,
    SpoolList,
    SpoolMeasure,
    SpoolPublic,
    SpoolUpdate,
    SpoolUse,
    VendorCreate,
    VendorList,
    VendorPublic,
    VendorUpdate,
)
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.materials import FilamentQuery, SpoolQuery, VendorQuery

router = APIRouter(prefix="/api/v1", tags=["materials"])

Reader = [requires(Permission.MATERIALS_READ)]
Manager = [requires(Permission.MATERIALS_MANAGE)]
VendorId = Annotated[int, Path(ge=1, le=MAX_ID, description="The vendor's id.")]
FilamentId = Annotated[int, Path(ge=1, le=MAX_ID, description="The filament's id.")]
SpoolId = Annotated[int, Path(ge=1, le=MAX_ID, description="The spool's id.")]
Search = Annotated[str | None, Query(max_length=100, pattern=NO_CONTROL, description="Part of a name (any case).")]
Material = Annotated[str | None, Query(max_length=32, pattern=NO_CONTROL, description="e.g. PLA (any case).")]
VendorFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="A vendor id.")]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]


# Vendors


@router.get("/vendors", response_model=VendorList, dependencies=Reader, responses=responses())
async def list_vendors(context: ContextDep, search: Search = None, limit: Limit = 50, offset: Offset = 0) -> VendorList:
    """Vendors by name, with the total matching."""
    vendors, total = await context.materials.list_vendors(VendorQuery(search=search, limit=limit, offset=offset))
    return VendorList(vendors=[VendorPublic.from_domain(vendor) for vendor in vendors], total=total)


@router.post(
    "/vendors",
    response_model=VendorPublic,
    status_code=status.HTTP_201_CREATED,
    dependencies=Manager,
    responses=responses(),
)
async def add_vendor(body: VendorCreate, request: Request, context: ContextDep) -> VendorPublic:
    """Add a vendor."""
    vendor = await context.materials.add_vendor(body.to_domain())
    await audit(request, AuditAction.MATERIAL_ADDED, f"vendor:{vendor.id}", name=vendor.name)
    return VendorPublic.from_domain(vendor)


@router.get("/vendors/{vendor_id}", response_model=VendorPublic, dependencies=Reader, responses=responses(404))
async def get_vendor(vendor_id: VendorId, context: ContextDep) -> VendorPublic:
    """One vendor."""
    return VendorPublic.from_domain(await context.materials.get_vendor(vendor_id))


@router.patch("/vendors/{vendor_id}", response_model=VendorPublic, dependencies=Manager, responses=responses(404))
async def update_vendor(vendor_id: VendorId, body: VendorUpdate, request: Request, context: ContextDep) -> VendorPublic:
    """Change the fields sent."""
    changes = body.changes()
    vendor = await context.materials.update_vendor(vendor_id, changes)
    await audit(request, AuditAction.MATERIAL_UPDATED, f"vendor:{vendor_id}", fields=sorted(changes))
    return VendorPublic.from_domain(vendor)


@router.delete(
    "/vendors/{vendor_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=Manager,
    responses=responses(404, 409),
)
async def delete_vendor(vendor_id: VendorId, request: Request, context: ContextDep) -> Response:
    """Delete a vendor; 409 while a filament names it."""
    await context.materials.delete_vendor(vendor_id)
    await audit(request, AuditAction.MATERIAL_REMOVED, f"vendor:{vendor_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Filaments


@router.get("/filaments", response_model=FilamentList, dependencies=Reader, responses=responses())
async def list_filaments(
    context: ContextDep,
    material: Material = None,
    vendor: VendorFilter = None,
    search: Search = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> FilamentList:
    """Filaments by vendor, material and name, with the total matching. ``search`` looks in the name, material and
    vendor name."""
    query = FilamentQuery(material=material, vendor_id=vendor, search=search, limit=limit, offset=offset)
    filaments, total = await context.materials.list_filaments(query)
    return FilamentList(filaments=[FilamentPublic.from_domain(filament) for filament in filaments], total=total)


@router.post(
    "/filaments",
    response_model=FilamentPublic,
    status_code=status.HTTP_201_CREATED,
    dependencies=Manager,
    responses=responses(409),
)
async def add_filament(body: FilamentCreate, request: Request, context: ContextDep) -> FilamentPublic:
    """Add a filament; 422 (``field``: ``vendor_id``) for an unknown vendor."""
    filament = await context.materials.add_filament(body.to_domain())
    await audit(request, AuditAction.MATERIAL_ADDED, f"filament:{filament.id}", material=filament.material)
    return FilamentPublic.from_domain(filament)


@router.get("/filaments/{filament_id}", response_model=FilamentPublic, dependencies=Reader, responses=responses(404))
async def get_filament(filament_id: FilamentId, context: ContextDep) -> FilamentPublic:
    """One filament with its vendor."""
    return FilamentPublic.from_domain(await context.materials.get_filament(filament_id))


@router.patch(
    "/filaments/{filament_id}", response_model=FilamentPublic, dependencies=Manager, responses=responses(404, 409)
)
async def update_filament(
    filament_id: FilamentId, body: FilamentUpdate, request: Request, context: ContextDep
) -> FilamentPublic:
    """Change the fields sent (the temperature ranges and the one-price rule are checked on the result)."""
    changes = body.changes()
    filament = await context.materials.update_filament(filament_id, changes)
    await audit(request, AuditAction.MATERIAL_UPDATED, f"filament:{filament_id}", fields=sorted(changes))
    return FilamentPublic.from_domain(filament)


@router.delete(
    "/filaments/{filament_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=Manager,
    responses=responses(404, 409),
)
async def delete_filament(filament_id: FilamentId, request: Request, context: ContextDep) -> Response:
    """Delete a filament; 409 while a spool (archived or not) names it."""
    await context.materials.delete_filament(filament_id)
    await audit(request, AuditAction.MATERIAL_REMOVED, f"filament:{filament_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Spools


@router.get("/spools", response_model=SpoolList, dependencies=Reader, responses=responses())
async def list_spools(
    context: ContextDep,
    material: Material = None,
    vendor: VendorFilter = None,
    filament: Annotated[int | None, Query(ge=1, le=MAX_ID, description="A filament id.")] = None,
    location: Annotated[str | None, Query(max_length=64, pattern=NO_CONTROL, description="Exact (any case).")] = None,
    archived: Annotated[bool, Query(description="true: archived spools only; false (default): the others.")] = False,
    search: Search = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> SpoolList:
    """Spools, newest first, with the total matching. ``search`` looks in the filament name, material, vendor name,
    location, lot and comment."""
    query = SpoolQuery(
        material=material,
        vendor_id=vendor,
        filament_id=filament,
        location=location,
        archived=archived,
        search=search,
        limit=limit,
        offset=offset,
    )
    spools, total = await context.materials.list_spools(query)
    return SpoolList(spools=[SpoolPublic.from_domain(spool) for spool in spools], total=total)


@router.post(
    "/spools",
    response_model=SpoolPublic,
    status_code=status.HTTP_201_CREATED,
    dependencies=Manager,
    responses=responses(409),
)
async def add_spool(body: SpoolCreate, request: Request, context: ContextDep) -> SpoolPublic:
    """Add a spool; 422 (``field``: ``filament_id``) for an unknown filament, 409 for a ``tray_uuid`` another spool
    has."""
    spool = await context.materials.add_spool(body.filament_id, body.values())
    await audit(request, AuditAction.MATERIAL_ADDED, f"spool:{spool.id}", filament_id=spool.filament_id)
    return SpoolPublic.from_domain(spool)


@router.get("/spools/{spool_id}", response_model=SpoolPublic, dependencies=Reader, responses=responses(404))
async def get_spool(spool_id: SpoolId, context: ContextDep) -> SpoolPublic:
    """One spool with its filament and vendor."""
    return SpoolPublic.from_domain(await context.materials.get_spool(spool_id))


@router.patch("/spools/{spool_id}", response_model=SpoolPublic, dependencies=Manager, responses=responses(404, 409))
async def update_spool(spool_id: SpoolId, body: SpoolUpdate, request: Request, context: ContextDep) -> SpoolPublic:
    """Change the fields sent; ``remaining_weight_g`` sets the used weight."""
    changes = body.changes()
    spool = await context.materials.update_spool(spool_id, changes)
    await audit(request, AuditAction.MATERIAL_UPDATED, f"spool:{spool_id}", fields=sorted(changes))
    return SpoolPublic.from_domain(spool)


@router.delete(
    "/spools/{spool_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=Manager, responses=responses(404)
)
async def delete_spool(spool_id: SpoolId, request: Request, context: ContextDep) -> Response:
    """Delete a spool for good (archive it instead to keep it out of the lists)."""
    await context.materials.delete_spool(spool_id)
    await audit(request, AuditAction.MATERIAL_REMOVED, f"spool:{spool_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/spools/{spool_id}/archive", response_model=SpoolPublic, dependencies=Manager, responses=responses(404))
async def archive_spool(spool_id: SpoolId, request: Request, context: ContextDep) -> SpoolPublic:
    """Archive a spool (used up or put away): it leaves the default lists."""
    spool = await context.materials.set_archived(spool_id, True)
    await audit(request, AuditAction.MATERIAL_UPDATED, f"spool:{spool_id}", operation="archive")
    return SpoolPublic.from_domain(spool)


@router.post("/spools/{spool_id}/unarchive", response_model=SpoolPublic, dependencies=Manager, responses=responses(404))
async def unarchive_spool(spool_id: SpoolId, request: Request, context: ContextDep) -> SpoolPublic:
    """Bring an archived spool back."""
    spool = await context.materials.set_archived(spool_id, False)
    await audit(request, AuditAction.MATERIAL_UPDATED, f"spool:{spool_id}", operation="unarchive")
    return SpoolPublic.from_domain(spool)


@router.put("/spools/{spool_id}/use", response_model=SpoolPublic, dependencies=Manager, responses=responses(404))
async def use_spool(spool_id: SpoolId, body: SpoolUse, request: Request, context: ContextDep) -> SpoolPublic:
    """Record filament used from the spool: ``use_weight`` grams or ``use_length`` millimetres, exactly one (422
    otherwise). Each call adds (not idempotent); negative gives filament back, never below unused."""
    spool = await context.materials.use(spool_id, weight_g=body.use_weight, length_mm=body.use_length)
    detail = {"use_weight": body.use_weight} if body.use_weight is not None else {"use_length": body.use_length}
    await audit(request, AuditAction.MATERIAL_UPDATED, f"spool:{spool_id}", operation="use", **detail)
    return SpoolPublic.from_domain(spool)


@router.put("/spools/{spool_id}/measure", response_model=SpoolPublic, dependencies=Manager, responses=responses(404))
async def measure_spool(spool_id: SpoolId, body: SpoolMeasure, request: Request, context: ContextDep) -> SpoolPublic:
    """Set the spool's remaining filament from a weighing: ``weight`` is the gross weight (spool and filament) in
    grams, the empty spool's weight (``tare_g``) is taken off. 422 (``field``: ``spool_weight_g``) when the empty
    spool's weight is unknown; a net weight above the initial weight becomes the new initial weight."""
    spool = await context.materials.measure(spool_id, body.weight)
    await audit(request, AuditAction.MATERIAL_UPDATED, f"spool:{spool_id}", operation="measure", weight=body.weight)
    return SpoolPublic.from_domain(spool)


class SpoolmanStatus(BaseModel):
    """``GET /api/v1/spoolman``: whether usage is reported to Spoolman, whether it answers, and the reports by state
    (``pending`` waiting to be sent or sent again, ``sent``, ``failed`` refused for good, ``gone`` its spool was
    deleted in Spoolman)."""

    configured: bool
    reachable: bool | None = Field(description="Null when not configured.")
    reports: dict[str, int]


@router.get("/spoolman", response_model=SpoolmanStatus, dependencies=Reader, responses=responses())
async def spoolman_status(context: ContextDep) -> SpoolmanStatus:
    """The Spoolman link's state (``spoolman.url``); never the URL's headers."""
    reporter = context.spoolman
    if reporter is None:
        return SpoolmanStatus(configured=False, reachable=None, reports={})
    counts = await reporter.counts()
    return SpoolmanStatus(
        configured=True, reachable=await reporter.healthy(), reports={state.value: n for state, n in counts.items()}
    )
