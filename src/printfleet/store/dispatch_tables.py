"""ORM tables of dispatching (schema: migration 0007): dispatches and the plate-clear gate.

``uq_dispatches_in_flight_printer_id`` allows one dispatch in flight per printer in the store itself, so two
requests (or two processes) racing for one printer cannot both send a print.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from printfleet.store.tables import Base

IN_FLIGHT_CONDITION = "state IN ('pending', 'uploading', 'uploaded', 'starting')"
"""The SQL predicate of a dispatch not yet ``started`` or ``failed``."""


class DispatchRow(Base):
    """One request to print a library file on a printer; ``state`` is stored before each step runs."""

    __tablename__ = "dispatches"
    __table_args__ = (
        Index("ix_dispatches_created_at", "created_at"),
        Index(
            "uq_dispatches_in_flight_printer_id",
            "printer_id",
            unique=True,
            sqlite_where=text(IN_FLIGHT_CONDITION),
            postgresql_where=text(IN_FLIGHT_CONDITION),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    printer_id: Mapped[str] = mapped_column(String)
    file_id: Mapped[int] = mapped_column(Integer)
    plate: Mapped[int] = mapped_column(Integer)
    job_name: Mapped[str] = mapped_column(String(255))
    remote_name: Mapped[str] = mapped_column(String(255))
    remote_path: Mapped[str | None] = mapped_column(String)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(500))
    job_id: Mapped[int | None] = mapped_column(Integer)
    requested_by: Mapped[int | None] = mapped_column(Integer)
    start_sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PrinterPlateRow(Base):
    """Whether a printer's plate must be cleared (its last print ended and nobody confirmed the plate is empty).
    No foreign key: the row is dropped with the printer by the service, and a stale row is harmless."""

    __tablename__ = "printer_plates"

    printer_id: Mapped[str] = mapped_column(String, primary_key=True)
    needs_clearing: Mapped[bool] = mapped_column(Boolean)
    since: Mapped[datetime | None]
    job_id: Mapped[int | None] = mapped_column(Integer)
    cleared_at: Mapped[datetime | None]
    cleared_by: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(16))
