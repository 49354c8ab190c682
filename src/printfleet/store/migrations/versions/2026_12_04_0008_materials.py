"""materials: the filament inventory (vendors, filaments, spools)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

A filament may name its vendor and a spool names its filament; both keys refuse deleting a row still named.
``spools.used_weight_g`` is the stored consumption in grams; ``tray_uuid`` (a Bambu RFID spool id) is unique.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``vendors``, ``filaments`` and ``spools``."""
    op.create_table(
        "vendors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("empty_spool_weight_g", sa.Float(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendors")),
    )
    op.create_table(
        "filaments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("vendor_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(64), nullable=True),
        sa.Column("material", sa.String(32), nullable=False),
        sa.Column("color_hex", sa.String(8), nullable=True),
        sa.Column("density_g_cm3", sa.Float(), nullable=False),
        sa.Column("diameter_mm", sa.Float(), nullable=False),
        sa.Column("net_weight_g", sa.Float(), nullable=True),
        sa.Column("empty_spool_weight_g", sa.Float(), nullable=True),
        sa.Column("price_per_spool", sa.Float(), nullable=True),
        sa.Column("price_per_kg", sa.Float(), nullable=True),
        sa.Column("nozzle_temp_min_c", sa.Integer(), nullable=True),
        sa.Column("nozzle_temp_max_c", sa.Integer(), nullable=True),
        sa.Column("bed_temp_min_c", sa.Integer(), nullable=True),
        sa.Column("bed_temp_max_c", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"], ["vendors.id"], name=op.f("fk_filaments_vendor_id_vendors"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_filaments")),
    )
    op.create_index("ix_filaments_vendor_id", "filaments", ["vendor_id"])
    op.create_table(
        "spools",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("filament_id", sa.Integer(), nullable=False),
        sa.Column("initial_weight_g", sa.Float(), nullable=False),
        sa.Column("used_weight_g", sa.Float(), nullable=False),
        sa.Column("spool_weight_g", sa.Float(), nullable=True),
        sa.Column("location", sa.String(64), nullable=True),
        sa.Column("lot_nr", sa.String(64), nullable=True),
        sa.Column("tray_uuid", sa.String(32), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("first_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["filament_id"], ["filaments.id"], name=op.f("fk_spools_filament_id_filaments"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spools")),
        sa.UniqueConstraint("tray_uuid", name=op.f("uq_spools_tray_uuid")),
    )
    op.create_index("ix_spools_filament_id", "spools", ["filament_id"])


def downgrade() -> None:
    """Drop the material inventory."""
    op.drop_index("ix_spools_filament_id", table_name="spools")
    op.drop_table("spools")
    op.drop_index("ix_filaments_vendor_id", table_name="filaments")
    op.drop_table("filaments")
    op.drop_table("vendors")
