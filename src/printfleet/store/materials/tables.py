"""ORM tables of the material inventory (schema: migration 0008): vendors, filaments, spools.

A filament's vendor and a spool's filament are foreign keys that refuse the delete of a row still named (the service
answers 409 first; the key catches a race). ``tray_uuid`` (a Bambu RFID spool id) is unique where set.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from printfleet.store.tables import Base


class VendorRow(Base):
    """One filament maker."""

    __tablename__ = "vendors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    empty_spool_weight_g: Mapped[float | None] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class FilamentRow(Base):
    """One kind of filament (material, colour, density, diameter, price, temperatures)."""

    __tablename__ = "filaments"
    __table_args__ = (Index("ix_filaments_vendor_id", "vendor_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id", ondelete="RESTRICT"))
    name: Mapped[str | None] = mapped_column(String(64))
    material: Mapped[str] = mapped_column(String(32))
    color_hex: Mapped[str | None] = mapped_column(String(8))
    density_g_cm3: Mapped[float] = mapped_column(Float)
    diameter_mm: Mapped[float] = mapped_column(Float)
    net_weight_g: Mapped[float | None] = mapped_column(Float)
    empty_spool_weight_g: Mapped[float | None] = mapped_column(Float)
    price_per_spool: Mapped[float | None] = mapped_column(Float)
    price_per_kg: Mapped[float | None] = mapped_column(Float)
    nozzle_temp_min_c: Mapped[int | None] = mapped_column(Integer)
    nozzle_temp_max_c: Mapped[int | None] = mapped_column(Integer)
    bed_temp_min_c: Mapped[int | None] = mapped_column(Integer)
    bed_temp_max_c: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SpoolRow(Base):
    """One physical spool; ``used_weight_g`` is the stored consumption (remaining = initial − used, at least 0)."""

    __tablename__ = "spools"
    __table_args__ = (Index("ix_spools_filament_id", "filament_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    filament_id: Mapped[int] = mapped_column(ForeignKey("filaments.id", ondelete="RESTRICT"))
    initial_weight_g: Mapped[float] = mapped_column(Float)
    used_weight_g: Mapped[float] = mapped_column(Float)
    spool_weight_g: Mapped[float | None] = mapped_column(Float)
    location: Mapped[str | None] = mapped_column(String(64))
    lot_nr: Mapped[str | None] = mapped_column(String(64))
    tray_uuid: Mapped[str | None] = mapped_column(String(32), unique=True)
    archived: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)
    first_used_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
