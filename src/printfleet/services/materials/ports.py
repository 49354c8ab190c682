"""What the materials service needs from the store (``printfleet.store.materials.repository`` implements it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from printfleet.domain.materials import (
    Filament,
    FilamentFields,
    FilamentQuery,
    Spool,
    SpoolFields,
    SpoolQuery,
    Vendor,
    VendorFields,
    VendorQuery,
)


class MaterialRepository(Protocol):
    """Vendors, filaments and spools. Writes that break a store rule (a duplicate ``tray_uuid``, a delete of a row
    still named) raise :class:`~printfleet.services.errors.Conflict`; ``at`` is aware UTC."""

    async def add_vendor(self, vendor: VendorFields, *, at: datetime) -> Vendor:
        """Record a vendor."""
        ...

    async def get_vendor(self, vendor_id: int) -> Vendor | None:
        """The vendor, or None."""
        ...

    async def list_vendors(self, query: VendorQuery) -> tuple[list[Vendor], int]:
        """A page of vendors and how many match."""
        ...

    async def update_vendor(self, vendor_id: int, vendor: VendorFields, *, at: datetime) -> Vendor | None:
        """Replace a vendor's fields; None for an unknown id."""
        ...

    async def delete_vendor(self, vendor_id: int) -> bool:
        """Remove a vendor; False for an unknown id."""
        ...

    async def vendor_use(self, vendor_id: int) -> int:
        """How many filaments name the vendor."""
        ...

    async def add_filament(self, filament: FilamentFields, *, at: datetime) -> Filament:
        """Record a filament."""
        ...

    async def get_filament(self, filament_id: int) -> Filament | None:
        """The filament with its vendor, or None."""
        ...

    async def list_filaments(self, query: FilamentQuery) -> tuple[list[Filament], int]:
        """A page of filaments and how many match."""
        ...

    async def update_filament(self, filament_id: int, filament: FilamentFields, *, at: datetime) -> Filament | None:
        """Replace a filament's fields; None for an unknown id."""
        ...

    async def delete_filament(self, filament_id: int) -> bool:
        """Remove a filament; False for an unknown id."""
        ...

    async def filament_use(self, filament_id: int) -> int:
        """How many spools name the filament."""
        ...

    async def add_spool(self, spool: SpoolFields, *, at: datetime) -> Spool:
        """Record a spool."""
        ...

    async def get_spool(self, spool_id: int) -> Spool | None:
        """The spool with its filament and vendor, or None."""
        ...

    async def find_spool(self, tray_uuid: str) -> Spool | None:
        """The spool with this RFID id, or None."""
        ...

    async def find_spoolman_spool(self, spoolman_id: int) -> Spool | None:
        """The spool linked to Spoolman spool ``spoolman_id``, or None."""
        ...

    async def list_spools(self, query: SpoolQuery) -> tuple[list[Spool], int]:
        """A page of spools and how many match."""
        ...

    async def modify_spool(self, spool_id: int, change: Callable[[Spool], Spool], *, at: datetime) -> Spool | None:
        """Apply ``change`` to the stored spool atomically; the spool after, or None for an unknown id."""
        ...

    async def delete_spool(self, spool_id: int) -> bool:
        """Remove a spool; False for an unknown id."""
        ...
