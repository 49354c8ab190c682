"""The filament inventory's use cases: vendors, filaments and spools; using filament from a spool and weighing it.

Values are checked by the domain (:class:`~printfleet.domain.materials.InvalidMaterial` names the field, HTTP 422);
an unknown id raises a :class:`~printfleet.services.errors.NotFound` (404); deleting a vendor or filament that is
still named raises :class:`MaterialInUse` and a duplicate RFID id a :class:`~printfleet.services.errors.Conflict`
(409). Spool changes run inside one store transaction (:meth:`MaterialRepository.modify_spool`), so concurrent uses
of one spool add up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from printfleet.domain.materials import (
    Filament,
    FilamentFields,
    FilamentQuery,
    InvalidMaterial,
    Spool,
    SpoolQuery,
    Vendor,
    VendorFields,
    VendorQuery,
    edit_filament,
    edit_vendor,
)
from printfleet.domain.materials import spools as spool_rules
from printfleet.domain.materials.rfid import rfid_draft, same_filament
from printfleet.domain.materials.slots import Slot
from printfleet.services.errors import Conflict, NotFound
from printfleet.services.materials.ports import MaterialRepository


class VendorNotFound(NotFound):
    """No vendor has this id."""

    def __init__(self, vendor_id: int) -> None:
        super().__init__(f"no vendor with id {vendor_id}")


class FilamentNotFound(NotFound):
    """No filament has this id."""

    def __init__(self, filament_id: int) -> None:
        super().__init__(f"no filament with id {filament_id}")


class SpoolNotFound(NotFound):
    """No spool has this id."""

    def __init__(self, spool_id: int) -> None:
        super().__init__(f"no spool with id {spool_id}")


class MaterialInUse(Conflict):
    """A vendor or filament cannot be deleted while filaments or spools name it (HTTP 409)."""


class MaterialsService:
    """Vendors, filaments and spools kept in ``repository``; ``clock`` gives aware UTC times."""

    def __init__(
        self, *, repository: MaterialRepository, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._catalog_lock = asyncio.Lock()  # one find-or-add of a vendor or filament at a time in this process

    # Vendors

    async def vendor_named(self, name: str) -> Vendor:
        """The vendor called ``name`` (any case; the oldest when several are), added when there is none. Finding and
        adding run one at a time in this process, so an AMS tag and Spoolman's feed naming one new vendor at the same
        moment make it once. Raises InvalidMaterial."""
        async with self._catalog_lock:
            vendors, _ = await self.list_vendors(VendorQuery(search=name, limit=500))
            named = [vendor for vendor in vendors if vendor.name.lower() == name.lower()]
            if named:
                return min(named, key=lambda vendor: vendor.id)
            return await self.add_vendor(VendorFields(name=name))

    async def filament_like(self, draft: FilamentFields) -> Filament:
        """The filament of ``draft.vendor_id`` that ``draft`` describes (same material, name, colour and diameter;
        the oldest when several are), added from ``draft`` when there is none; one find-or-add at a time, as
        :meth:`vendor_named`. Raises InvalidMaterial."""
        async with self._catalog_lock:
            filaments, _ = await self.list_filaments(
                FilamentQuery(material=draft.material, vendor_id=draft.vendor_id, limit=500)
            )
            alike = [f for f in filaments if f.vendor_id == draft.vendor_id and same_filament(f, draft)]
            if alike:
                return min(alike, key=lambda filament: filament.id)
            return await self.add_filament(draft)

    async def add_vendor(self, vendor: VendorFields) -> Vendor:
        """Add a vendor. Raises InvalidMaterial naming a refused field."""
        return await self._repository.add_vendor(vendor.checked(), at=self._clock())

    async def get_vendor(self, vendor_id: int) -> Vendor:
        """The vendor. Raises VendorNotFound."""
        vendor = await self._repository.get_vendor(vendor_id)
        if vendor is None:
            raise VendorNotFound(vendor_id)
        return vendor

    async def list_vendors(self, query: VendorQuery) -> tuple[list[Vendor], int]:
        """A page of vendors by name, and how many match."""
        return await self._repository.list_vendors(query)

    async def update_vendor(self, vendor_id: int, changes: Mapping[str, Any]) -> Vendor:
        """Change the fields in ``changes``. Raises VendorNotFound, InvalidMaterial."""
        fields = edit_vendor(await self.get_vendor(vendor_id), changes)
        updated = await self._repository.update_vendor(vendor_id, fields, at=self._clock())
        if updated is None:
            raise VendorNotFound(vendor_id)
        return updated

    async def delete_vendor(self, vendor_id: int) -> None:
        """Remove a vendor no filament names. Raises VendorNotFound, MaterialInUse."""
        used = await self._repository.vendor_use(vendor_id)
        if used:
            raise MaterialInUse(f"vendor {vendor_id} is named by {used} filament(s); change or delete them first")
        if not await self._repository.delete_vendor(vendor_id):
            raise VendorNotFound(vendor_id)

    # Filaments

    async def _check_vendor(self, vendor_id: int | None) -> None:
        if vendor_id is not None and await self._repository.get_vendor(vendor_id) is None:
            raise InvalidMaterial("vendor_id", f"no vendor with id {vendor_id}")

    async def add_filament(self, filament: FilamentFields) -> Filament:
        """Add a filament. Raises InvalidMaterial naming a refused field (``vendor_id`` for an unknown vendor)."""
        checked = filament.checked()
        await self._check_vendor(checked.vendor_id)
        return await self._repository.add_filament(checked, at=self._clock())

    async def get_filament(self, filament_id: int) -> Filament:
        """The filament with its vendor. Raises FilamentNotFound."""
        filament = await self._repository.get_filament(filament_id)
        if filament is None:
            raise FilamentNotFound(filament_id)
        return filament

    async def list_filaments(self, query: FilamentQuery) -> tuple[list[Filament], int]:
        """A page of filaments, and how many match."""
        return await self._repository.list_filaments(query)

    async def update_filament(self, filament_id: int, changes: Mapping[str, Any]) -> Filament:
        """Change the fields in ``changes``. Raises FilamentNotFound, InvalidMaterial."""
        fields = edit_filament(await self.get_filament(filament_id), changes)
        if "vendor_id" in changes:
            await self._check_vendor(fields.vendor_id)
        updated = await self._repository.update_filament(filament_id, fields, at=self._clock())
        if updated is None:
            raise FilamentNotFound(filament_id)
        return updated

    async def delete_filament(self, filament_id: int) -> None:
        """Remove a filament no spool names. Raises FilamentNotFound, MaterialInUse."""
        used = await self._repository.filament_use(filament_id)
        if used:
            raise MaterialInUse(f"filament {filament_id} is named by {used} spool(s); change or delete them first")
        if not await self._repository.delete_filament(filament_id):
            raise FilamentNotFound(filament_id)

    # Spools

    async def _filament_for(self, filament_id: int) -> Filament:
        filament = await self._repository.get_filament(filament_id)
        if filament is None:
            raise InvalidMaterial("filament_id", f"no filament with id {filament_id}")
        return filament

    async def add_spool(self, filament_id: int, values: Mapping[str, Any]) -> Spool:
        """Add a spool of ``filament_id`` (see :func:`~printfleet.domain.materials.spools.new_spool` for
        ``values``). Raises InvalidMaterial (``filament_id`` for an unknown filament), Conflict for a ``tray_uuid``
        another spool has."""
        filament = await self._filament_for(filament_id)
        return await self._repository.add_spool(spool_rules.new_spool(filament, values), at=self._clock())

    async def get_spool(self, spool_id: int) -> Spool:
        """The spool with its filament and vendor. Raises SpoolNotFound."""
        spool = await self._repository.get_spool(spool_id)
        if spool is None:
            raise SpoolNotFound(spool_id)
        return spool

    async def find_spool(self, tray_uuid: str) -> Spool | None:
        """The spool carrying the RFID id ``tray_uuid`` (any case), or None."""
        return await self._repository.find_spool(tray_uuid.strip().upper())

    async def find_spoolman_spool(self, spoolman_id: int) -> Spool | None:
        """The spool linked to Spoolman spool ``spoolman_id``, or None."""
        return await self._repository.find_spoolman_spool(spoolman_id)

    async def list_spools(self, query: SpoolQuery) -> tuple[list[Spool], int]:
        """A page of spools, newest first, and how many match."""
        return await self._repository.list_spools(query)

    async def update_spool(self, spool_id: int, changes: Mapping[str, Any]) -> Spool:
        """Change the fields in ``changes`` (see :func:`~printfleet.domain.materials.spools.edit_spool`). Raises
        SpoolNotFound, InvalidMaterial, Conflict (``tray_uuid`` of another spool)."""
        if changes.get("filament_id") is not None:
            await self._filament_for(changes["filament_id"])

        def change(spool: Spool) -> Spool:
            fields = spool_rules.edit_spool(spool, changes)
            return replace(spool, **{name: getattr(fields, name) for name in spool_rules.SPOOL_FIELD_NAMES})

        return await self._modify(spool_id, change)

    async def set_archived(self, spool_id: int, archived: bool) -> Spool:
        """Archive (hide from the default lists) or bring back a spool. Raises SpoolNotFound."""
        return await self._modify(spool_id, lambda spool: replace(spool, archived=archived))

    async def use(self, spool_id: int, *, weight_g: float | None = None, length_mm: float | None = None) -> Spool:
        """Record ``weight_g`` grams, or ``length_mm`` millimetres, used from the spool (negative: given back; used
        never goes below 0). Exactly one must be given. Raises SpoolNotFound, InvalidMaterial."""
        if (weight_g is None) == (length_mm is None):
            raise InvalidMaterial("use_weight", "give use_weight or use_length, exactly one")
        at = self._clock()
        if weight_g is not None:
            return await self._modify(spool_id, lambda spool: spool_rules.use_weight(spool, weight_g, at=at))
        assert length_mm is not None
        return await self._modify(spool_id, lambda spool: spool_rules.use_length(spool, length_mm, at=at))

    async def measure(self, spool_id: int, gross_g: float) -> Spool:
        """Set the spool's use from a weighing of ``gross_g`` grams (spool and filament). Raises SpoolNotFound,
        InvalidMaterial (``spool_weight_g`` when no tare is known)."""
        at = self._clock()
        return await self._modify(spool_id, lambda spool: spool_rules.measure(spool, gross_g, at=at))

    async def delete_spool(self, spool_id: int) -> None:
        """Remove a spool for good (archive it to keep its history). Raises SpoolNotFound."""
        if not await self._repository.delete_spool(spool_id):
            raise SpoolNotFound(spool_id)

    async def spool_for_rfid(self, slot: Slot, *, create: bool = True) -> Spool | None:
        """The inventory spool in ``slot``, matched by its RFID ``tray_uuid``. With ``create`` an unknown tagged spool
        is added from its tag, under the vendor and filament the tag names (each made once; see
        :mod:`printfleet.domain.materials.rfid`). None for an untagged slot, or for an unknown spool when not
        creating or when the tag gives no weight."""
        if slot.tray_uuid is None:
            return None
        found = await self.find_spool(slot.tray_uuid)
        draft = rfid_draft(slot) if found is None and create else None
        if draft is None:
            return found
        vendor = await self.vendor_named(draft.vendor_name)
        filament = await self.filament_like(replace(draft.filament, vendor_id=vendor.id))
        try:
            return await self.add_spool(filament.id, draft.spool_values)
        except Conflict:  # added meanwhile by another request
            return await self.find_spool(slot.tray_uuid)

    async def _modify(self, spool_id: int, change: Callable[[Spool], Spool]) -> Spool:
        spool = await self._repository.modify_spool(spool_id, change, at=self._clock())
        if spool is None:
            raise SpoolNotFound(spool_id)
        return spool
