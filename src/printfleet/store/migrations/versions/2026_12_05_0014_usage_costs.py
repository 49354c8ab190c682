"""usage and costs: what each print used from which spool, and what it cost

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05

``job_material_tracking`` keeps what a print's usage is computed from (recorded at its start, settled once at its
end); ``job_usage`` one line per job and slot; ``job_costs`` the cost snapshot of each ended job, with the job's
business flag, customer, deletion and week (the Monday it ended, UTC) copied for the costs report. Printers gain
``average_watts`` and ``hourly_rate`` for the energy and machine-time parts of a cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the usage and cost tables; add the printers' cost settings."""
    op.create_table(
        "job_material_tracking",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("printer_id", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id"),
    )
    op.create_index("ix_job_material_tracking_unsettled", "job_material_tracking", ["settled_at"])
    op.create_table(
        "job_usage",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.String(16), nullable=True),
        sa.Column("spool_id", sa.Integer(), nullable=True),
        sa.Column("grams", sa.Float(), nullable=False),
        sa.Column("metres", sa.Float(), nullable=True),
        sa.Column("material", sa.String(32), nullable=True),
        sa.Column("color", sa.String(9), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("confidence", sa.String(8), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["spool_id"], ["spools.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "slot", name="uq_job_usage_job_id_slot"),
    )
    op.create_index("ix_job_usage_spool_id", "job_usage", ["spool_id"])
    op.create_table(
        "job_costs",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("printer_id", sa.String(64), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("material_grams", sa.Float(), nullable=False),
        sa.Column("material_cost", sa.Float(), nullable=False),
        sa.Column("printing_hours", sa.Float(), nullable=False),
        sa.Column("energy_kwh", sa.Float(), nullable=True),
        sa.Column("energy_cost", sa.Float(), nullable=True),
        sa.Column("machine_cost", sa.Float(), nullable=True),
        sa.Column("total_cost", sa.Float(), nullable=False),
        sa.Column("materials", sa.String(128), nullable=True),
        sa.Column("is_business", sa.Boolean(), nullable=False),
        sa.Column("customer", sa.String(200), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id"),
    )
    op.create_index("ix_job_costs_ended_at", "job_costs", ["ended_at"])
    with op.batch_alter_table("printers") as batch:
        batch.add_column(sa.Column("average_watts", sa.Float(), nullable=True))
        batch.add_column(sa.Column("hourly_rate", sa.Float(), nullable=True))


def downgrade() -> None:
    """Drop the usage and cost tables and the printers' cost settings."""
    with op.batch_alter_table("printers") as batch:
        batch.drop_column("hourly_rate")
        batch.drop_column("average_watts")
    op.drop_index("ix_job_costs_ended_at", table_name="job_costs")
    op.drop_table("job_costs")
    op.drop_index("ix_job_usage_spool_id", table_name="job_usage")
    op.drop_table("job_usage")
    op.drop_index("ix_job_material_tracking_unsettled", table_name="job_material_tracking")
    op.drop_table("job_material_tracking")
