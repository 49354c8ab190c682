"""dispatch: prints sent by printfleet, the plate-clear gate, printer model and FTPS port

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

``dispatches`` holds one row per request to print a library file on a printer, with the step it reached (stored
before each step runs). ``printer_plates`` holds, per printer, whether its plate must be cleared before printfleet
sends it another print. Jobs learn which dispatch started them, who asked, and how the plate looked when cleared.
Printers gain an optional ``model`` (for file compatibility) and ``ftp_port`` (Bambu FTPS, default 990).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_FLIGHT = "state IN ('pending', 'uploading', 'uploaded', 'starting')"


def upgrade() -> None:
    """Create ``dispatches`` and ``printer_plates``; add the new columns of ``jobs`` and ``printers``."""
    op.create_table(
        "dispatches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("printer_id", sa.String(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("plate", sa.Integer(), nullable=False),
        sa.Column("job_name", sa.String(255), nullable=False),
        sa.Column("remote_name", sa.String(255), nullable=False),
        sa.Column("remote_path", sa.String(), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(32), nullable=True),
        sa.Column("detail", sa.String(500), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("start_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatches")),
    )
    op.create_index("ix_dispatches_created_at", "dispatches", ["created_at"])
    # At most one dispatch in flight per printer, whichever process asks (a second one is refused as busy).
    op.create_index(
        "uq_dispatches_in_flight_printer_id",
        "dispatches",
        ["printer_id"],
        unique=True,
        sqlite_where=sa.text(IN_FLIGHT),
        postgresql_where=sa.text(IN_FLIGHT),
    )
    op.create_table(
        "printer_plates",
        sa.Column("printer_id", sa.String(), nullable=False),
        sa.Column("needs_clearing", sa.Boolean(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_by", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("printer_id", name=op.f("pk_printer_plates")),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("dispatch_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("requested_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("plate_outcome", sa.String(16), nullable=True))
    with op.batch_alter_table("printers") as batch:
        batch.add_column(sa.Column("model", sa.String(), nullable=True))
        batch.add_column(sa.Column("ftp_port", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Drop what :func:`upgrade` added."""
    with op.batch_alter_table("printers") as batch:
        batch.drop_column("ftp_port")
        batch.drop_column("model")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("plate_outcome")
        batch.drop_column("requested_by")
        batch.drop_column("dispatch_id")
    op.drop_table("printer_plates")
    op.drop_index("uq_dispatches_in_flight_printer_id", table_name="dispatches")
    op.drop_index("ix_dispatches_created_at", table_name="dispatches")
    op.drop_table("dispatches")
