"""notification channels: their own message templates

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07

``title_template`` and ``body_template``: a person's own Jinja2 texts for a channel's messages (null: the defaults).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the template columns."""
    with op.batch_alter_table("notification_channels") as batch:
        batch.add_column(sa.Column("title_template", sa.Text(), nullable=True))
        batch.add_column(sa.Column("body_template", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("notification_channels") as batch:
        batch.drop_column("body_template")
        batch.drop_column("title_template")
