"""What the order service needs from outside: its store, and its settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from printfleet.domain.orders.model import (
    IncomingOrder,
    Order,
    OrderPrint,
    OrderQuery,
    OrderSource,
    OrderStatus,
    Saved,
)
from printfleet.domain.orders.profiles import ProductProfile, ProfileDraft


@dataclass(frozen=True, slots=True, kw_only=True)
class OrdersPolicy:
    """The ``orders`` settings: ``ship_buffer`` (time kept for packing before the ship-by date), ``auto_schedule``
    (paid orders whose lines all match are scheduled as they arrive), ``reprint_failed`` (a failed plate is
    scheduled again, up to ``max_attempts`` prints per plate; else the order needs attention)."""

    ship_buffer: timedelta = timedelta(days=1)
    auto_schedule: bool = False
    reprint_failed: bool = True
    max_attempts: int = 3


class OrderRepository(Protocol):
    """Orders, their lines and plate prints, and product profiles (store: ``SqlOrderRepository``)."""

    async def add_profile(self, draft: ProfileDraft, now: datetime) -> ProductProfile: ...
    async def update_profile(self, profile_id: int, draft: ProfileDraft, now: datetime) -> ProductProfile | None: ...
    async def delete_profile(self, profile_id: int) -> bool: ...
    async def profiles(self) -> list[ProductProfile]: ...
    async def save_order(
        self,
        incoming: IncomingOrder,
        matches: Sequence[tuple[int | None, str | None]],
        *,
        created_by: int | None,
        now: datetime,
        initial: tuple[OrderStatus, str | None] = ...,
    ) -> tuple[Order, Saved]: ...
    async def shop_versions(self, source: OrderSource, external_ids: Sequence[str]) -> dict[str, datetime | None]: ...
    async def get_order(self, order_id: int) -> Order | None: ...
    async def list_orders(self, query: OrderQuery) -> tuple[list[Order], int]: ...
    async def open_orders(self) -> list[Order]: ...
    async def pending_shipments(self, source: OrderSource) -> list[Order]: ...
    async def update_order(self, order_id: int, changes: dict[str, Any], now: datetime) -> Order | None: ...
    async def set_line_match(self, line_id: int, profile_id: int | None, problem: str | None) -> None: ...
    async def add_order_print(self, order_id: int, link: OrderPrint) -> bool: ...
    async def order_prints(self, order_id: int) -> list[OrderPrint]: ...
    async def order_prints_many(self, order_ids: Sequence[int]) -> dict[int, list[OrderPrint]]: ...
