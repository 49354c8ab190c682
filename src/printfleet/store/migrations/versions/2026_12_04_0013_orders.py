"""orders: shop orders, their lines, product profiles, the scheduled print of each plate, connected shops

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

``product_profiles`` says how a product is printed; ``orders`` and ``order_lines`` keep orders (a shop's, typed in
or imported) unique per shop id; ``order_prints`` links each plate of a line to its scheduled print;
``shop_connections`` a connected shop's ids, encrypted tokens and poll watermark.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the order tables."""
    op.create_table(
        "product_profiles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("listing_id", sa.String(64), nullable=False),
        sa.Column("sku", sa.String(120), nullable=True),
        sa.Column("variations", sa.JSON(), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("printer_id", sa.String(), nullable=True),
        sa.Column("model", sa.String(64), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("nozzle_temp", sa.Float(), nullable=True),
        sa.Column("bed_temp", sa.Float(), nullable=True),
        sa.Column("print_speed", sa.String(16), nullable=True),
        sa.Column("allow_personalisation", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_profiles")),
    )
    op.create_index("ix_product_profiles_listing_id", "product_profiles", ["listing_id"])
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=True),
        sa.Column("buyer_name", sa.String(200), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("problem", sa.String(500), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ship_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shop_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tracking_code", sa.String(120), nullable=True),
        sa.Column("carrier", sa.String(64), nullable=True),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shop_shipment", sa.String(16), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("source", "external_id", name=op.f("uq_orders_source")),
    )
    op.create_index("ix_orders_status_ship_by", "orders", ["status", "ship_by"])
    op.create_table(
        "order_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=True),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("listing_id", sa.String(64), nullable=True),
        sa.Column("sku", sa.String(120), nullable=True),
        sa.Column("variations", sa.JSON(), nullable=False),
        sa.Column("personalisation", sa.Text(), nullable=True),
        sa.Column("expected_ship_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("profile_id", sa.Integer(), nullable=True),
        sa.Column("problem", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_lines_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
        sa.UniqueConstraint("order_id", "external_id", name=op.f("uq_order_lines_order_id")),
    )
    op.create_table(
        "order_prints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("part_index", sa.Integer(), nullable=False),
        sa.Column("plate_index", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("scheduled_print_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_prints_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["order_lines.id"], name=op.f("fk_order_prints_line_id_order_lines"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_prints")),
        sa.UniqueConstraint("line_id", "part_index", "plate_index", "attempt", name=op.f("uq_order_prints_line_id")),
        sa.UniqueConstraint("scheduled_print_id", name=op.f("uq_order_prints_scheduled_print_id")),
    )
    op.create_index("ix_order_prints_order_id", "order_prints", ["order_id"])
    op.create_table(
        "shop_connections",
        sa.Column("shop", sa.String(16), nullable=False),
        sa.Column("shop_id", sa.String(32), nullable=True),
        sa.Column("user_id", sa.String(32), nullable=True),
        sa.Column("tokens", sa.Text(), nullable=True),
        sa.Column("pending", sa.Text(), nullable=True),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("last_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("orders_seen", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("shop", name=op.f("pk_shop_connections")),
    )


def downgrade() -> None:
    """Drop the order tables."""
    op.drop_table("shop_connections")
    op.drop_index("ix_order_prints_order_id", table_name="order_prints")
    op.drop_table("order_prints")
    op.drop_table("order_lines")
    op.drop_index("ix_orders_status_ship_by", table_name="orders")
    op.drop_table("orders")
    op.drop_index("ix_product_profiles_listing_id", table_name="product_profiles")
    op.drop_table("product_profiles")
