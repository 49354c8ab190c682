"""An Etsy ShopReceipt becomes an IncomingOrder: ids as text, UTC times, unescaped variations, personalisation apart,
a ship-by date, cancellation; a malformed receipt is refused naming its id and field."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from printfleet.domain.orders.model import OrderSource, Variation
from printfleet.shops.etsy.mapping import EtsyReceiptMalformed, receipt_to_order

CREATED = 1_764_840_000  # 2025-12-04 09:20:00 UTC
UPDATED = CREATED + 3600


def line(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "transaction_id": 4_200_000_001,
        "title": "Custom keychain",
        "quantity": 7,
        "listing_id": 1_462_850_311,
        "product_id": 99,
        "sku": "KEY-STAR",
        "paid_timestamp": CREATED,
        "expected_ship_date": CREATED + 2 * 86_400,
        "min_processing_days": 1,
        "max_processing_days": 3,
        "variations": [
            {"property_id": 513, "value_id": None, "formatted_name": "Color", "formatted_value": "Galaxy Black"},
            {"property_id": 514, "value_id": 7, "formatted_name": "Size", "formatted_value": "14 UK women&#039;s"},
        ],
    }
    base.update(overrides)
    return base


def receipt(*lines: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "receipt_id": 3_100_000_001,
        "name": "Ada Lovelace",
        "first_line": "12 St James's Square",
        "city": "London",
        "status": "paid",
        "is_paid": True,
        "is_shipped": False,
        "create_timestamp": CREATED,
        "created_timestamp": CREATED,
        "update_timestamp": UPDATED,
        "updated_timestamp": UPDATED,
        "transactions": list(lines) or [line()],
    }
    base.update(overrides)
    return base


def test_receipt_maps_ids_as_text_times_as_utc_and_keeps_no_address() -> None:
    order = receipt_to_order(receipt())
    assert order.source is OrderSource.ETSY
    assert order.external_id == "3100000001"
    assert order.buyer_name == "Ada Lovelace"
    assert order.created_at == datetime.fromtimestamp(CREATED, UTC)
    assert order.updated_at == datetime.fromtimestamp(UPDATED, UTC)
    assert order.created_at.tzinfo is UTC
    assert order.paid_at == order.created_at
    assert (order.is_paid, order.is_shipped, order.cancelled) == (True, False, False)
    [only] = order.lines
    assert only.external_id == "4200000001"
    assert only.listing_id == "1462850311"
    assert (only.title, only.quantity, only.sku) == ("Custom keychain", 7, "KEY-STAR")
    assert "London" not in repr(order)


def test_html_escaped_variation_values_are_unescaped() -> None:
    [only] = receipt_to_order(receipt()).lines
    assert only.variations == (Variation("Color", "Galaxy Black"), Variation("Size", "14 UK women's"))


def test_personalisation_is_property_54_and_kept_out_of_variations() -> None:
    personalised = line(
        variations=[
            {"property_id": 513, "value_id": None, "formatted_name": "Color", "formatted_value": "Red"},
            {
                "property_id": 54,
                "value_id": None,
                "formatted_name": "Personalization",
                "formatted_value": "Ada &amp; Byron",
            },
        ]
    )
    [only] = receipt_to_order(receipt(personalised)).lines
    assert only.personalisation == "Ada & Byron"
    assert only.variations == (Variation("Color", "Red"),)


def test_not_requested_personalisation_is_none() -> None:
    plain = line(
        variations=[
            {
                "property_id": 54,
                "value_id": None,
                "formatted_name": "Personalization",
                "formatted_value": "Not requested on this item.",
            }
        ]
    )
    [only] = receipt_to_order(receipt(plain)).lines
    assert only.personalisation is None
    assert only.variations == ()


def test_ship_by_is_the_earliest_expected_ship_date_of_the_lines() -> None:
    late = line(transaction_id=1, expected_ship_date=CREATED + 5 * 86_400)
    early = line(transaction_id=2, expected_ship_date=CREATED + 2 * 86_400)
    unknown = line(transaction_id=3, expected_ship_date=None)
    order = receipt_to_order(receipt(late, early, unknown))
    assert order.ship_by == datetime.fromtimestamp(CREATED + 2 * 86_400, UTC)
    assert [item.expected_ship_date is None for item in order.lines] == [False, False, True]


def test_ship_by_falls_back_to_created_plus_the_longest_processing_time() -> None:
    short = line(transaction_id=1, expected_ship_date=None, max_processing_days=2)
    long = line(transaction_id=2, expected_ship_date=None, max_processing_days=5)
    order = receipt_to_order(receipt(short, long))
    assert order.ship_by == datetime.fromtimestamp(CREATED, UTC) + timedelta(days=5)


def test_no_ship_date_and_no_processing_time_leaves_ship_by_unknown() -> None:
    order = receipt_to_order(receipt(line(expected_ship_date=None, max_processing_days=None)))
    assert order.ship_by is None


@pytest.mark.parametrize(
    ("status", "cancelled"),
    [("canceled", True), ("fully refunded", True), ("partially refunded", False), ("completed", False)],
)
def test_canceled_and_fully_refunded_receipts_are_cancelled(status: str, cancelled: bool) -> None:
    assert receipt_to_order(receipt(status=status)).cancelled is cancelled


def test_only_the_plural_timestamp_twin_is_enough() -> None:
    twin = receipt()
    del twin["create_timestamp"], twin["update_timestamp"]
    order = receipt_to_order(twin)
    assert order.created_at == datetime.fromtimestamp(CREATED, UTC)
    assert order.updated_at == datetime.fromtimestamp(UPDATED, UTC)


def test_untitled_line_is_named_after_its_listing() -> None:
    [only] = receipt_to_order(receipt(line(title=None))).lines
    assert only.title == "Etsy listing 1462850311"


@pytest.mark.parametrize(
    ("break_it", "field"),
    [
        (lambda r: r["transactions"][0].pop("quantity"), "transactions[0].quantity"),
        (lambda r: r["transactions"][0].update(quantity="seven"), "transactions[0].quantity"),
        (lambda r: r["transactions"][0].update(quantity=0), "transactions[0].quantity"),
        (lambda r: r.pop("is_paid"), "is_paid"),
        (lambda r: r.update(transactions=None), "transactions"),
        (lambda r: [r.pop("create_timestamp"), r.pop("created_timestamp")], "create_timestamp"),
        (
            lambda r: r["transactions"][0]["variations"][1].update(formatted_value=None),
            "transactions[0].variations[1].formatted_value",
        ),
    ],
)
def test_malformed_receipt_names_the_receipt_and_field(break_it: Any, field: str) -> None:
    broken = copy.deepcopy(receipt())
    break_it(broken)
    with pytest.raises(ValueError, match="Etsy receipt 3100000001") as caught:
        receipt_to_order(broken)
    assert isinstance(caught.value, EtsyReceiptMalformed)
    assert caught.value.field == field
    assert field in str(caught.value)
