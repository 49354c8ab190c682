"""jobs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Repeated here rather than imported from tables.py: a revision must keep creating the schema it created, whatever
# later becomes of the ORM module.
_ACTIVE = "status IN ('running', 'paused')"
_PENDING = "status = 'pending'"


def upgrade() -> None:
    """Create the jobs table: the one-active-job-per-printer partial unique index, listing and pending indexes."""
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("printer_id", sa.String(), nullable=False),
        sa.Column("printer_type", sa.String(), nullable=False),
        sa.Column("job_name", sa.String(), nullable=False),
        sa.Column("filename", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("is_business", sa.Boolean(), nullable=False),
        sa.Column("customer_info", sa.JSON(), nullable=False),
        sa.Column("file_id", sa.String(), nullable=True),
        sa.Column("native_job_id", sa.String(), nullable=True),
        sa.Column("end_reason", sa.String(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("auto_created", sa.Boolean(), nullable=False),
        sa.Column("discovered_on_startup", sa.Boolean(), nullable=False),
        sa.Column("printer_start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("elapsed_seconds", sa.Integer(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(
        "uq_jobs_active_printer_id",
        "jobs",
        ["printer_id"],
        unique=True,
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )
    op.create_index("ix_jobs_created_at_id", "jobs", ["created_at", "id"])
    op.create_index("ix_jobs_printer_id_created_at", "jobs", ["printer_id", "created_at"])
    op.create_index("ix_jobs_auto_created_created_at", "jobs", ["auto_created", "created_at"])
    op.create_index(
        "ix_jobs_pending_printer_id",
        "jobs",
        ["printer_id", "created_at"],
        sqlite_where=sa.text(_PENDING),
        postgresql_where=sa.text(_PENDING),
    )


def downgrade() -> None:
    """Drop the jobs table and its indexes."""
    op.drop_index("ix_jobs_pending_printer_id", table_name="jobs")
    op.drop_index("ix_jobs_auto_created_created_at", table_name="jobs")
    op.drop_index("ix_jobs_printer_id_created_at", table_name="jobs")
    op.drop_index("ix_jobs_created_at_id", table_name="jobs")
    op.drop_index("uq_jobs_active_printer_id", table_name="jobs")
    op.drop_table("jobs")
