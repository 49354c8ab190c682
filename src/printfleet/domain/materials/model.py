"""The material inventory: vendors make filaments, a spool is one physical reel of a filament.

The model follows Spoolman's (Vendor → Filament → Spool; research materials-notifications.md §3.1, Spoolman v0.26.1
``database/models.py``), in printfleet's units: grams (g), millimetres (mm), g/cm³, °C. What a person sets is a
``*Fields`` value; the stored record adds its id and times. ``checked()`` returns the value normalised (text
stripped, empty text as None, colours upper-case ``RRGGBBAA``) or raises :class:`InvalidMaterial` naming the field.

Weights of a spool: ``initial_weight_g`` is the net filament weight of the full spool, ``used_weight_g`` what has been
used from it (the stored consumption, as in Spoolman), ``remaining_weight_g = max(initial − used, 0)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, TypeVar

NAME_MAX = 64
TEXT_MAX = 64
COMMENT_MAX = 1024
MATERIAL_MAX = 32
WEIGHT_MAX_G = 100_000.0
PRICE_MAX = 1_000_000.0
TEMP_MAX_C = 600
_HEX = re.compile(r"^[0-9A-F]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidMaterial(ValueError):
    """A material value refused. ``message`` is a sentence for the user; ``field`` names the input (``density_g_cm3``,
    ``tray_uuid``, ...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def clean_text(
    value: str | None, field: str, *, max_length: int, required: bool = False, multiline: bool = False
) -> str | None:
    """``value`` stripped; None when empty. Raises InvalidMaterial when required and empty, too long, or holding
    control characters (``multiline`` text may hold line breaks and tabs)."""
    text = value.strip() if value is not None else ""
    if not text:
        if required:
            raise InvalidMaterial(field, f"{field} must not be empty")
        return None
    if len(text) > max_length:
        raise InvalidMaterial(field, f"{field} must be at most {max_length} characters")
    plain = text.replace("\n", "").replace("\r", "").replace("\t", "") if multiline else text
    if _CONTROL.search(plain):
        raise InvalidMaterial(field, f"{field} must not hold control characters")
    return text


def check_number(
    value: float | None, field: str, *, minimum: float = 0.0, maximum: float, above_minimum: bool = False
) -> float | None:
    """``value`` when finite and within ``[minimum, maximum]`` (``(minimum, maximum]`` when ``above_minimum``), None
    stays None. Raises InvalidMaterial naming ``field`` otherwise."""
    if value is None:
        return None
    if not math.isfinite(value) or value > maximum or value < minimum or (above_minimum and value == minimum):
        low = "greater than" if above_minimum else "at least"
        raise InvalidMaterial(field, f"{field} must be {low} {minimum:g} and at most {maximum:g}")
    return float(value)


def normalise_color(value: str | None, field: str = "color_hex") -> str | None:
    """A colour as upper-case ``RRGGBBAA`` (the AMS's form, research §1.4): ``RRGGBB`` gains ``FF`` (opaque), a
    leading ``#`` is dropped; None or empty stays None. Raises InvalidMaterial for anything else."""
    if value is None or not value.strip():
        return None
    text = value.strip().lstrip("#").upper()
    if len(text) not in (6, 8) or not _HEX.match(text):
        raise InvalidMaterial(field, f"{field} must be RRGGBB or RRGGBBAA in hexadecimal")
    return text if len(text) == 8 else text + "FF"


def normalise_tray_uuid(value: str | None) -> str | None:
    """A Bambu RFID spool id (``tray_uuid``, 32 hex digits, the same on both tags of a spool; research §1.4) in upper
    case; None or empty stays None. Raises InvalidMaterial for another shape or all zeros (the AMS's "no tag")."""
    if value is None or not value.strip():
        return None
    text = value.strip().upper()
    if len(text) != 32 or not _HEX.match(text):
        raise InvalidMaterial("tray_uuid", "tray_uuid must be 32 hexadecimal digits")
    if set(text) == {"0"}:
        raise InvalidMaterial("tray_uuid", "tray_uuid of all zeros means the spool has no tag; leave it empty")
    return text


def _spoolman_id(value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not 0 < value < 2**31):
        raise InvalidMaterial("spoolman_id", "spoolman_id must be a Spoolman spool id from 1")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class VendorFields:
    """A filament maker. ``empty_spool_weight_g``: the weight of their empty spool (tare), grams, used when neither
    the spool nor the filament says."""

    name: str
    empty_spool_weight_g: float | None = None
    comment: str | None = None

    def checked(self) -> VendorFields:
        """The normalised value; raises InvalidMaterial naming the field."""
        return replace(
            self,
            name=clean_text(self.name, "name", max_length=NAME_MAX, required=True) or "",
            empty_spool_weight_g=check_number(self.empty_spool_weight_g, "empty_spool_weight_g", maximum=WEIGHT_MAX_G),
            comment=clean_text(self.comment, "comment", max_length=COMMENT_MAX, multiline=True),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Vendor(VendorFields):
    """A stored vendor; ``created_at`` aware UTC."""

    id: int
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class FilamentFields:
    """A kind of filament: ``material`` (``PLA``, ``PETG``, ``PA-CF`` ...), ``color_hex`` ``RRGGBBAA``,
    ``density_g_cm3`` (g/cm³, > 0), ``diameter_mm`` (mm, > 0), ``net_weight_g`` (grams of filament on a full spool),
    ``empty_spool_weight_g`` (tare, grams), a price either per spool (``price_per_spool``) or per kilogram
    (``price_per_kg``) in the configured currency, never both, and the recommended nozzle and bed temperature ranges
    (°C, min ≤ max)."""

    material: str
    density_g_cm3: float
    diameter_mm: float = 1.75
    name: str | None = None
    vendor_id: int | None = None
    color_hex: str | None = None
    net_weight_g: float | None = None
    empty_spool_weight_g: float | None = None
    price_per_spool: float | None = None
    price_per_kg: float | None = None
    nozzle_temp_min_c: int | None = None
    nozzle_temp_max_c: int | None = None
    bed_temp_min_c: int | None = None
    bed_temp_max_c: int | None = None
    comment: str | None = None

    def checked(self) -> FilamentFields:
        """The normalised value; raises InvalidMaterial naming the field."""
        if self.price_per_spool is not None and self.price_per_kg is not None:
            raise InvalidMaterial("price_per_kg", "give a price per spool or per kg, not both")
        for low, high in (("nozzle_temp_min_c", "nozzle_temp_max_c"), ("bed_temp_min_c", "bed_temp_max_c")):
            for name in (low, high):
                check_number(getattr(self, name), name, maximum=TEMP_MAX_C)
            low_value, high_value = getattr(self, low), getattr(self, high)
            if low_value is not None and high_value is not None and low_value > high_value:
                raise InvalidMaterial(high, f"{high} must not be below {low}")
        density = check_number(self.density_g_cm3, "density_g_cm3", maximum=20.0, above_minimum=True)
        diameter = check_number(self.diameter_mm, "diameter_mm", maximum=10.0, above_minimum=True)
        return replace(
            self,
            material=clean_text(self.material, "material", max_length=MATERIAL_MAX, required=True) or "",
            density_g_cm3=density or 0.0,
            diameter_mm=diameter or 0.0,
            name=clean_text(self.name, "name", max_length=NAME_MAX),
            color_hex=normalise_color(self.color_hex),
            net_weight_g=check_number(self.net_weight_g, "net_weight_g", maximum=WEIGHT_MAX_G, above_minimum=True),
            empty_spool_weight_g=check_number(self.empty_spool_weight_g, "empty_spool_weight_g", maximum=WEIGHT_MAX_G),
            price_per_spool=check_number(self.price_per_spool, "price_per_spool", maximum=PRICE_MAX),
            price_per_kg=check_number(self.price_per_kg, "price_per_kg", maximum=PRICE_MAX),
            comment=clean_text(self.comment, "comment", max_length=COMMENT_MAX, multiline=True),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Filament(FilamentFields):
    """A stored filament with its vendor (None when it has none)."""

    id: int
    created_at: datetime
    vendor: Vendor | None = None

    @property
    def tare_g(self) -> float | None:
        """The empty spool's weight, grams: the filament's, else its vendor's, else None (unknown)."""
        if self.empty_spool_weight_g is not None:
            return self.empty_spool_weight_g
        return self.vendor.empty_spool_weight_g if self.vendor is not None else None


@dataclass(frozen=True, slots=True, kw_only=True)
class SpoolFields:
    """One reel of a filament. ``initial_weight_g``: net grams when full (> 0); ``used_weight_g``: grams used (≥ 0);
    ``spool_weight_g``: this spool's tare when it differs from the filament's; ``location`` and ``lot_nr`` free text
    (≤ 64); ``tray_uuid``: the Bambu RFID spool id; ``archived``: used up or put away (hidden from lists by
    default); ``spoolman_id``: the same spool in Spoolman, where its usage is reported (None: not linked)."""

    filament_id: int
    initial_weight_g: float
    used_weight_g: float = 0.0
    spool_weight_g: float | None = None
    location: str | None = None
    lot_nr: str | None = None
    tray_uuid: str | None = None
    archived: bool = False
    comment: str | None = None
    spoolman_id: int | None = None

    def checked(self) -> SpoolFields:
        """The normalised value; raises InvalidMaterial naming the field."""
        initial = check_number(self.initial_weight_g, "initial_weight_g", maximum=WEIGHT_MAX_G, above_minimum=True)
        used = check_number(self.used_weight_g, "used_weight_g", maximum=1e9)
        return replace(
            self,
            initial_weight_g=initial or 0.0,
            used_weight_g=used or 0.0,
            spool_weight_g=check_number(self.spool_weight_g, "spool_weight_g", maximum=WEIGHT_MAX_G),
            location=clean_text(self.location, "location", max_length=TEXT_MAX),
            lot_nr=clean_text(self.lot_nr, "lot_nr", max_length=TEXT_MAX),
            tray_uuid=normalise_tray_uuid(self.tray_uuid),
            comment=clean_text(self.comment, "comment", max_length=COMMENT_MAX, multiline=True),
            spoolman_id=_spoolman_id(self.spoolman_id),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Spool(SpoolFields):
    """A stored spool with its filament. ``first_used_at``/``last_used_at``: when filament was first/last used from
    it (aware UTC), None before."""

    id: int
    created_at: datetime
    filament: Filament
    first_used_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def remaining_weight_g(self) -> float:
        """Grams of filament left: ``max(initial − used, 0)`` (Spoolman's rule)."""
        return max(self.initial_weight_g - self.used_weight_g, 0.0)

    @property
    def display_name(self) -> str:
        """The spool as people name it: vendor, product line (or material) and its number, e.g. ``Bambu Lab PLA
        Basic #12``."""
        filament = self.filament
        parts = [filament.vendor.name if filament.vendor is not None else None, filament.name or filament.material]
        return " ".join(part for part in parts if part) + f" #{self.id}"

    @property
    def tare_g(self) -> float | None:
        """The empty spool's weight, grams: the spool's own, else its filament's, else its vendor's, else None."""
        return self.spool_weight_g if self.spool_weight_g is not None else self.filament.tare_g


VENDOR_FIELD_NAMES = frozenset(field.name for field in fields(VendorFields))
FILAMENT_FIELD_NAMES = frozenset(field.name for field in fields(FilamentFields))
_REQUIRED = frozenset({"name", "material", "density_g_cm3", "diameter_mm"})
_F = TypeVar("_F", VendorFields, FilamentFields)


def _edited(kind: type[_F], current: _F, changes: Mapping[str, Any]) -> _F:
    names = frozenset(field.name for field in fields(kind))
    for name, value in changes.items():
        if name not in names:
            raise InvalidMaterial(name, f"{name} is not a {kind.__name__.removesuffix('Fields').lower()} field")
        if value is None and name in _REQUIRED:
            raise InvalidMaterial(name, f"{name} must not be null")
    base = kind(**{name: getattr(current, name) for name in names})
    return replace(base, **changes).checked()


def edit_vendor(vendor: VendorFields, changes: Mapping[str, Any]) -> VendorFields:
    """``vendor``'s settable fields with ``changes`` (field name → new value) applied and checked. Raises
    InvalidMaterial naming the field."""
    return _edited(VendorFields, vendor, changes)


def edit_filament(filament: FilamentFields, changes: Mapping[str, Any]) -> FilamentFields:
    """``filament``'s settable fields with ``changes`` applied and checked (the temperature ranges and the one-price
    rule are checked on the result). Raises InvalidMaterial naming the field."""
    return _edited(FilamentFields, filament, changes)
