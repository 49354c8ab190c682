"""ORM table of the file library (schema: migration 0006).

``materials`` repeats the filament types of ``metadata`` as ``,PETG,PLA,`` so the list can filter on one with a
portable ``LIKE``; ``uploaded_by`` is not a foreign key (a file outlives the account that uploaded it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from printfleet.store.tables import Base


class PrintFileRow(Base):
    """One print file in the library; its content is ``<files.directory>/<sha256>``."""

    __tablename__ = "print_files"
    __table_args__ = (Index("ix_print_files_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    materials: Mapped[str] = mapped_column(String(500))
    file_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    uploaded_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
