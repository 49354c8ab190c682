"""The receipts an Etsy stand-in holds, in the shapes of Etsy's published Open API v3 document.

A receipt is a plain ``dict`` shaped like the document's ``ShopReceipt`` (``receipt_id``, ``status``, ``is_paid``,
``is_shipped``, ``create_timestamp``/``created_timestamp``, ``update_timestamp``/``updated_timestamp`` in epoch
seconds, Money fields ``{amount, divisor, currency_code}``, ``shipments[]``, ``transactions[]`` shaped like
``ShopReceiptTransaction``, ``refunds[]``), so a client reads exactly what it would read from Etsy (research
dispatch-scheduling-orders.md 4.4, 4.5).

:class:`ReceiptBook` keeps them in memory with three sorted indexes (created, updated, receipt id), so a page of a
10,000-receipt shop is a bisect and a slice rather than a sort per request. The builders (:func:`transaction`,
:func:`variation`, :func:`personalisation`, :func:`money`) make the parts a test or the demo needs.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Receipt = dict[str, Any]
SortOn = Literal["created", "updated", "receipt_id"]

PERSONALISATION_PROPERTY_ID = 54
"""Etsy's property id of the personalisation variation (research 4.5; etsy/open-api#260)."""

CUSTOM_PROPERTY_ID = 513
"""A seller-defined variation property (Etsy numbers custom variations 513 and 514)."""

MIN_TIMESTAMP = 946684800
"""The document's ``minimum`` of the receipt time filters (2000-01-01)."""

_SORT_ORDERS = {"asc": False, "ascending": False, "up": False, "desc": True, "descending": True, "down": True}

RECEIPT_STATUSES = frozenset(
    {"paid", "completed", "open", "payment processing", "canceled", "fully refunded", "partially refunded"}
)
"""The ``ShopReceipt.status`` enum of Etsy's document."""


def money(amount: int, *, divisor: int = 100, currency_code: str = "USD") -> dict[str, Any]:
    """Etsy's ``Money``: ``amount`` in ``1/divisor`` units of ``currency_code`` (1250 → 12.50 USD)."""
    return {"amount": amount, "divisor": divisor, "currency_code": currency_code}


def variation(
    name: str, value: str, *, property_id: int = CUSTOM_PROPERTY_ID, value_id: int | None = None
) -> dict[str, Any]:
    """A ``TransactionVariations`` entry as the buyer chose it (``formatted_value`` may be HTML-escaped, as Etsy's
    is: ``women&#039;s``)."""
    return {"property_id": property_id, "value_id": value_id, "formatted_name": name, "formatted_value": value}


def personalisation(text: str) -> dict[str, Any]:
    """The personalisation variation (property 54); ``"Not requested on this item."`` when the buyer gave none."""
    return variation("Personalization", text, property_id=PERSONALISATION_PROPERTY_ID)


def transaction(
    *,
    title: str,
    quantity: int = 1,
    listing_id: int | None = 1_000_001,
    price: int = 1500,
    sku: str | None = None,
    product_id: int | None = None,
    variations: Sequence[dict[str, Any]] = (),
    expected_ship_date: int | None = None,
    min_processing_days: int | None = 1,
    max_processing_days: int | None = 3,
) -> dict[str, Any]:
    """A ``ShopReceiptTransaction`` without its ids and times (:meth:`EtsyStandIn.add_receipt` fills
    ``transaction_id``, ``receipt_id``, the user ids and the timestamps). ``price`` in cents (USD) per unit;
    ``expected_ship_date`` epoch seconds or None; processing days in days."""
    return {
        "title": title,
        "description": f"{title}, printed to order.",
        "quantity": quantity,
        "listing_id": listing_id,
        "listing_image_id": None,
        "is_digital": False,
        "file_data": "",
        "transaction_type": "listing",
        "product_id": product_id,
        "sku": sku,
        "price": money(price),
        "shipping_cost": money(0),
        "variations": [dict(v) for v in variations],
        "product_data": [],
        "shipping_profile_id": None,
        "min_processing_days": min_processing_days,
        "max_processing_days": max_processing_days,
        "shipping_method": None,
        "shipping_upgrade": None,
        "expected_ship_date": expected_ship_date,
        "buyer_coupon": 0.0,
        "shop_coupon": 0.0,
    }


def created_of(receipt: Receipt) -> int:
    """The receipt's creation time, epoch seconds."""
    return int(receipt["create_timestamp"])


def updated_of(receipt: Receipt) -> int:
    """The receipt's last change, epoch seconds."""
    return int(receipt["update_timestamp"])


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptQuery:
    """``getShopReceipts``' filters (epoch seconds, inclusive bounds; None: no bound), order and page."""

    min_created: int | None = None
    max_created: int | None = None
    min_last_modified: int | None = None
    max_last_modified: int | None = None
    sort_on: SortOn = "created"
    descending: bool = True
    was_paid: bool | None = None
    was_shipped: bool | None = None
    was_canceled: bool | None = None
    limit: int = 25
    offset: int = 0


class ReceiptBook:
    """Receipts by id, with indexes kept sorted on every add and change (each a ``bisect.insort``: O(n) memmove,
    microseconds at 10,000 receipts) so that a page is found without sorting."""

    def __init__(self) -> None:
        self._by_id: dict[int, Receipt] = {}
        self._created: list[tuple[int, int]] = []
        self._updated: list[tuple[int, int]] = []
        self._ids: list[int] = []

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, receipt_id: object) -> bool:
        return receipt_id in self._by_id

    def get(self, receipt_id: int) -> Receipt | None:
        """The stored receipt (the live object: change it through :meth:`put`)."""
        return self._by_id.get(receipt_id)

    def put(self, receipt: Receipt) -> None:
        """Add ``receipt`` or replace the one with its ``receipt_id``, keeping the indexes sorted."""
        receipt_id = int(receipt["receipt_id"])
        old = self._by_id.get(receipt_id)
        if old is None:
            bisect.insort(self._ids, receipt_id)
        else:
            self._remove(self._created, (created_of(old), receipt_id))
            self._remove(self._updated, (updated_of(old), receipt_id))
        self._by_id[receipt_id] = receipt
        bisect.insort(self._created, (created_of(receipt), receipt_id))
        bisect.insort(self._updated, (updated_of(receipt), receipt_id))

    @staticmethod
    def _remove(index: list[tuple[int, int]], key: tuple[int, int]) -> None:
        at = bisect.bisect_left(index, key)
        if at < len(index) and index[at] == key:
            del index[at]

    def all(self) -> Iterator[Receipt]:
        """Every receipt, by receipt id."""
        return (self._by_id[receipt_id] for receipt_id in self._ids)

    def query(self, query: ReceiptQuery) -> tuple[int, list[Receipt]]:
        """``(count, page)``: how many receipts match the filters, and the ``limit`` of them from ``offset`` in the
        requested order (ties broken by receipt id). When the only filters are the sort index's own bounds (the
        polling case: ``sort_on=updated`` with ``min_last_modified``) the page is a slice of the index; otherwise
        the index range is scanned once."""
        ids = self._candidates(query)
        if _only_index_bounds(query):
            count = len(ids)
            if query.descending:
                stop = count - query.offset
                chosen = ids[max(0, stop - query.limit) : max(0, stop)][::-1]
            else:
                chosen = ids[query.offset : query.offset + query.limit]
            return count, [self._by_id[receipt_id] for receipt_id in chosen]
        count = 0
        page: list[Receipt] = []
        end = query.offset + query.limit
        for receipt_id in reversed(ids) if query.descending else ids:
            receipt = self._by_id[receipt_id]
            if not _matches(receipt, query):
                continue
            if query.offset <= count < end:
                page.append(receipt)
            count += 1
        return count, page

    def _candidates(self, query: ReceiptQuery) -> Sequence[int]:
        """The receipt ids within the sort index's own bounds, in ascending order of that index."""
        if query.sort_on == "receipt_id":
            return self._ids
        if query.sort_on == "updated":
            index, low, high = self._updated, query.min_last_modified, query.max_last_modified
        else:
            index, low, high = self._created, query.min_created, query.max_created
        start = 0 if low is None else bisect.bisect_left(index, (low, -1))
        stop = len(index) if high is None else bisect.bisect_right(index, (high, 2**63))
        return [receipt_id for _, receipt_id in index[start:stop]]


def _only_index_bounds(query: ReceiptQuery) -> bool:
    """True when every filter of ``query`` is a bound of the index it is sorted on."""
    if (query.was_paid, query.was_shipped, query.was_canceled) != (None, None, None):
        return False
    created = (query.min_created, query.max_created) != (None, None)
    modified = (query.min_last_modified, query.max_last_modified) != (None, None)
    if query.sort_on == "created":
        return not modified
    if query.sort_on == "updated":
        return not created
    return not created and not modified


def _within(value: int, low: int | None, high: int | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def _matches(receipt: Receipt, query: ReceiptQuery) -> bool:
    if not _within(created_of(receipt), query.min_created, query.max_created):
        return False
    if not _within(updated_of(receipt), query.min_last_modified, query.max_last_modified):
        return False
    if query.was_paid is not None and bool(receipt.get("is_paid")) != query.was_paid:
        return False
    if query.was_shipped is not None and bool(receipt.get("is_shipped")) != query.was_shipped:
        return False
    return query.was_canceled is None or (receipt.get("status") == "canceled") == query.was_canceled


def _flag(query: Mapping[str, str], name: str) -> bool | None:
    raw = query.get(name)
    if raw is None:
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise ValueError(f"{name} must be a boolean")


def _number(
    query: Mapping[str, str], name: str, *, default: int | None, low: int, high: int | None = None
) -> int | None:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {bounds}")
    return value


def receipt_query(query: Mapping[str, str]) -> ReceiptQuery:
    """``getShopReceipts``' query parameters, checked against the document's bounds; ValueError names the first
    bad one."""
    sort_on = query.get("sort_on", "created")
    sorts: dict[str, SortOn] = {"created": "created", "updated": "updated", "receipt_id": "receipt_id"}
    if sort_on not in sorts:
        raise ValueError("sort_on must be one of created, updated, receipt_id")
    sort_order = query.get("sort_order", "desc")
    if sort_order not in _SORT_ORDERS:
        raise ValueError("sort_order must be one of " + ", ".join(_SORT_ORDERS))
    return ReceiptQuery(
        min_created=_number(query, "min_created", default=None, low=MIN_TIMESTAMP),
        max_created=_number(query, "max_created", default=None, low=MIN_TIMESTAMP),
        min_last_modified=_number(query, "min_last_modified", default=None, low=MIN_TIMESTAMP),
        max_last_modified=_number(query, "max_last_modified", default=None, low=MIN_TIMESTAMP),
        sort_on=sorts[sort_on],
        descending=_SORT_ORDERS[sort_order],
        was_paid=_flag(query, "was_paid"),
        was_shipped=_flag(query, "was_shipped"),
        was_canceled=_flag(query, "was_canceled"),
        limit=_number(query, "limit", default=25, low=1, high=100) or 25,
        offset=_number(query, "offset", default=0, low=0) or 0,
    )
