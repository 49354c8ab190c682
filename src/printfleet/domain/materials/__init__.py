"""Materials: the filament inventory (vendors, filaments, spools), its units and rules, and the printers' material
slots (AMS trays, external spools, tools)."""

from printfleet.domain.materials.model import (
    Filament,
    FilamentFields,
    InvalidMaterial,
    Spool,
    SpoolFields,
    Vendor,
    VendorFields,
    edit_filament,
    edit_vendor,
)
from printfleet.domain.materials.queries import FilamentQuery, SpoolQuery, VendorQuery
from printfleet.domain.materials.units import grams_from_length, length_from_grams

__all__ = [
    "Filament",
    "FilamentFields",
    "FilamentQuery",
    "InvalidMaterial",
    "Spool",
    "SpoolFields",
    "SpoolQuery",
    "Vendor",
    "VendorFields",
    "VendorQuery",
    "edit_filament",
    "edit_vendor",
    "grams_from_length",
    "length_from_grams",
]
