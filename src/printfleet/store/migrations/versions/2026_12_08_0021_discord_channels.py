"""notification channels: the target of a discord channel

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08

``target``: where a ``discord`` channel posts through printfleet's bot: ``dm`` (a direct message to the owner's linked
Discord account) or a Discord channel id; null for the other kinds.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the target column."""
    with op.batch_alter_table("notification_channels") as batch:
        batch.add_column(sa.Column("target", sa.String(40), nullable=True))


def downgrade() -> None:
    """Drop it (and the discord channels, which cannot send without it)."""
    op.execute("DELETE FROM notification_channels WHERE kind = 'discord'")
    with op.batch_alter_table("notification_channels") as batch:
        batch.drop_column("target")
