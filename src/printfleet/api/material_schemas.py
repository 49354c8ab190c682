"""Request and response bodies of ``/api/v1/vendors``, ``/api/v1/filaments`` and ``/api/v1/spools``.

Units are in the names: grams (``_g``), millimetres (``_mm``), g/cm³ (``density_g_cm3``), °C (``_c``). Colours are
``RRGGBBAA`` hexadecimal (``RRGGBB`` is taken as opaque). A PATCH changes only the fields sent; null clears an
optional field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from printfleet.domain.materials import Filament, FilamentFields, Spool, Vendor, VendorFields
from printfleet.domain.materials.spools import remaining_length_mm
from printfleet.domain.materials.units import default_density

MAX_ID = 2**31 - 1
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Grams = Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)]
Price = Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]
Celsius = Annotated[int, Field(ge=0, le=600)]
Short = Annotated[str, Field(max_length=64, pattern=NO_CONTROL)]
Comment = Annotated[str, Field(max_length=1024)]
Color = Annotated[str, Field(pattern=r"^#?([0-9A-Fa-f]{6}|[0-9A-Fa-f]{8})$", examples=["FF6A13FF"])]
TrayUuid = Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{32}$", description="The Bambu RFID spool id (32 hex digits).")]
Density = Annotated[float, Field(gt=0, le=20, allow_inf_nan=False, description="g/cm³")]
Diameter = Annotated[float, Field(gt=0, le=10, allow_inf_nan=False, description="mm")]


class _Patch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def changes(self) -> dict[str, Any]:
        """The fields sent, by name."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class VendorCreate(BaseModel):
    """``POST /api/v1/vendors``: a filament maker; ``empty_spool_weight_g`` is the weight of their empty spool."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_CONTROL)]
    empty_spool_weight_g: Grams | None = None
    comment: Comment | None = None

    def to_domain(self) -> VendorFields:
        """The domain value."""
        return VendorFields(name=self.name, empty_spool_weight_g=self.empty_spool_weight_g, comment=self.comment)


class VendorUpdate(_Patch):
    """``PATCH /api/v1/vendors/{id}``."""

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_CONTROL)] | None = None
    empty_spool_weight_g: Grams | None = None
    comment: Comment | None = None


class VendorPublic(BaseModel):
    """A vendor."""

    id: int
    name: str
    empty_spool_weight_g: float | None
    comment: str | None
    created_at: datetime

    @classmethod
    def from_domain(cls, vendor: Vendor) -> VendorPublic:
        """The API view of ``vendor``."""
        return cls(
            id=vendor.id,
            name=vendor.name,
            empty_spool_weight_g=vendor.empty_spool_weight_g,
            comment=vendor.comment,
            created_at=vendor.created_at,
        )


class VendorList(BaseModel):
    """A page of vendors by name, and how many match in all."""

    vendors: list[VendorPublic]
    total: int


class _FilamentFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Short | None = None
    vendor_id: Id | None = None
    color_hex: Color | None = None
    net_weight_g: Annotated[float, Field(gt=0, le=100_000, allow_inf_nan=False)] | None = None
    empty_spool_weight_g: Grams | None = None
    price_per_spool: Price | None = None
    price_per_kg: Price | None = None
    nozzle_temp_min_c: Celsius | None = None
    nozzle_temp_max_c: Celsius | None = None
    bed_temp_min_c: Celsius | None = None
    bed_temp_max_c: Celsius | None = None
    comment: Comment | None = None


class FilamentCreate(_FilamentFields):
    """``POST /api/v1/filaments``: a kind of filament. ``density_g_cm3`` defaults to the material's typical density
    (PLA 1.24, PETG 1.27, ...); ``diameter_mm`` to 1.75. Give ``price_per_spool`` or ``price_per_kg``, not both."""

    material: Annotated[str, Field(min_length=1, max_length=32, pattern=NO_CONTROL, examples=["PLA"])]
    density_g_cm3: Density | None = None
    diameter_mm: Diameter = 1.75

    def to_domain(self) -> FilamentFields:
        """The domain value."""
        values = self.model_dump(exclude={"density_g_cm3"})
        density = self.density_g_cm3 if self.density_g_cm3 is not None else default_density(self.material)
        return FilamentFields(density_g_cm3=density, **values)


class FilamentUpdate(_Patch, _FilamentFields):
    """``PATCH /api/v1/filaments/{id}``."""

    material: Annotated[str, Field(min_length=1, max_length=32, pattern=NO_CONTROL)] | None = None
    density_g_cm3: Density | None = None
    diameter_mm: Diameter | None = None


class FilamentPublic(BaseModel):
    """A filament with its vendor (null when none)."""

    id: int
    name: str | None
    vendor_id: int | None
    vendor: VendorPublic | None
    material: str
    color_hex: str | None
    density_g_cm3: float
    diameter_mm: float
    net_weight_g: float | None
    empty_spool_weight_g: float | None
    price_per_spool: float | None
    price_per_kg: float | None
    nozzle_temp_min_c: int | None
    nozzle_temp_max_c: int | None
    bed_temp_min_c: int | None
    bed_temp_max_c: int | None
    comment: str | None
    created_at: datetime

    @classmethod
    def from_domain(cls, filament: Filament) -> FilamentPublic:
        """The API view of ``filament``."""
        return cls(
            id=filament.id,
            name=filament.name,
            vendor_id=filament.vendor_id,
            vendor=VendorPublic.from_domain(filament.vendor) if filament.vendor is not None else None,
            material=filament.material,
            color_hex=filament.color_hex,
            density_g_cm3=filament.density_g_cm3,
            diameter_mm=filament.diameter_mm,
            net_weight_g=filament.net_weight_g,
            empty_spool_weight_g=filament.empty_spool_weight_g,
            price_per_spool=filament.price_per_spool,
            price_per_kg=filament.price_per_kg,
            nozzle_temp_min_c=filament.nozzle_temp_min_c,
            nozzle_temp_max_c=filament.nozzle_temp_max_c,
            bed_temp_min_c=filament.bed_temp_min_c,
            bed_temp_max_c=filament.bed_temp_max_c,
            comment=filament.comment,
            created_at=filament.created_at,
        )


class FilamentList(BaseModel):
    """A page of filaments and how many match in all."""

    filaments: list[FilamentPublic]
    total: int


class _SpoolFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    initial_weight_g: Annotated[float, Field(gt=0, le=100_000, allow_inf_nan=False)] | None = None
    remaining_weight_g: Grams | None = None
    used_weight_g: Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)] | None = None
    spool_weight_g: Grams | None = None
    location: Short | None = None
    lot_nr: Short | None = None
    tray_uuid: TrayUuid | None = None
    comment: Comment | None = None
    spoolman_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(
        default=None, description="The same spool in Spoolman: its usage is reported there (spoolman.url)."
    )


class SpoolCreate(_SpoolFields):
    """``POST /api/v1/spools``: a spool of ``filament_id``. ``initial_weight_g`` (net, full) defaults to the
    filament's ``net_weight_g``; give ``remaining_weight_g`` or ``used_weight_g`` (not both), else it is full.
    ``spool_weight_g`` (the empty spool) is only needed when it differs from the filament's or vendor's."""

    filament_id: Id
    archived: bool = False

    def values(self) -> dict[str, Any]:
        """The spool's values for the domain (without ``filament_id``)."""
        return self.model_dump(exclude={"filament_id"})


class SpoolUpdate(_Patch, _SpoolFields):
    """``PATCH /api/v1/spools/{id}``: ``remaining_weight_g`` sets the used weight from the initial weight."""

    filament_id: Id | None = None
    archived: bool | None = None


class SpoolUse(BaseModel):
    """``PUT /api/v1/spools/{id}/use``: filament used, in grams (``use_weight``) or millimetres (``use_length``,
    converted with the filament's density and diameter), exactly one. Negative gives filament back; the used weight
    never goes below 0. Not idempotent: each call adds."""

    model_config = ConfigDict(extra="forbid")

    use_weight: Annotated[float, Field(ge=-100_000, le=100_000, allow_inf_nan=False)] | None = None
    use_length: Annotated[float, Field(ge=-1e9, le=1e9, allow_inf_nan=False)] | None = None


class SpoolMeasure(BaseModel):
    """``PUT /api/v1/spools/{id}/measure``: the spool weighed with its filament (gross grams)."""

    model_config = ConfigDict(extra="forbid")

    weight: Grams


class SpoolPublic(BaseModel):
    """A spool with its filament. ``remaining_weight_g = max(initial_weight_g − used_weight_g, 0)``;
    ``remaining_length_mm`` from the filament's density and diameter; ``tare_g`` the empty spool's weight in use
    (the spool's, else the filament's, else the vendor's; null when unknown: a weighing cannot be read)."""

    id: int
    filament_id: int
    filament: FilamentPublic
    initial_weight_g: float
    used_weight_g: float
    remaining_weight_g: float
    remaining_length_mm: float
    spool_weight_g: float | None
    tare_g: float | None
    location: str | None
    lot_nr: str | None
    tray_uuid: str | None
    spoolman_id: int | None
    archived: bool
    comment: str | None
    first_used_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime

    @classmethod
    def from_domain(cls, spool: Spool) -> SpoolPublic:
        """The API view of ``spool``."""
        return cls(
            id=spool.id,
            filament_id=spool.filament_id,
            filament=FilamentPublic.from_domain(spool.filament),
            initial_weight_g=spool.initial_weight_g,
            used_weight_g=spool.used_weight_g,
            remaining_weight_g=spool.remaining_weight_g,
            remaining_length_mm=remaining_length_mm(spool),
            spool_weight_g=spool.spool_weight_g,
            tare_g=spool.tare_g,
            location=spool.location,
            lot_nr=spool.lot_nr,
            tray_uuid=spool.tray_uuid,
            spoolman_id=spool.spoolman_id,
            archived=spool.archived,
            comment=spool.comment,
            first_used_at=spool.first_used_at,
            last_used_at=spool.last_used_at,
            created_at=spool.created_at,
        )


class SpoolList(BaseModel):
    """A page of spools, newest first, and how many match in all."""

    spools: list[SpoolPublic]
    total: int
