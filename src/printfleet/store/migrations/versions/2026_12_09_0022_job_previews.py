"""job previews: the plate picture of a print started at the printer

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-09

``job_previews``: for a Bambu Lab print printfleet did not send, the preview of the printed plate out of the project
file read back from the printer (``Metadata/plate_N.png``), so every process of a farm can show it on the card.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the job_previews table."""
    op.create_table(
        "job_previews",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_job_previews_job_id_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_previews")),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_table("job_previews")
