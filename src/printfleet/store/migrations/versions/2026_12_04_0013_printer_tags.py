"""printer tags: the operator's own labels (a location, a group) per printer

Revision ID: 0013
Revises: 0009
Create Date: 2026-12-04

``printers.tags`` holds a printer's tags joined by commas (a tag never contains one), ``''`` for none. The Printers
page filters by them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``printers.tags`` (empty for every existing printer)."""
    with op.batch_alter_table("printers") as batch:
        batch.add_column(sa.Column("tags", sa.String(), nullable=False, server_default=""))


def downgrade() -> None:
    """Drop ``printers.tags``."""
    with op.batch_alter_table("printers") as batch:
        batch.drop_column("tags")
