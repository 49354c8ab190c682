"""ORM tables of maintenance (schema: migration 0012): tasks, each printer's counter state, and what was done."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from printfleet.store.tables import Base


class MaintenanceTaskRow(Base):
    """A maintenance task: an interval (``interval`` in ``unit``) for every printer, one printer or one model."""

    __tablename__ = "maintenance_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    printer_id: Mapped[str | None] = mapped_column(String)
    printer_model: Mapped[str | None] = mapped_column(String(64))
    interval: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    warn_fraction: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class MaintenancePrinterRow(Base):
    """One task on one printer: when last done, the counter offset (the printer's past) and what was announced."""

    __tablename__ = "maintenance_printer_tasks"

    task_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("maintenance_tasks.id", ondelete="CASCADE"), primary_key=True
    )
    printer_id: Mapped[str] = mapped_column(String, primary_key=True)
    last_done_at: Mapped[datetime | None]
    last_done_by: Mapped[int | None] = mapped_column(Integer)
    last_notes: Mapped[str | None] = mapped_column(Text)
    counter_offset: Mapped[float] = mapped_column(Float)
    announced: Mapped[str] = mapped_column(String(16))


class MaintenanceLogRow(Base):
    """One time a task was done on a printer: who, when, the counter then (in the task's unit), notes."""

    __tablename__ = "maintenance_log"
    __table_args__ = (Index("ix_maintenance_log_printer_id_done_at", "printer_id", "done_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(Integer, ForeignKey("maintenance_tasks.id", ondelete="CASCADE"))
    printer_id: Mapped[str] = mapped_column(String)
    done_at: Mapped[datetime]
    done_by: Mapped[int | None] = mapped_column(Integer)
    counter: Mapped[float] = mapped_column(Float)
    notes: Mapped[str | None] = mapped_column(Text)
