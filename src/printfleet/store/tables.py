"""ORM tables. The schema itself is defined by the Alembic revisions in ``migrations/versions``.

Enum-valued columns (``kind``, states, ``source``) are plain strings rather than database enums: adding a
printer kind or a state then needs no type migration on PostgreSQL, and the repository converts to the domain
enums on read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from printfleet.store.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so batch migrations on SQLite and ALTERs on PostgreSQL can name them."""


class Base(DeclarativeBase):
    """Declarative base of every printfleet table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class PrinterRow(Base):
    """One configured printer. Secrets are plain columns: the adapters need the values to connect."""

    __tablename__ = "printers"
    __table_args__ = (CheckConstraint("source IN ('config', 'api')", name="source"),)

    id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    host: Mapped[str | None] = mapped_column(String)
    port: Mapped[int | None] = mapped_column(Integer)
    serial: Mapped[str | None] = mapped_column(String)
    access_code: Mapped[str | None] = mapped_column(String)
    ca_file: Mapped[str | None] = mapped_column(String)
    tls_insecure: Mapped[bool] = mapped_column(Boolean)
    username: Mapped[str | None] = mapped_column(String)
    password: Mapped[str | None] = mapped_column(String)
    api_key: Mapped[str | None] = mapped_column(String)
    url: Mapped[str | None] = mapped_column(String)
    poll_interval: Mapped[float] = mapped_column(Float)
    auto_create_jobs: Mapped[bool | None] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PrinterStateTransitionRow(Base):
    """One persisted printer state change; deleted with its printer."""

    __tablename__ = "printer_state_transitions"
    __table_args__ = (Index("ix_printer_state_transitions_printer_id_at", "printer_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    printer_id: Mapped[str] = mapped_column(String, ForeignKey("printers.id", ondelete="CASCADE"))
    from_state: Mapped[str | None] = mapped_column(String)
    to_state: Mapped[str] = mapped_column(String)
    at: Mapped[datetime]
    file_name: Mapped[str | None] = mapped_column(String)
    offline_reason: Mapped[str | None] = mapped_column(String)
    detail: Mapped[str | None] = mapped_column(Text)


class SettingRow(Base):
    """One runtime setting (``job_creation_auto_create``, ...); ``value`` is JSON text."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]
