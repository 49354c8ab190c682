"""ORM tables of the material inventory (schema: migrations 0008, 0010 and 0014): vendors, filaments, spools, the
printers' material slots, and what each print used and cost.

A filament's vendor and a spool's filament are foreign keys that refuse the delete of a row still named (the service
answers 409 first; the key catches a race). ``tray_uuid`` (a Bambu RFID spool id) is unique where set.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
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
    spoolman_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    archived: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)
    first_used_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class MaterialSlotRow(Base):
    """One printer slot (AMS tray, external spool, tool) and what is in it; one row per (printer, slot label). The
    spool key empties the slot when its spool is deleted."""

    __tablename__ = "material_slots"
    __table_args__ = (
        UniqueConstraint("printer_id", "slot", name="uq_material_slots_printer_id_slot"),
        Index("ix_material_slots_spool_id", "spool_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    printer_id: Mapped[str] = mapped_column(String(64))
    slot: Mapped[str] = mapped_column(String(16))
    present: Mapped[bool] = mapped_column(Boolean)
    spool_id: Mapped[int | None] = mapped_column(ForeignKey("spools.id", ondelete="SET NULL"))
    material_type: Mapped[str | None] = mapped_column(String(32))
    color: Mapped[str | None] = mapped_column(String(8))
    preset_id: Mapped[str | None] = mapped_column(String(32))
    tray_uuid: Mapped[str | None] = mapped_column(String(32))
    remaining_pct: Mapped[int | None] = mapped_column(Integer)
    label_weight_g: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean)
    low_alerted: Mapped[bool] = mapped_column(Boolean)
    loaded_at: Mapped[datetime | None]
    last_synced: Mapped[datetime | None]


class JobMaterialTrackingRow(Base):
    """What a print's usage is computed from (``printfleet.domain.materials.usage.UsageTracking`` as JSON), recorded
    when the print starts and grown while it runs; ``settled_at`` set when its usage and cost were stored (once)."""

    __tablename__ = "job_material_tracking"
    __table_args__ = (Index("ix_job_material_tracking_unsettled", "settled_at"),)

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    printer_id: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]


class JobUsageRow(Base):
    """Filament one job used from one slot (one row per job and slot); ``spool_id`` the spool charged."""

    __tablename__ = "job_usage"
    __table_args__ = (
        UniqueConstraint("job_id", "slot", name="uq_job_usage_job_id_slot"),
        Index("ix_job_usage_spool_id", "spool_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    slot: Mapped[str | None] = mapped_column(String(16))
    spool_id: Mapped[int | None] = mapped_column(ForeignKey("spools.id", ondelete="SET NULL"))
    grams: Mapped[float] = mapped_column(Float)
    metres: Mapped[float | None] = mapped_column(Float)
    material: Mapped[str | None] = mapped_column(String(32))
    color: Mapped[str | None] = mapped_column(String(9))
    source: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[str] = mapped_column(String(8))


class JobCostRow(Base):
    """A job's cost snapshot, stored once when it ends (later price edits leave it as it was)."""

    __tablename__ = "job_costs"
    __table_args__ = (Index("ix_job_costs_ended_at", "ended_at"),)
    # The job's business flag, customer and deletion are copied here (kept in step by the jobs store) and the week
    # it ended is stored, so the costs report reads this table alone: 1,000,000 jobs aggregate in well under 500 ms.

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    printer_id: Mapped[str] = mapped_column(String(64))
    ended_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    material_grams: Mapped[float] = mapped_column(Float)
    material_cost: Mapped[float] = mapped_column(Float)
    printing_hours: Mapped[float] = mapped_column(Float)
    energy_kwh: Mapped[float | None] = mapped_column(Float)
    energy_cost: Mapped[float | None] = mapped_column(Float)
    machine_cost: Mapped[float | None] = mapped_column(Float)
    total_cost: Mapped[float] = mapped_column(Float)
    materials: Mapped[str | None] = mapped_column(String(128))
    is_business: Mapped[bool] = mapped_column(Boolean)
    customer: Mapped[str | None] = mapped_column(String(200))
    deleted: Mapped[bool] = mapped_column(Boolean)
    week: Mapped[date] = mapped_column(Date)
    computed_at: Mapped[datetime]


class SpoolmanReportRow(Base):
    """One job's use of one spool to report to Spoolman (the outbox; one row per job and Spoolman spool), written in
    the transaction that charged the spool. ``state``: ``pending``, ``sent``, ``failed`` (refused for good),
    ``gone`` (Spoolman no longer has the spool). ``baseline_g`` is the spool's ``used_weight`` read just before the
    last attempt, ``uncertain`` whether that attempt's outcome is unknown (a timeout or a server error): the next
    attempt reads the spool first and sends again only if the use is not there."""

    __tablename__ = "spoolman_reports"
    __table_args__ = (
        UniqueConstraint("job_id", "spoolman_id", name="uq_spoolman_reports_job_id_spoolman_id"),
        Index("ix_spoolman_reports_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    spool_id: Mapped[int | None] = mapped_column(ForeignKey("spools.id", ondelete="SET NULL"))
    spoolman_id: Mapped[int] = mapped_column(Integer)
    grams: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    baseline_g: Mapped[float | None] = mapped_column(Float)
    uncertain: Mapped[bool] = mapped_column(Boolean)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
