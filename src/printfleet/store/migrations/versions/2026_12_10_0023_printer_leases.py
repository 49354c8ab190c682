"""printer leases: which process of a farm on PostgreSQL owns (connects to) each printer

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-10

``printer_leases``: one row per printer a process claimed once: its owner (NULL when let go), an epoch that grows at
every change of owner, and when the lease expires (the database's clock). ``farm_processes``: each process's last
heartbeat, from which the others know who is alive (moonraker-auth-scale research C1). ``printer_live``: each
printer's latest status as its owner last wrote it (``domain.status_wire``), for the processes that do not own it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the printer leases, the processes' heartbeats and the shared printer statuses."""
    op.create_table(
        "printer_leases",
        sa.Column("printer_id", sa.String(), nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["printer_id"], ["printers.id"], name=op.f("fk_printer_leases_printer_id_printers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("printer_id", name=op.f("pk_printer_leases")),
    )
    op.create_index(op.f("ix_printer_leases_owner"), "printer_leases", ["owner"])
    op.create_table(
        "farm_processes",
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner", name=op.f("pk_farm_processes")),
    )

    op.create_table(
        "printer_live",
        sa.Column("printer_id", sa.String(), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["printer_id"], ["printers.id"], name=op.f("fk_printer_live_printer_id_printers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("printer_id", name=op.f("pk_printer_live")),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("printer_live")
    op.drop_table("farm_processes")
    op.drop_index(op.f("ix_printer_leases_owner"), table_name="printer_leases")
    op.drop_table("printer_leases")
