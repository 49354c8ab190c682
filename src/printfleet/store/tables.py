"""ORM tables. The schema itself is defined by the Alembic revisions in ``migrations/versions``.

Enum-valued columns (``kind``, states, ``source``) are plain strings rather than database enums: adding a
printer kind or a state then needs no type migration on PostgreSQL, and the repository converts to the domain
enums on read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
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
    """One configured printer. Secrets are plain columns: the adapters need the values to connect.

    ``poll_interval`` NULL means the printer follows the global ``monitoring_interval`` setting.
    """

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
    poll_interval: Mapped[float | None] = mapped_column(Float)  # None: follows the global monitoring_interval
    auto_create_jobs: Mapped[bool | None] = mapped_column(Boolean)
    model: Mapped[str | None] = mapped_column(String)
    ftp_port: Mapped[int | None] = mapped_column(Integer)
    queue_mode: Mapped[str] = mapped_column(String(16), server_default="members")
    tags: Mapped[list[str] | None] = mapped_column(JSON)
    average_watts: Mapped[float | None] = mapped_column(Float)  # for the energy cost of a print
    hourly_rate: Mapped[float | None] = mapped_column(Float)  # machine time cost per printing hour
    source: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PrinterStateTransitionRow(Base):
    """One persisted printer state change; deleted with its printer."""

    __tablename__ = "printer_state_transitions"
    __table_args__ = (
        Index("ix_printer_state_transitions_printer_id_at", "printer_id", "at"),
        Index("ix_printer_state_transitions_at", "at"),  # the Statistics page's range of every printer's changes
    )

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


ACTIVE_JOB_CONDITION = "status IN ('running', 'paused')"
"""The SQL predicate of an active job: the partial unique index's WHERE clause, and the literal text queries must
repeat for the planners to use that index (neither SQLite nor PostgreSQL's generic plans match a partial index's
predicate against bound parameters)."""

PENDING_JOB_CONDITION = "status = 'pending'"
"""The SQL predicate of a manual job waiting for its print (the partial index ``ix_jobs_pending_printer_id``)."""


class JobRow(Base):
    """One print, or a manual job waiting for its print.

    ``printer_id`` has no foreign key on purpose: a job's history outlives a deleted printer. The partial unique
    index ``uq_jobs_active_printer_id`` allows one active (running or paused) job per printer, across restarts and
    processes (DESIGN.md invariant 1). ``deleted_at`` marks a soft delete.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index(
            "uq_jobs_active_printer_id",
            "printer_id",
            unique=True,
            sqlite_where=text(ACTIVE_JOB_CONDITION),
            postgresql_where=text(ACTIVE_JOB_CONDITION),
        ),
        # The default listing (newest first) and its per-printer and auto-created filters, in index order.
        Index("ix_jobs_created_at_id", "created_at", "id"),
        Index("ix_jobs_printer_id_created_at", "printer_id", "created_at"),
        Index("ix_jobs_auto_created_created_at", "auto_created", "created_at"),
        # Every print start looks for a pending manual job of its printer; without this index that scans the
        # printer's whole history (1,000 rows per printer in bench/store_jobs.py), with it only the few pending.
        Index(
            "ix_jobs_pending_printer_id",
            "printer_id",
            "created_at",
            sqlite_where=text(PENDING_JOB_CONDITION),
            postgresql_where=text(PENDING_JOB_CONDITION),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    printer_id: Mapped[str] = mapped_column(String)
    printer_type: Mapped[str] = mapped_column(String)
    job_name: Mapped[str] = mapped_column(String)
    filename: Mapped[str | None] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    progress: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime]
    start_time: Mapped[datetime | None]
    end_time: Mapped[datetime | None]
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    is_business: Mapped[bool] = mapped_column(Boolean)
    customer_info: Mapped[dict[str, Any]] = mapped_column(JSON)
    file_id: Mapped[str | None] = mapped_column(String)
    native_job_id: Mapped[str | None] = mapped_column(String)
    end_reason: Mapped[str | None] = mapped_column(String)
    notes: Mapped[str | None] = mapped_column(Text)
    auto_created: Mapped[bool] = mapped_column(Boolean)
    discovered_on_startup: Mapped[bool] = mapped_column(Boolean)
    printer_start_time: Mapped[datetime | None]
    elapsed_seconds: Mapped[int | None] = mapped_column(Integer)
    deleted_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    queue_entry_id: Mapped[int | None] = mapped_column(Integer)
    queue_user_id: Mapped[str | None] = mapped_column(String)
    queue_user_name: Mapped[str | None] = mapped_column(String)
    dispatch_id: Mapped[int | None] = mapped_column(Integer)
    requested_by: Mapped[int | None] = mapped_column(Integer)
    plate_outcome: Mapped[str | None] = mapped_column(String(16))


QUEUE_HOLDING_CONDITION = "status IN ('offered', 'claimed', 'printing')"
"""The SQL predicate of an entry holding a printer: the WHERE of the two partial unique indexes."""

QUEUE_ACTIVE_CONDITION = "status IN ('waiting', 'offered', 'claimed', 'printing')"
"""The SQL predicate of an entry still in the queue (the partial index the start-up load reads)."""


class QueueEntryRow(Base):
    """One queue entry, active or ended (ended entries are the queue's history of prints).

    The partial unique indexes ``uq_queue_entries_holding_printer_id`` and ``uq_queue_entries_holding_user_id`` keep
    the queue's invariants in the store, whichever process writes: a printer is held by at most one entry, a user
    holds at most one printer. ``printer_ids`` is a JSON list (empty: any printer). ``deadline`` is the running
    window's end; ``estimate_seconds`` and ``actual_seconds`` are seconds. ``version`` goes up by one with every
    change: a change written from an older version is refused (another process changed the entry meanwhile).
    """

    __tablename__ = "queue_entries"
    __table_args__ = (
        Index(
            "uq_queue_entries_holding_printer_id",
            "printer_id",
            unique=True,
            sqlite_where=text(QUEUE_HOLDING_CONDITION),
            postgresql_where=text(QUEUE_HOLDING_CONDITION),
        ),
        Index(
            "uq_queue_entries_holding_user_id",
            "user_id",
            unique=True,
            sqlite_where=text(QUEUE_HOLDING_CONDITION),
            postgresql_where=text(QUEUE_HOLDING_CONDITION),
        ),
        Index(
            "ix_queue_entries_active_queue_key",
            "queue_key",
            "id",
            sqlite_where=text(QUEUE_ACTIVE_CONDITION),
            postgresql_where=text(QUEUE_ACTIVE_CONDITION),
        ),
        Index("ix_queue_entries_user_id_id", "user_id", "id"),
        Index("ix_queue_entries_ended_at", "ended_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String)
    user_name: Mapped[str] = mapped_column(String)
    job_name: Mapped[str] = mapped_column(String)
    estimate_seconds: Mapped[int] = mapped_column(Integer)
    printer_ids: Mapped[list[str]] = mapped_column(JSON)
    queue_key: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String)
    printer_id: Mapped[str | None] = mapped_column(String)
    deadline: Mapped[datetime | None]
    created_at: Mapped[datetime]
    queued_at: Mapped[datetime]
    offered_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    missed_offers: Mapped[int] = mapped_column(Integer)
    job_id: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String)
    actual_seconds: Mapped[int | None] = mapped_column(Integer)
    end_reason: Mapped[str | None] = mapped_column(String)
    version: Mapped[int] = mapped_column(Integer, server_default="0")
    updated_at: Mapped[datetime]


class QueueHistoryRow(Base):
    """One event of the queue (``domain.queue_history.HistoryRecord``); deleted with its entry."""

    __tablename__ = "queue_history"
    __table_args__ = (Index("ix_queue_history_entry_id_id", "entry_id", "id"), Index("ix_queue_history_at", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String)
    at: Mapped[datetime]
    entry_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("queue_entries.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(String)
    printer_id: Mapped[str | None] = mapped_column(String)
    job_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(String)


class QueuePrinterHoldRow(Base):
    """A printer an admin took out of the queue's rotation (no printer foreign key: a hold may name a printer
    that is being re-added)."""

    __tablename__ = "queue_printer_holds"

    printer_id: Mapped[str] = mapped_column(String, primary_key=True)
    held_by: Mapped[str | None] = mapped_column(String)
    held_at: Mapped[datetime]


class QueueStateRow(Base):
    """One flag of the queue (``paused``), a JSON value."""

    __tablename__ = "queue_state"

    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]
