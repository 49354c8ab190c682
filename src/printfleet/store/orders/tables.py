"""ORM tables of shop orders (schema: migration 0013).

``orders`` is unique on (``source``, ``external_id``) and ``order_lines`` on (``order_id``, ``external_id``), so a
shop's order polled again updates its row instead of adding one; ``order_prints`` links each plate of a line
(``part_index``, ``plate_index``, ``attempt`` for reprints) to its scheduled print, unique per plate and attempt, so
scheduling an order twice (or from two processes) adds nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from printfleet.store.tables import Base


class ProductProfileRow(Base):
    """How a product is printed: its match rule, parts (JSON list of part dicts) and print settings."""

    __tablename__ = "product_profiles"
    __table_args__ = (Index("ix_product_profiles_listing_id", "listing_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120))
    listing_id: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str | None] = mapped_column(String(120))
    variations: Mapped[list[Any]] = mapped_column(JSON)
    parts: Mapped[list[Any]] = mapped_column(JSON)
    printer_id: Mapped[str | None] = mapped_column(String)
    model: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer)
    nozzle_temp: Mapped[float | None] = mapped_column(Float)
    bed_temp: Mapped[float | None] = mapped_column(Float)
    print_speed: Mapped[str | None] = mapped_column(String(16))
    allow_personalisation: Mapped[bool] = mapped_column(Boolean)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OrderRow(Base):
    """One order (no address: the buyer's name only)."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_orders_status_ship_by", "status", "ship_by"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str | None] = mapped_column(String(64))
    buyer_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    problem: Mapped[str | None] = mapped_column(String(500))
    paid_at: Mapped[datetime | None]
    ship_by: Mapped[datetime | None]
    shop_updated_at: Mapped[datetime | None]
    tracking_code: Mapped[str | None] = mapped_column(String(120))
    carrier: Mapped[str | None] = mapped_column(String(64))
    shipped_at: Mapped[datetime | None]
    shop_shipment: Mapped[str | None] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OrderLineRow(Base):
    """One line of an order, with the profile it matched and what keeps it from printing."""

    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_id", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    external_id: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[int] = mapped_column(Integer)
    listing_id: Mapped[str | None] = mapped_column(String(64))
    sku: Mapped[str | None] = mapped_column(String(120))
    variations: Mapped[list[Any]] = mapped_column(JSON)
    personalisation: Mapped[str | None] = mapped_column(Text)
    expected_ship_date: Mapped[datetime | None]
    profile_id: Mapped[int | None] = mapped_column(Integer)
    problem: Mapped[str | None] = mapped_column(String(500))


class OrderPrintRow(Base):
    """A plate of an order line and the scheduled print that prints it (one row per attempt)."""

    __tablename__ = "order_prints"
    __table_args__ = (
        UniqueConstraint("line_id", "part_index", "plate_index", "attempt"),
        UniqueConstraint("scheduled_print_id"),
        Index("ix_order_prints_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"))
    part_index: Mapped[int] = mapped_column(Integer)
    plate_index: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)
    scheduled_print_id: Mapped[int] = mapped_column(Integer)


class ShopConnectionRow(Base):
    """A connected shop (one row per shop kind, e.g. ``etsy``): the seller's ids, the tokens (encrypted by the
    caller; never stored in clear), the poll's watermark, and how the connection stands."""

    __tablename__ = "shop_connections"

    shop: Mapped[str] = mapped_column(String(16), primary_key=True)
    shop_id: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(32))
    tokens: Mapped[str | None] = mapped_column(Text)
    pending: Mapped[str | None] = mapped_column(Text)
    watermark: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(20))
    last_poll_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    orders_seen: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]
