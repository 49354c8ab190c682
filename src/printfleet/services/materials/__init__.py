"""Materials use cases: the filament inventory."""

from printfleet.services.materials.service import (
    FilamentNotFound,
    MaterialInUse,
    MaterialsService,
    SpoolNotFound,
    VendorNotFound,
)

__all__ = ["FilamentNotFound", "MaterialInUse", "MaterialsService", "SpoolNotFound", "VendorNotFound"]
