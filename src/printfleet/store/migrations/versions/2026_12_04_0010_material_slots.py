"""material_slots: what each printer slot (AMS tray, external spool, tool) holds

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

One row per (printer, slot label). ``spool_id`` names the inventory spool in the slot and is emptied when that
spool is deleted; the rest is what the printer last reported (material, colour, RFID id, AMS remain %), when the spool
went in and when the printer last said so, and whether a low-stock notice was sent for it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``material_slots``."""
    op.create_table(
        "material_slots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("printer_id", sa.String(64), nullable=False),
        sa.Column("slot", sa.String(16), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("spool_id", sa.Integer(), nullable=True),
        sa.Column("material_type", sa.String(32), nullable=True),
        sa.Column("color", sa.String(8), nullable=True),
        sa.Column("preset_id", sa.String(32), nullable=True),
        sa.Column("tray_uuid", sa.String(32), nullable=True),
        sa.Column("remaining_pct", sa.Integer(), nullable=True),
        sa.Column("label_weight_g", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("low_alerted", sa.Boolean(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_synced", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["spool_id"], ["spools.id"], name=op.f("fk_material_slots_spool_id_spools"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material_slots")),
        sa.UniqueConstraint("printer_id", "slot", name="uq_material_slots_printer_id_slot"),
    )
    op.create_index("ix_material_slots_spool_id", "material_slots", ["spool_id"])


def downgrade() -> None:
    """Drop ``material_slots``."""
    op.drop_index("ix_material_slots_spool_id", table_name="material_slots")
    op.drop_table("material_slots")
