"""Orders from a CSV file: rows grouped into orders, ship-by dates read as UTC, bad rows named and left out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from printfleet.domain.orders.csv_format import parse_orders
from printfleet.domain.orders.model import OrderSource, Variation

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_rows_with_one_order_id_are_the_lines_of_one_order() -> None:
    text = (
        "\ufeffOrder_ID,Title,Quantity,Variations,Ship_By,Buyer_Name,Extra\n"
        "A1,Keychain,7,Colour: Red; Size: L,2026-12-24,Ada,x\n"
        "A2,Vase,,,2026-12-20T10:00:00+01:00,,\n"
        "A1,Tag,1,,2026-12-22,,\n"
    )
    parsed = parse_orders(text, now=NOW)
    assert parsed.errors == []
    first, second = parsed.orders
    assert (first.source, first.external_id, first.buyer_name) == (OrderSource.CSV, "A1", "Ada")
    assert [(line.external_id, line.title, line.quantity) for line in first.lines] == [
        ("A1/1", "Keychain", 7),
        ("A1/2", "Tag", 1),
    ]
    assert first.lines[0].variations == (Variation("Colour", "Red"), Variation("Size", "L"))
    assert first.ship_by == datetime(2026, 12, 22, 23, 59, 59, tzinfo=UTC), "the earliest line's date, end of day"
    assert second.ship_by == datetime(2026, 12, 20, 9, 0, tzinfo=UTC)
    assert second.lines[0].quantity == 1


def test_a_bad_row_is_named_and_the_rest_imported() -> None:
    text = (
        "order_id,title,quantity,ship_by,variations\n"
        "A1,Keychain,two,,\n"
        "A2,Keychain,0,,\n"
        "A3,Keychain,1,next week,\n"
        "A4,Keychain,1,,Red\n"
        ",Keychain,1,,\n"
        "A5,Keychain,1,,\n"
    )
    parsed = parse_orders(text, now=NOW)
    assert parsed.errors == [
        "row 2: quantity: not a whole number",
        "row 3: quantity: must be at least 1",
        "row 4: ship_by: not an ISO 8601 date",
        "row 5: variations: 'Red' is not 'Name: Value'",
        "row 6: order_id: empty",
    ]
    assert [order.external_id for order in parsed.orders] == ["A5"]


def test_a_file_without_the_required_columns_is_refused() -> None:
    with pytest.raises(ValueError, match="the header row lacks title"):
        parse_orders("order_id,name\n1,x\n", now=NOW)
