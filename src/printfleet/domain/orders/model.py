"""Orders and their lines, as a shop reports them (:class:`IncomingOrder`) and as printfleet keeps them
(:class:`Order`).

An order comes from a shop (``etsy``), is typed in (``manual``) or imported from a file (``csv``). Its lines name the
product (title, Etsy listing id, SKU, the buyer's variations and personalisation) and a quantity. Times are aware UTC.
No address is kept: the buyer's name is all shipping needs here (the shop keeps the rest).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class OrderSource(StrEnum):
    """Where an order came from."""

    ETSY = "etsy"
    MANUAL = "manual"
    CSV = "csv"


class OrderStatus(StrEnum):
    """Where an order stands.

    ``new``: nothing scheduled yet; ``needs_attention``: a line has no product profile, asks for personalisation the
    profile does not allow, or a print failed and is not reprinted; ``scheduled``: every plate has a scheduled print;
    ``printing``: at least one of them started; ``printed``: every plate printed; ``shipped`` and ``cancelled`` are
    set by a person or the shop and stay.
    """

    NEW = "new"
    NEEDS_ATTENTION = "needs_attention"
    SCHEDULED = "scheduled"
    PRINTING = "printing"
    PRINTED = "printed"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"

    @property
    def is_closed(self) -> bool:
        """True for ``shipped`` and ``cancelled``: nothing is scheduled or changed by printing any more."""
        return self in (OrderStatus.SHIPPED, OrderStatus.CANCELLED)


PERSONALISATION_PROPERTY_ID = 54
"""Etsy's property id of a transaction's personalisation variation (research dispatch-scheduling-orders.md 4.5)."""

NOT_REQUESTED = "not requested on this item."
"""Etsy's personalisation value when the buyer gave none (compared case-folded)."""


@dataclass(frozen=True, slots=True)
class Variation:
    """One option the buyer chose: ``name`` ("Color") and ``value`` ("Galaxy Black"), as the shop shows them."""

    name: str
    value: str

    def key(self) -> tuple[str, str]:
        """The comparable form: HTML entities resolved (Etsy escapes values, ``women&#039;s``), spaces collapsed,
        case-folded."""
        return normalise(self.name), normalise(self.value)


def normalise(text: str) -> str:
    """``text`` with HTML entities resolved, runs of spaces made one and case folded, for matching."""
    return " ".join(html.unescape(text).split()).casefold()


def personalisation_text(value: str | None) -> str | None:
    """The buyer's personalisation, or None when there is none (empty, or Etsy's "Not requested on this item.")."""
    if value is None:
        return None
    text = html.unescape(value).strip()
    if not text or text.casefold() == NOT_REQUESTED:
        return None
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingLine:
    """One line of an order as the shop reports it. ``external_id`` is the shop's line id (Etsy ``transaction_id``),
    unique within the shop; ``quantity`` ≥ 1 units; ``expected_ship_date`` the shop's ship-by date of this line."""

    external_id: str | None
    title: str
    quantity: int
    listing_id: str | None = None
    sku: str | None = None
    variations: tuple[Variation, ...] = ()
    personalisation: str | None = None
    expected_ship_date: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingOrder:
    """An order as the shop reports it. ``external_id`` is the shop's order id (Etsy ``receipt_id``);
    ``updated_at`` the shop's last change (the poll's watermark); ``ship_by`` the order's ship-by date (for Etsy the
    earliest line's ``expected_ship_date``, else created + max processing days); ``cancelled`` when the shop
    cancelled or fully refunded it."""

    source: OrderSource
    external_id: str | None
    buyer_name: str | None
    created_at: datetime
    lines: tuple[IncomingLine, ...]
    paid_at: datetime | None = None
    ship_by: datetime | None = None
    updated_at: datetime | None = None
    is_paid: bool = True
    is_shipped: bool = False
    cancelled: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderLine(IncomingLine):
    """A stored line: ``id``, ``order_id``, the product profile it matched (``profile_id``, None when none did) and
    the ``problem`` that keeps it from being printed (None when it can be)."""

    id: int
    order_id: int
    profile_id: int | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """A stored order. ``status`` as in :class:`OrderStatus`; ``problem`` says why it needs attention;
    ``tracking_code``/``carrier`` and ``shipped_at`` once shipped; ``shop_shipment`` whether the shipment still has
    to be told to the order's shop (``pending``, then ``sent`` or ``failed``; None: nothing to tell); ``created_by``
    the user who typed or imported it (None for a shop's)."""

    id: int
    source: OrderSource
    external_id: str | None
    buyer_name: str | None
    created_at: datetime
    updated_at: datetime
    status: OrderStatus
    lines: tuple[OrderLine, ...] = ()
    paid_at: datetime | None = None
    ship_by: datetime | None = None
    shop_updated_at: datetime | None = None
    problem: str | None = None
    tracking_code: str | None = None
    carrier: str | None = None
    shipped_at: datetime | None = None
    notes: str | None = None
    created_by: int | None = None
    shop_shipment: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


class Saved(StrEnum):
    """What storing an incoming order did: ``created`` it, ``updated`` the one the shop sent before, or nothing
    (``unchanged``: the shop's last change is the one stored, as when a poll reads an order again)."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderQuery:
    """Filters of the order list (ship-by soonest first, then newest): ``statuses``, ``source``, ``ship_by_before``
    (aware UTC), ``search`` (buyer name, shop order id or a line's title, case-insensitive), and a page."""

    statuses: frozenset[OrderStatus] = frozenset()
    source: OrderSource | None = None
    ship_by_before: datetime | None = None
    search: str | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPrint:
    """A plate of an order and one scheduled print of it: ``line_id``, ``part_index`` and ``plate_index`` (from 1),
    ``attempt`` (1, then 2… for reprints) and ``scheduled_print_id``."""

    line_id: int
    part_index: int
    plate_index: int
    attempt: int
    scheduled_print_id: int

    @property
    def key(self) -> tuple[int, int, int]:
        """The plate: (line id, part index, plate index)."""
        return self.line_id, self.part_index, self.plate_index
