"""Etsy ``ShopReceipt`` → :class:`IncomingOrder`: a pure function of the receipt.

A receipt, as ``getShopReceipts`` embeds it (Etsy's document ``ShopReceipt`` and ``ShopReceiptTransaction``;
research dispatch-scheduling-orders.md 4.4, 4.5), trimmed to the fields read here::

    {"receipt_id": 3100000001, "name": "Ada Lovelace", "status": "paid", "is_paid": true, "is_shipped": false,
     "create_timestamp": 1764840000, "update_timestamp": 1764843600,
     "transactions": [
       {"transaction_id": 4200000001, "title": "Custom keychain", "quantity": 7, "listing_id": 1462850311,
        "sku": "KEY-STAR", "paid_timestamp": 1764840000, "expected_ship_date": 1765012800,
        "min_processing_days": 1, "max_processing_days": 3,
        "variations": [
          {"property_id": 513, "value_id": null, "formatted_name": "Color", "formatted_value": "Galaxy Black"},
          {"property_id": 54, "value_id": null, "formatted_name": "Personalization",
           "formatted_value": "Ada &amp; Byron"}]}]}

Rules: ids become strings; epoch seconds become aware UTC; ``formatted_value`` is HTML-unescaped (Etsy escapes it:
``women&#039;s``, etsy/open-api#254); the personalisation is the variation with property id 54 (etsy/open-api#260),
kept out of ``variations`` and None for "Not requested on this item."; ``ship_by`` is the earliest non-null
``expected_ship_date`` of the lines, else created + the largest ``max_processing_days`` (research 6.3.7);
``canceled`` and ``fully refunded`` receipts are cancelled. The address is not kept.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from printfleet.domain.orders.model import (
    PERSONALISATION_PROPERTY_ID,
    IncomingLine,
    IncomingOrder,
    OrderSource,
    Variation,
    personalisation_text,
)

CANCELLED_STATUSES = frozenset({"canceled", "fully refunded"})
"""``ShopReceipt.status`` values that mean the order will not be fulfilled."""


class EtsyReceiptMalformed(ValueError):
    """A receipt that does not have the documented shape. ``receipt_id`` (None when even that is unreadable) and
    ``field`` (dotted path, ``transactions[0].quantity``) say where."""

    def __init__(self, receipt_id: object, field: str, problem: str) -> None:
        super().__init__(f"Etsy receipt {receipt_id}: {field} {problem}")
        self.receipt_id = receipt_id
        self.field = field


def receipt_to_order(receipt: Mapping[str, Any]) -> IncomingOrder:
    """The :class:`IncomingOrder` of a ``ShopReceipt`` (see the module docstring for the rules). Raises
    :class:`EtsyReceiptMalformed` (a ValueError) naming the receipt id and the field when a field the mapping
    needs is missing or of the wrong type."""
    if not isinstance(receipt, Mapping):
        raise EtsyReceiptMalformed(None, "receipt", "is not an object")
    reader = _Reader(receipt, receipt.get("receipt_id"))
    receipt_id = reader.integer("receipt_id")
    created_at = reader.timestamp("create_timestamp", "created_timestamp")
    updated_at = reader.timestamp("update_timestamp", "updated_timestamp")
    raw_lines = receipt.get("transactions")
    if not isinstance(raw_lines, list):
        raise EtsyReceiptMalformed(receipt_id, "transactions", "is not a list")
    lines: list[IncomingLine] = []
    paid: list[datetime] = []
    processing_days: list[int] = []
    for index, raw in enumerate(raw_lines):
        if not isinstance(raw, Mapping):
            raise EtsyReceiptMalformed(receipt_id, f"transactions[{index}]", "is not an object")
        line = _Reader(raw, receipt_id, prefix=f"transactions[{index}].")
        lines.append(_line(line))
        paid_at = line.optional_timestamp("paid_timestamp")
        if paid_at is not None:
            paid.append(paid_at)
        days = line.optional_integer("max_processing_days")
        if days is not None:
            processing_days.append(days)
    ship_dates = [line.expected_ship_date for line in lines if line.expected_ship_date is not None]
    if ship_dates:
        ship_by: datetime | None = min(ship_dates)
    elif processing_days:
        ship_by = created_at + timedelta(days=max(processing_days))
    else:
        ship_by = None
    status = reader.string("status")
    name = receipt.get("name")
    return IncomingOrder(
        source=OrderSource.ETSY,
        external_id=str(receipt_id),
        buyer_name=(html.unescape(name).strip() or None) if isinstance(name, str) else None,
        created_at=created_at,
        updated_at=updated_at,
        lines=tuple(lines),
        paid_at=min(paid) if paid else None,
        ship_by=ship_by,
        is_paid=reader.boolean("is_paid"),
        is_shipped=reader.boolean("is_shipped"),
        cancelled=status in CANCELLED_STATUSES,
    )


def _line(line: _Reader) -> IncomingLine:
    quantity = line.integer("quantity")
    if quantity < 1:
        raise line.malformed("quantity", f"is {quantity}, not at least 1")
    listing_id = line.optional_integer("listing_id")
    title = line.optional_string("title")
    variations: list[Variation] = []
    personalisation: str | None = None
    raw_variations = line.data.get("variations") or []
    if not isinstance(raw_variations, list):
        raise line.malformed("variations", "is not a list")
    for index, raw in enumerate(raw_variations):
        if not isinstance(raw, Mapping):
            raise line.malformed(f"variations[{index}]", "is not an object")
        entry = _Reader(raw, line.receipt_id, prefix=f"{line.prefix}variations[{index}].")
        value = entry.string("formatted_value")
        if entry.integer("property_id") == PERSONALISATION_PROPERTY_ID:
            personalisation = personalisation_text(value)
            continue
        variations.append(Variation(html.unescape(entry.string("formatted_name")), html.unescape(value)))
    sku = line.optional_string("sku")
    return IncomingLine(
        external_id=str(line.integer("transaction_id")),
        title=html.unescape(title) if title else f"Etsy listing {listing_id}",
        quantity=quantity,
        listing_id=None if listing_id is None else str(listing_id),
        sku=sku or None,
        variations=tuple(variations),
        personalisation=personalisation,
        expected_ship_date=line.optional_timestamp("expected_ship_date"),
    )


class _Reader:
    """Typed reads of one JSON object that raise :class:`EtsyReceiptMalformed` with the field's path."""

    def __init__(self, data: Mapping[str, Any], receipt_id: object, *, prefix: str = "") -> None:
        self.data = data
        self.receipt_id = receipt_id
        self.prefix = prefix

    def malformed(self, name: str, problem: str) -> EtsyReceiptMalformed:
        return EtsyReceiptMalformed(self.receipt_id, self.prefix + name, problem)

    def integer(self, name: str) -> int:
        value = self.optional_integer(name)
        if value is None:
            raise self.malformed(name, "is missing")
        return value

    def optional_integer(self, name: str) -> int | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.malformed(name, f"is {type(value).__name__}, not an integer")
        return value

    def string(self, name: str) -> str:
        value = self.optional_string(name)
        if value is None:
            raise self.malformed(name, "is missing")
        return value

    def optional_string(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is not None and not isinstance(value, str):
            raise self.malformed(name, f"is {type(value).__name__}, not a string")
        return value

    def boolean(self, name: str) -> bool:
        value = self.data.get(name)
        if not isinstance(value, bool):
            raise self.malformed(name, "is missing" if value is None else f"is {type(value).__name__}, not a boolean")
        return value

    def timestamp(self, name: str, alias: str) -> datetime:
        """Epoch seconds under ``name`` (or its twin ``alias``; Etsy sends both) as aware UTC."""
        value = self.optional_timestamp(name) or self.optional_timestamp(alias)
        if value is None:
            raise self.malformed(name, "is missing")
        return value

    def optional_timestamp(self, name: str) -> datetime | None:
        value = self.optional_integer(name)
        if value is None:
            return None
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise self.malformed(name, f"is {value}, not an epoch time in seconds") from None
