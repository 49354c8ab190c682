"""Orders from other shops as a CSV file (UTF-8, a header row, comma-separated; docs/orders.md).

Columns (header names, case-insensitive; only ``order_id``, ``title`` are required): ``order_id`` (the shop's order
number: rows with the same one are the lines of one order), ``buyer_name``, ``ship_by`` (ISO 8601 date or date-time;
a date without a time means the end of that day, UTC; a time without an offset is UTC), ``title``, ``quantity``
(default 1), ``listing_id``, ``sku``, ``variations`` (``Name: Value; Name: Value``) and ``personalisation``.
Importing the same file again updates the orders it made (lines are keyed by their position within the order).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, time

from printfleet.domain.orders.model import IncomingLine, IncomingOrder, OrderSource, Variation

COLUMNS = (
    "order_id",
    "buyer_name",
    "ship_by",
    "title",
    "quantity",
    "listing_id",
    "sku",
    "variations",
    "personalisation",
)
"""The columns read; others are ignored."""

MAX_ROWS = 10_000
"""Rows one file may hold."""


@dataclass(frozen=True, slots=True)
class CsvImport:
    """The orders a file holds and its refused rows (``"row 7: quantity: not a whole number"``)."""

    orders: list[IncomingOrder]
    errors: list[str]


def _ship_by(value: str) -> datetime | None:
    if not value:
        return None
    if len(value) == 10:  # a date: the end of that day
        return datetime.combine(datetime.fromisoformat(value).date(), time(23, 59, 59), tzinfo=UTC)
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _variations(value: str) -> tuple[Variation, ...]:
    found: list[Variation] = []
    for item in value.split(";"):
        if not item.strip():
            continue
        name, separator, chosen = item.partition(":")
        if not separator or not name.strip() or not chosen.strip():
            raise ValueError(f"variations: {item.strip()!r} is not 'Name: Value'")
        found.append(Variation(name.strip(), chosen.strip()))
    return tuple(found)


def parse_orders(text: str, *, now: datetime) -> CsvImport:
    """The orders in CSV ``text`` (received at ``now``), grouped by ``order_id`` in file order, and the rows left
    out with their reason. Raises ValueError when the file has no header with ``order_id`` and ``title``, or more
    than :data:`MAX_ROWS` rows."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = {(name or "").strip().casefold(): name for name in reader.fieldnames or ()}
    missing = [column for column in ("order_id", "title") if column not in header]
    if missing:
        raise ValueError(f"the header row lacks {', '.join(missing)}")
    lines: dict[str, list[IncomingLine]] = {}
    details: dict[str, tuple[str | None, datetime | None]] = {}
    errors: list[str] = []
    for number, raw in enumerate(reader, start=2):
        if number - 1 > MAX_ROWS:
            raise ValueError(f"a file holds at most {MAX_ROWS} rows")
        row = {column: (raw.get(header[column]) or "").strip() for column in COLUMNS if column in header}
        order_id = row.get("order_id", "")
        try:
            if not order_id:
                raise ValueError("order_id: empty")
            if not row.get("title"):
                raise ValueError("title: empty")
            try:
                quantity = int(row.get("quantity") or "1")
            except ValueError:
                raise ValueError("quantity: not a whole number") from None
            if quantity < 1:
                raise ValueError("quantity: must be at least 1")
            try:
                ship_by = _ship_by(row.get("ship_by", ""))
            except ValueError:
                raise ValueError("ship_by: not an ISO 8601 date") from None
            variations = _variations(row.get("variations", ""))
        except ValueError as error:
            errors.append(f"row {number}: {error}")
            continue
        found = lines.setdefault(order_id, [])
        found.append(
            IncomingLine(
                external_id=f"{order_id}/{len(found) + 1}",
                title=row["title"][:255],
                quantity=quantity,
                listing_id=row.get("listing_id") or None,
                sku=row.get("sku") or None,
                variations=variations,
                personalisation=row.get("personalisation") or None,
            )
        )
        buyer, earlier = details.get(order_id, (None, None))
        details[order_id] = (
            buyer or row.get("buyer_name") or None,
            min((d for d in (earlier, ship_by) if d is not None), default=None),
        )
    orders = [
        IncomingOrder(
            source=OrderSource.CSV,
            external_id=order_id[:64],
            buyer_name=(details[order_id][0] or "")[:200] or None,
            created_at=now,
            paid_at=now,
            ship_by=details[order_id][1],
            lines=tuple(found),
        )
        for order_id, found in lines.items()
    ]
    return CsvImport(orders=orders, errors=errors)
