"""print files: the file library (one row per uploaded content, named by its SHA-256)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

``uploaded_by`` is not a foreign key: a file outlives the account that uploaded it. ``materials`` repeats the
filament types of ``metadata`` (``,PETG,PLA,``) for a portable filter.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the ``print_files`` table."""
    op.create_table(
        "print_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("materials", sa.String(500), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_print_files")),
        sa.UniqueConstraint("sha256", name=op.f("uq_print_files_sha256")),
    )
    op.create_index("ix_print_files_created_at", "print_files", ["created_at"])


def downgrade() -> None:
    """Drop the ``print_files`` table."""
    op.drop_index("ix_print_files_created_at", table_name="print_files")
    op.drop_table("print_files")
