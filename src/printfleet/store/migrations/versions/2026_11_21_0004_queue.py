"""queue: entries, their history, printer holds; jobs carry the queue entry and its user

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21

``queue_entries`` holds every entry, active and ended (the ended ones are the queue's history of prints).
Two partial unique indexes are the store's share of the queue's invariants, whichever process writes: a printer is
held (offered, claimed, printing) by at most one entry, and a user holds at most one printer. ``deadline`` is the
running window's end (DESIGN.md invariant 5: deadlines are data). ``queue_history`` has one row per event of an
entry. ``queue_printer_holds`` lists the printers an admin took out of rotation; ``queue_state`` holds the queue's
own flags (``paused``) as JSON values.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Repeated here rather than imported from tables.py: a revision must keep creating the schema it created.
_HOLDING = "status IN ('offered', 'claimed', 'printing')"
_ACTIVE = "status IN ('waiting', 'offered', 'claimed', 'printing')"


def upgrade() -> None:
    """Create the queue tables and their indexes; add the queue columns to ``jobs``."""
    op.create_table(
        "queue_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("user_name", sa.String(), nullable=False),
        sa.Column("job_name", sa.String(), nullable=False),
        sa.Column("estimate_seconds", sa.Integer(), nullable=False),
        sa.Column("printer_ids", sa.JSON(), nullable=False),
        sa.Column("queue_key", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("printer_id", sa.String(), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("missed_offers", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(), nullable=True),
        sa.Column("actual_seconds", sa.Integer(), nullable=True),
        sa.Column("end_reason", sa.String(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_entries")),
    )
    for name, column in (
        ("uq_queue_entries_holding_printer_id", "printer_id"),
        ("uq_queue_entries_holding_user_id", "user_id"),
    ):
        op.create_index(
            name,
            "queue_entries",
            [column],
            unique=True,
            sqlite_where=sa.text(_HOLDING),
            postgresql_where=sa.text(_HOLDING),
        )
    op.create_index(
        "ix_queue_entries_active_queue_key",
        "queue_entries",
        ["queue_key", "id"],
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )
    op.create_index("ix_queue_entries_user_id_id", "queue_entries", ["user_id", "id"])
    op.create_index("ix_queue_entries_ended_at", "queue_entries", ["ended_at"])
    op.create_table(
        "queue_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.String(), nullable=True),
        sa.Column("printer_id", sa.String(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["queue_entries.id"], name=op.f("fk_queue_history_entry_id_queue_entries"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_history")),
    )
    op.create_index("ix_queue_history_entry_id_id", "queue_history", ["entry_id", "id"])
    op.create_index("ix_queue_history_at", "queue_history", ["at"])
    op.create_table(
        "queue_printer_holds",
        sa.Column("printer_id", sa.String(), nullable=False),
        sa.Column("held_by", sa.String(), nullable=True),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("printer_id", name=op.f("pk_queue_printer_holds")),
    )
    op.create_table(
        "queue_state",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_queue_state")),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("queue_entry_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("queue_user_id", sa.String(), nullable=True))
        batch.add_column(sa.Column("queue_user_name", sa.String(), nullable=True))


def downgrade() -> None:
    """Drop the queue tables and the queue columns of ``jobs``."""
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("queue_user_name")
        batch.drop_column("queue_user_id")
        batch.drop_column("queue_entry_id")
    op.drop_table("queue_state")
    op.drop_table("queue_printer_holds")
    op.drop_index("ix_queue_history_at", table_name="queue_history")
    op.drop_index("ix_queue_history_entry_id_id", table_name="queue_history")
    op.drop_table("queue_history")
    for name in (
        "ix_queue_entries_ended_at",
        "ix_queue_entries_user_id_id",
        "ix_queue_entries_active_queue_key",
        "uq_queue_entries_holding_user_id",
        "uq_queue_entries_holding_printer_id",
    ):
        op.drop_index(name, table_name="queue_entries")
    op.drop_table("queue_entries")
