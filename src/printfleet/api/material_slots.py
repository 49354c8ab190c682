"""The printers' material slots: ``/api/v1/printers/{id}/slots`` and the planning document's compatible
``/api/bambu/materials`` endpoints.

Reading needs ``materials.read``; assigning ``materials.manage`` and is audited (``material_updated`` on
``slot:<printer>:<label>`` with the spool). Slot labels: ``AMS0-T0`` … ``AMS3-T3`` (AMS unit and tray), ``AMS128-T0``
(AMS HT), ``EXT254``/``EXT255`` (external spool; 255 the right nozzle of an H2D), ``T0`` … (tools of PrusaLink,
OctoPrint and Klipper printers). Grams left (``weight_grams``, ``grams_left``): the AMS estimate (``remain`` % of the
RFID tag's net weight) when the printer knows it, else the assigned spool's remaining weight; null when unknown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from printfleet.api.auth import audit, requires
from printfleet.api.context import ContextDep
from printfleet.api.errors import responses
from printfleet.api.material_schemas import MAX_ID, NO_CONTROL, Color, SpoolPublic
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.services.materials.slots import LoadedSlot

router = APIRouter(tags=["materials"])

Reader = [requires(Permission.MATERIALS_READ)]
Manager = [requires(Permission.MATERIALS_MANAGE)]
PrinterId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
SlotLabel = Annotated[str, Path(max_length=16, pattern=r"^[A-Za-z0-9-]+$", examples=["AMS0-T1", "EXT254", "T0"])]
MaterialType = Annotated[str, Field(max_length=32, pattern=NO_CONTROL, examples=["PLA"])]


class SlotPublic(BaseModel):
    """One slot. ``present``: a spool is in it (tools: one was assigned); ``material_type``, ``color``
    (``RRGGBBAA``), ``tray_uuid`` and ``remaining_pct`` (AMS estimate, %) as the printer last reported them;
    ``active``: it feeds the nozzle; ``spool`` the inventory spool in it; ``grams_left`` grams (null: unknown);
    ``loaded_at`` when the spool went in; ``last_synced`` when the printer last reported it."""

    id: int | None
    printer_id: str
    slot: str
    present: bool
    active: bool
    material_type: str | None
    color: str | None
    tray_uuid: str | None
    remaining_pct: int | None
    grams_left: float | None
    spool_id: int | None
    spool: SpoolPublic | None
    loaded_at: datetime | None
    last_synced: datetime | None

    @classmethod
    def from_domain(cls, loaded: LoadedSlot) -> SlotPublic:
        """The API view of a slot."""
        record = loaded.record
        return cls(
            id=record.id,
            printer_id=record.printer_id,
            slot=record.slot,
            present=record.present,
            active=record.active,
            material_type=record.material_type,
            color=record.color,
            tray_uuid=record.tray_uuid,
            remaining_pct=record.remaining_pct,
            grams_left=loaded.grams_left,
            spool_id=record.spool_id,
            spool=SpoolPublic.from_domain(loaded.spool) if loaded.spool is not None else None,
            loaded_at=record.loaded_at,
            last_synced=record.last_synced,
        )


class SlotList(BaseModel):
    """A printer's slots in the printer's order (AMS units and trays, AMS HT, external spools, tools)."""

    slots: list[SlotPublic]


class SlotAssign(BaseModel):
    """What is in the slot: an inventory spool (``spool_id``; null empties the slot's spool), or without one a
    material type and colour."""

    model_config = ConfigDict(extra="forbid")
    spool_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    material_type: MaterialType | None = None
    color: Color | None = None


class BambuMaterial(BaseModel):
    """A slot in the planning document's shape: ``id`` the slot's record id, ``slot`` its label, ``weight_grams``
    grams left (null: unknown), ``remaining_pct`` %, ``vendor`` and ``cost_per_kg`` from the assigned spool's
    filament (``cost_per_kg`` from the price per kg, else the price per spool over its net weight)."""

    id: int | None
    printer_id: str
    slot: str
    material_type: str | None
    color: str | None
    weight_grams: float | None
    remaining_pct: int | None
    vendor: str | None
    cost_per_kg: float | None
    loaded_at: datetime | None
    last_synced: datetime | None

    @classmethod
    def from_domain(cls, loaded: LoadedSlot) -> BambuMaterial:
        """The compatible view of a slot."""
        record, spool = loaded.record, loaded.spool
        filament = spool.filament if spool is not None else None
        cost: float | None = None
        if filament is not None:
            if filament.price_per_kg is not None:
                cost = filament.price_per_kg
            elif filament.price_per_spool is not None and filament.net_weight_g:
                cost = round(filament.price_per_spool / filament.net_weight_g * 1000, 4)
        return cls(
            id=record.id,
            printer_id=record.printer_id,
            slot=record.slot,
            material_type=record.material_type,
            color=record.color,
            weight_grams=loaded.grams_left,
            remaining_pct=record.remaining_pct,
            vendor=filament.vendor.name if filament is not None and filament.vendor is not None else None,
            cost_per_kg=cost,
            loaded_at=record.loaded_at,
            last_synced=record.last_synced,
        )


class BambuMaterialLoad(SlotAssign):
    """Load a material in a slot: its label (``slot``) and what is in it."""

    slot: Annotated[str, Field(max_length=16, pattern=r"^[A-Za-z0-9-]+$", examples=["AMS0-T1"])]


@router.get(
    "/api/v1/printers/{printer_id}/slots", response_model=SlotList, dependencies=Reader, responses=responses(404)
)
async def printer_slots(printer_id: PrinterId, context: ContextDep) -> SlotList:
    """The printer's material slots with the spools in them."""
    return SlotList(slots=[SlotPublic.from_domain(slot) for slot in await context.slots.printer_slots(printer_id)])


@router.put(
    "/api/v1/printers/{printer_id}/slots/{slot}",
    response_model=SlotPublic,
    dependencies=Manager,
    responses=responses(404),
)
async def assign_slot(
    printer_id: PrinterId, slot: SlotLabel, body: SlotAssign, request: Request, context: ContextDep
) -> SlotPublic:
    """Say which spool (or material) is in a slot. A tool or an untagged AMS spool is only known this way; an RFID
    spool is matched from its tag again when the printer reports the slot changed."""
    loaded = await context.slots.assign(
        printer_id, slot, spool_id=body.spool_id, material_type=body.material_type, color=body.color
    )
    await audit(
        request, AuditAction.MATERIAL_UPDATED, f"slot:{printer_id}:{loaded.record.slot}", spool_id=body.spool_id
    )
    return SlotPublic.from_domain(loaded)


@router.get(
    "/api/bambu/materials/{printer_id}",
    response_model=list[BambuMaterial],
    dependencies=Reader,
    responses=responses(404),
)
async def bambu_materials(printer_id: PrinterId, context: ContextDep) -> list[BambuMaterial]:
    """The printer's slots in the planning document's shape."""
    return [BambuMaterial.from_domain(slot) for slot in await context.slots.printer_slots(printer_id)]


@router.post(
    "/api/bambu/materials/{printer_id}",
    response_model=BambuMaterial,
    dependencies=Manager,
    responses=responses(404),
)
async def load_bambu_material(
    printer_id: PrinterId, body: BambuMaterialLoad, request: Request, context: ContextDep
) -> BambuMaterial:
    """Load a material (an inventory spool, or a material type and colour) in a slot of the printer."""
    loaded = await context.slots.assign(
        printer_id, body.slot, spool_id=body.spool_id, material_type=body.material_type, color=body.color
    )
    await audit(
        request, AuditAction.MATERIAL_UPDATED, f"slot:{printer_id}:{loaded.record.slot}", spool_id=body.spool_id
    )
    return BambuMaterial.from_domain(loaded)


@router.put(
    "/api/bambu/materials/{material_id}",
    response_model=BambuMaterial,
    dependencies=Manager,
    responses=responses(404),
)
async def update_bambu_material(
    material_id: Annotated[int, Path(ge=1, le=MAX_ID, description="The slot record's id.")],
    body: SlotAssign,
    request: Request,
    context: ContextDep,
) -> BambuMaterial:
    """Change what is in a slot, named by its record id (``id`` of the GET answer)."""
    current = await context.slots.slot_by_row(material_id)
    record = current.record
    loaded = await context.slots.assign(
        record.printer_id, record.slot, spool_id=body.spool_id, material_type=body.material_type, color=body.color
    )
    await audit(
        request, AuditAction.MATERIAL_UPDATED, f"slot:{record.printer_id}:{record.slot}", spool_id=body.spool_id
    )
    return BambuMaterial.from_domain(loaded)
