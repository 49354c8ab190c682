"""The lease tables: one row per role a single process of the farm holds at a time (migration 0017), one per printer
owned by a single process, and the processes' heartbeats (migration 0023).

``epoch`` grows by one whenever the lease passes to another holder (or is taken again after it expired), so a
holder that was paused past ``expires_at`` can tell, and be told, that its hold is stale. Expiry is judged on the
database's clock only (``now()``), never a process's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from printfleet.store.tables import Base


class LeaseRow(Base):
    """Who holds the role ``name`` (``notifications.delivery``, …), under which ``epoch``, until ``expires_at``."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    epoch: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime]


class PrinterLeaseRow(Base):
    """Which process owns (connects to) printer ``printer_id`` under ``epoch`` until ``expires_at`` (migration 0023);
    ``owner`` NULL: let go. The epoch grows at every change of owner, so a write from a stale owner is refused."""

    __tablename__ = "printer_leases"

    printer_id: Mapped[str] = mapped_column(String, ForeignKey("printers.id", ondelete="CASCADE"), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(200), index=True)
    epoch: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime]


class FarmProcessRow(Base):
    """A process of the farm and its last heartbeat ``seen_at`` (the database's clock): alive while recent."""

    __tablename__ = "farm_processes"

    owner: Mapped[str] = mapped_column(String(200), primary_key=True)
    started_at: Mapped[datetime]
    seen_at: Mapped[datetime]


class PrinterLiveRow(Base):
    """Printer ``printer_id``'s latest ``status`` (JSON text, ``domain.status_wire``) as written by its ``owner``
    under ``epoch`` at ``updated_at`` (the database's clock), read by the processes that do not own it."""

    __tablename__ = "printer_live"

    printer_id: Mapped[str] = mapped_column(String, ForeignKey("printers.id", ondelete="CASCADE"), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    epoch: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]
