"""spoolman: spools linked to Spoolman, and the outbox of usage reported there

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05

``spools.spoolman_id`` links a spool to the same spool in Spoolman (unique where set); ``spoolman_reports`` holds
each job's use of each linked spool until Spoolman has it (written with the charge, sent after the commit).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the link and the outbox."""
    with op.batch_alter_table("spools") as batch:
        batch.add_column(sa.Column("spoolman_id", sa.Integer(), nullable=True))
        batch.create_unique_constraint("uq_spools_spoolman_id", ["spoolman_id"])
    op.create_table(
        "spoolman_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("spool_id", sa.Integer(), nullable=True),
        sa.Column("spoolman_id", sa.Integer(), nullable=False),
        sa.Column("grams", sa.Float(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("baseline_g", sa.Float(), nullable=True),
        sa.Column("uncertain", sa.Boolean(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["spool_id"], ["spools.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "spoolman_id", name="uq_spoolman_reports_job_id_spoolman_id"),
    )
    op.create_index("ix_spoolman_reports_due", "spoolman_reports", ["state", "next_attempt_at"])


def downgrade() -> None:
    """Drop the outbox and the link."""
    op.drop_index("ix_spoolman_reports_due", table_name="spoolman_reports")
    op.drop_table("spoolman_reports")
    with op.batch_alter_table("spools") as batch:
        batch.drop_constraint("uq_spools_spoolman_id", type_="unique")
        batch.drop_column("spoolman_id")
