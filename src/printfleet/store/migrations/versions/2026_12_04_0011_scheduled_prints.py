"""scheduled prints, and how each printer takes part in printing

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

``scheduled_prints`` holds one row per copy of a scheduled print (file, target, times, deadline, priority, chain,
status and the dispatch and job it led to). At most one print per printer is ``dispatching`` (a partial unique
index), so two processes cannot both send one. Printers gain ``queue_mode`` (``members``, ``scheduled``, ``manual``;
existing printers stay with the member queue) and ``tags``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DISPATCHING = "status = 'dispatching'"


def upgrade() -> None:
    """Create ``scheduled_prints``; add ``printers.queue_mode`` and ``printers.tags``."""
    op.create_table(
        "scheduled_prints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("printer_id", sa.String(), nullable=True),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.Column("job_name", sa.String(255), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("plate", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("scheduled_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finish_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("estimated_duration_minutes", sa.Integer(), nullable=True),
        sa.Column("material_type", sa.String(32), nullable=True),
        sa.Column("material_color", sa.String(16), nullable=True),
        sa.Column("material_slot", sa.Integer(), nullable=True),
        sa.Column("nozzle_temp", sa.Float(), nullable=True),
        sa.Column("bed_temp", sa.Float(), nullable=True),
        sa.Column("print_speed", sa.String(16), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("copies", sa.Integer(), nullable=False),
        sa.Column("copy_index", sa.Integer(), nullable=False),
        sa.Column("depends_on", sa.Integer(), nullable=True),
        sa.Column("offset_minutes", sa.Integer(), nullable=False),
        sa.Column("offset_from", sa.String(8), nullable=False),
        sa.Column("only_if_succeeded", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("assigned_printer_id", sa.String(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_reason", sa.String(500), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("dispatch_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_prints")),
    )
    op.create_index("ix_scheduled_prints_status", "scheduled_prints", ["status"])
    op.create_index("ix_scheduled_prints_depends_on", "scheduled_prints", ["depends_on"])
    # One print being sent per printer, whichever process claims it.
    op.create_index(
        "uq_scheduled_prints_dispatching_printer",
        "scheduled_prints",
        ["assigned_printer_id"],
        unique=True,
        sqlite_where=sa.text(DISPATCHING),
        postgresql_where=sa.text(DISPATCHING),
    )
    with op.batch_alter_table("printers") as batch:
        batch.add_column(sa.Column("queue_mode", sa.String(16), nullable=False, server_default="members"))
        batch.add_column(sa.Column("tags", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop what :func:`upgrade` added."""
    with op.batch_alter_table("printers") as batch:
        batch.drop_column("tags")
        batch.drop_column("queue_mode")
    op.drop_index("uq_scheduled_prints_dispatching_printer", table_name="scheduled_prints")
    op.drop_index("ix_scheduled_prints_depends_on", table_name="scheduled_prints")
    op.drop_index("ix_scheduled_prints_status", table_name="scheduled_prints")
    op.drop_table("scheduled_prints")
