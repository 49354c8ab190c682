"""notification rules: digests (an hourly or daily summary instead of single messages); outbox rows sent as one

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06

``digest_period`` (``hourly`` / ``daily``), ``digest_at`` (``HH:MM``, daily) and ``digest_timezone`` (IANA name),
all null for a rule without a digest; ``notifications.digest`` marks a row gathered with the channel's other digest
rows due at the same time.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the digest columns."""
    with op.batch_alter_table("notification_rules") as batch:
        batch.add_column(sa.Column("digest_period", sa.String(8), nullable=True))
        batch.add_column(sa.Column("digest_at", sa.String(5), nullable=True))
        batch.add_column(sa.Column("digest_timezone", sa.String(64), nullable=True))
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("digest", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("digest")
    with op.batch_alter_table("notification_rules") as batch:
        batch.drop_column("digest_timezone")
        batch.drop_column("digest_at")
        batch.drop_column("digest_period")
