"""ORM table of scheduled prints (schema: migration 0011).

``uq_scheduled_prints_dispatching_printer`` allows one print ``dispatching`` per printer in the store itself, and a
claim is a conditional update (``status = 'queued'`` → ``'dispatching'``), so two scheduler processes (or a
restarted one racing its predecessor) cannot both send a print, nor send two prints to one printer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from printfleet.store.tables import Base

DISPATCHING_CONDITION = "status = 'dispatching'"
"""The SQL predicate of a print being sent to its printer."""


class ScheduledPrintRow(Base):
    """One scheduled print (one copy); ``status`` is never ``waiting`` here (that is computed when shown)."""

    __tablename__ = "scheduled_prints"
    __table_args__ = (
        Index("ix_scheduled_prints_status", "status"),
        Index("ix_scheduled_prints_depends_on", "depends_on"),
        Index(
            "uq_scheduled_prints_dispatching_printer",
            "assigned_printer_id",
            unique=True,
            sqlite_where=text(DISPATCHING_CONDITION),
            postgresql_where=text(DISPATCHING_CONDITION),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_by: Mapped[int | None] = mapped_column(Integer)
    printer_id: Mapped[str | None] = mapped_column(String)
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    order_id: Mapped[str | None] = mapped_column(String(64))
    job_name: Mapped[str] = mapped_column(String(255))
    file_id: Mapped[int] = mapped_column(Integer)
    plate: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    scheduled_start: Mapped[datetime | None]
    finish_by: Mapped[datetime | None]
    estimated_duration_minutes: Mapped[int | None] = mapped_column(Integer)
    material_type: Mapped[str | None] = mapped_column(String(32))
    material_color: Mapped[str | None] = mapped_column(String(16))
    material_slot: Mapped[int | None] = mapped_column(Integer)
    nozzle_temp: Mapped[float | None] = mapped_column(Float)
    bed_temp: Mapped[float | None] = mapped_column(Float)
    print_speed: Mapped[str | None] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer)
    copies: Mapped[int] = mapped_column(Integer)
    copy_index: Mapped[int] = mapped_column(Integer)
    depends_on: Mapped[int | None] = mapped_column(Integer)
    offset_minutes: Mapped[int] = mapped_column(Integer)
    offset_from: Mapped[str] = mapped_column(String(8))
    only_if_succeeded: Mapped[bool] = mapped_column(Boolean)
    attempts: Mapped[int] = mapped_column(Integer)
    assigned_printer_id: Mapped[str | None] = mapped_column(String)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    failed_reason: Mapped[str | None] = mapped_column(String(500))
    notes: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[int | None] = mapped_column(Integer)
    dispatch_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
