"""leases: the roles one process of a farm on PostgreSQL holds at a time

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05

One row per role (``notifications.delivery``, ``schedule.scheduler``, ``shop.etsy``): its holder, an epoch that
grows at every change of holder, and when the hold expires (the database's clock).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the lease table."""
    op.create_table(
        "leases",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_table("leases")
