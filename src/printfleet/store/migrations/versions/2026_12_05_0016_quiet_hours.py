"""notification rules: quiet hours (a window of local time in which the rule's messages are held)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05

``quiet_start`` / ``quiet_end`` (``HH:MM``) in ``quiet_timezone`` (IANA name), all null for a rule without quiet
hours; ``quiet_critical_bypass`` lets critical events through.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the quiet-hours columns."""
    with op.batch_alter_table("notification_rules") as batch:
        batch.add_column(sa.Column("quiet_start", sa.String(5), nullable=True))
        batch.add_column(sa.Column("quiet_end", sa.String(5), nullable=True))
        batch.add_column(sa.Column("quiet_timezone", sa.String(64), nullable=True))
        batch.add_column(sa.Column("quiet_critical_bypass", sa.Boolean(), nullable=True))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("notification_rules") as batch:
        batch.drop_column("quiet_critical_bypass")
        batch.drop_column("quiet_timezone")
        batch.drop_column("quiet_end")
        batch.drop_column("quiet_start")
