"""Connected shops on SQLAlchemy: the connection's state, the poll's watermark, and the tokens as the caller
encrypted them (the store never sees them in clear). Implements the shop sync's port."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from printfleet.domain.orders.shops import ConnectionState, ShopConnection
from printfleet.store.database import Database
from printfleet.store.orders.tables import ShopConnectionRow

_UPDATABLE = frozenset({"shop_id", "user_id", "watermark", "state", "last_poll_at", "last_error"})


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def _connection(row: ShopConnectionRow) -> ShopConnection:
    return ShopConnection(
        shop=row.shop,
        state=ConnectionState(row.state),
        updated_at=row.updated_at.astimezone(UTC),
        shop_id=row.shop_id,
        user_id=row.user_id,
        watermark=_utc(row.watermark),
        last_poll_at=_utc(row.last_poll_at),
        last_error=row.last_error,
        orders_seen=row.orders_seen,
        has_tokens=row.tokens is not None,
    )


async def _row(session: AsyncSession, shop: str, now: datetime) -> ShopConnectionRow:
    row = await session.get(ShopConnectionRow, shop, with_for_update=True)
    if row is None:
        row = ShopConnectionRow(shop=shop, state=ConnectionState.DISCONNECTED.value, orders_seen=0, updated_at=now)
        session.add(row)
    return row


class SqlShopRepository:
    """:class:`~printfleet.services.orders.shop_sync.ShopRepository` on SQLAlchemy."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, shop: str) -> ShopConnection | None:
        """The shop's connection, or None when it was never connected."""
        async with self._database.transaction() as session:
            row = await session.get(ShopConnectionRow, shop)
            return None if row is None else _connection(row)

    async def tokens(self, shop: str) -> str | None:
        """The shop's tokens as stored (encrypted), or None."""
        async with self._database.transaction() as session:
            row = await session.get(ShopConnectionRow, shop)
            return None if row is None else row.tokens

    async def save_tokens(self, shop: str, sealed: str | None, now: datetime) -> None:
        """Store the shop's (encrypted) tokens, replacing the ones before in one transaction (a rotated refresh
        token is saved before the new access token is used); None forgets them."""
        async with self._database.transaction() as session:
            row = await _row(session, shop, now)
            row.tokens = sealed
            row.updated_at = now

    async def pending(self, shop: str) -> str | None:
        """The (encrypted) authorization under way: state and code verifier, or None."""
        async with self._database.transaction() as session:
            row = await session.get(ShopConnectionRow, shop)
            return None if row is None else row.pending

    async def save_pending(self, shop: str, sealed: str | None, now: datetime) -> None:
        """Keep (or forget, with None) the authorization under way."""
        async with self._database.transaction() as session:
            row = await _row(session, shop, now)
            row.pending = sealed
            row.updated_at = now

    async def update(self, shop: str, now: datetime, *, add_seen: int = 0, **changes: Any) -> ShopConnection:
        """Set the given fields (``state``, ``shop_id``, ``user_id``, ``watermark``, ``last_poll_at``,
        ``last_error``) and add ``add_seen`` to ``orders_seen``. Raises ValueError for another field."""
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"shop connections cannot be updated on {', '.join(sorted(unknown))}")
        async with self._database.transaction() as session:
            row = await _row(session, shop, now)
            for column, value in changes.items():
                setattr(row, column, value.value if isinstance(value, ConnectionState) else value)
            row.orders_seen += add_seen
            row.updated_at = now
            await session.flush()
            return _connection(row)
