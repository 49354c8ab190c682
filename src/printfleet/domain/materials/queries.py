"""Which vendors, filaments and spools to list: filters and a page (``limit`` rows from ``offset``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class VendorQuery:
    """Vendors whose name holds ``search`` (any case), ordered by name."""

    search: str | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class FilamentQuery:
    """Filaments of ``material`` (exact, any case) and vendor ``vendor_id``, whose name, material or vendor name
    holds ``search`` (any case); ordered by vendor name, material, name, id."""

    material: str | None = None
    vendor_id: int | None = None
    search: str | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SpoolQuery:
    """Spools of ``filament_id``, of a filament of ``material`` (exact, any case) or of vendor ``vendor_id``, at
    ``location`` (exact, any case), archived or not (``archived``), whose filament name, material, vendor name,
    location, lot or comment holds ``search`` (any case); newest first."""

    material: str | None = None
    vendor_id: int | None = None
    filament_id: int | None = None
    location: str | None = None
    archived: bool = False
    search: str | None = None
    limit: int = 50
    offset: int = 0
