"""maintenance: tasks, per-printer counters and the log of what was done

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

``maintenance_tasks`` holds each task (interval in print hours, days or jobs; every printer, one printer or one
model); ``maintenance_printer_tasks`` a task's state on one printer (last done, counter offset, what was announced);
``maintenance_log`` each time a task was done.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the three maintenance tables."""
    op.create_table(
        "maintenance_tasks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("printer_id", sa.String(), nullable=True),
        sa.Column("printer_model", sa.String(64), nullable=True),
        sa.Column("interval", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("warn_fraction", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_tasks")),
    )
    op.create_table(
        "maintenance_printer_tasks",
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("printer_id", sa.String(), nullable=False),
        sa.Column("last_done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_done_by", sa.Integer(), nullable=True),
        sa.Column("last_notes", sa.Text(), nullable=True),
        sa.Column("counter_offset", sa.Float(), nullable=False),
        sa.Column("announced", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["maintenance_tasks.id"],
            name=op.f("fk_maintenance_printer_tasks_task_id_maintenance_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_id", "printer_id", name=op.f("pk_maintenance_printer_tasks")),
    )
    op.create_table(
        "maintenance_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("printer_id", sa.String(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_by", sa.Integer(), nullable=True),
        sa.Column("counter", sa.Float(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["maintenance_tasks.id"],
            name=op.f("fk_maintenance_log_task_id_maintenance_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_log")),
    )
    op.create_index("ix_maintenance_log_printer_id_done_at", "maintenance_log", ["printer_id", "done_at"])


def downgrade() -> None:
    """Drop the maintenance tables."""
    op.drop_index("ix_maintenance_log_printer_id_done_at", table_name="maintenance_log")
    op.drop_table("maintenance_log")
    op.drop_table("maintenance_printer_tasks")
    op.drop_table("maintenance_tasks")
