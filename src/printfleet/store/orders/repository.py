"""Shop orders and product profiles on SQLAlchemy (SQLite or PostgreSQL); implements the order service's port."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from printfleet.domain.orders.model import (
    IncomingOrder,
    Order,
    OrderLine,
    OrderPrint,
    OrderQuery,
    OrderSource,
    OrderStatus,
    Saved,
    Variation,
)
from printfleet.domain.orders.profiles import ProductProfile, ProfileDraft, ProfilePart
from printfleet.domain.schedule.model import PrintSpeed
from printfleet.store.database import Database
from printfleet.store.orders.tables import OrderLineRow, OrderPrintRow, OrderRow, ProductProfileRow

_ORDER_UPDATABLE = frozenset(
    {
        "status",
        "problem",
        "buyer_name",
        "ship_by",
        "notes",
        "tracking_code",
        "carrier",
        "shipped_at",
        "paid_at",
        "shop_shipment",
    }
)


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def _variations(values: list[Any]) -> tuple[Variation, ...]:
    return tuple(Variation(str(name), str(value)) for name, value in values)


def _profile(row: ProductProfileRow) -> ProductProfile:
    return ProductProfile(
        id=row.id,
        name=row.name,
        listing_id=row.listing_id,
        sku=row.sku,
        variations=_variations(row.variations),
        parts=tuple(ProfilePart(**part) for part in row.parts),
        printer_id=row.printer_id,
        model=row.model,
        priority=row.priority,
        nozzle_temp=row.nozzle_temp,
        bed_temp=row.bed_temp,
        print_speed=PrintSpeed(row.print_speed) if row.print_speed else None,
        allow_personalisation=row.allow_personalisation,
        notes=row.notes,
    )


def _fill_profile(row: ProductProfileRow, draft: ProfileDraft) -> None:
    row.name = draft.name.strip()
    row.listing_id = draft.listing_id.strip()
    row.sku = draft.sku
    row.variations = [[variation.name, variation.value] for variation in draft.variations]
    row.parts = [
        {
            "file_id": part.file_id,
            "plate": part.plate,
            "units_per_plate": part.units_per_plate,
            "material_type": part.material_type,
            "material_color": part.material_color,
            "color_from_variation": part.color_from_variation,
        }
        for part in draft.parts
    ]
    row.printer_id = draft.printer_id
    row.model = draft.model
    row.priority = draft.priority
    row.nozzle_temp = draft.nozzle_temp
    row.bed_temp = draft.bed_temp
    row.print_speed = draft.print_speed.value if draft.print_speed else None
    row.allow_personalisation = draft.allow_personalisation
    row.notes = draft.notes


def _line(row: OrderLineRow) -> OrderLine:
    return OrderLine(
        id=row.id,
        order_id=row.order_id,
        external_id=row.external_id,
        title=row.title,
        quantity=row.quantity,
        listing_id=row.listing_id,
        sku=row.sku,
        variations=_variations(row.variations),
        personalisation=row.personalisation,
        expected_ship_date=_utc(row.expected_ship_date),
        profile_id=row.profile_id,
        problem=row.problem,
    )


def _order(row: OrderRow, lines: Sequence[OrderLineRow]) -> Order:
    return Order(
        id=row.id,
        source=OrderSource(row.source),
        external_id=row.external_id,
        buyer_name=row.buyer_name,
        created_at=row.created_at.astimezone(UTC),
        updated_at=row.updated_at.astimezone(UTC),
        status=OrderStatus(row.status),
        lines=tuple(_line(line) for line in sorted(lines, key=lambda line: line.position)),
        paid_at=_utc(row.paid_at),
        ship_by=_utc(row.ship_by),
        shop_updated_at=_utc(row.shop_updated_at),
        problem=row.problem,
        tracking_code=row.tracking_code,
        carrier=row.carrier,
        shipped_at=_utc(row.shipped_at),
        notes=row.notes,
        created_by=row.created_by,
        shop_shipment=row.shop_shipment,
    )


async def _load(session: AsyncSession, row: OrderRow) -> Order:
    lines = (await session.scalars(select(OrderLineRow).where(OrderLineRow.order_id == row.id))).all()
    return _order(row, lines)


class SqlOrderRepository:
    """:class:`~printfleet.services.orders.ports.OrderRepository` on SQLAlchemy."""

    def __init__(self, database: Database) -> None:
        self._database = database

    # --- product profiles -----------------------------------------------------------------------------------------

    async def add_profile(self, draft: ProfileDraft, now: datetime) -> ProductProfile:
        """Store a new profile made at ``now``."""
        row = ProductProfileRow(created_at=now, updated_at=now)
        _fill_profile(row, draft)
        async with self._database.transaction() as session:
            session.add(row)
            await session.flush()
            return _profile(row)

    async def update_profile(self, profile_id: int, draft: ProfileDraft, now: datetime) -> ProductProfile | None:
        """Replace a profile's rule, plan and settings; None when there is no such profile."""
        async with self._database.transaction() as session:
            row = await session.get(ProductProfileRow, profile_id, with_for_update=True)
            if row is None:
                return None
            _fill_profile(row, draft)
            row.updated_at = now
            await session.flush()
            return _profile(row)

    async def delete_profile(self, profile_id: int) -> bool:
        """Delete a profile; False when there was none. Lines that matched it keep its id (shown as gone)."""
        async with self._database.transaction() as session:
            row = await session.get(ProductProfileRow, profile_id)
            if row is None:
                return False
            await session.delete(row)
            return True

    async def profiles(self) -> list[ProductProfile]:
        """Every profile, by name."""
        async with self._database.transaction() as session:
            rows = (await session.scalars(select(ProductProfileRow).order_by(ProductProfileRow.name))).all()
            return [_profile(row) for row in rows]

    # --- orders ---------------------------------------------------------------------------------------------------

    async def save_order(
        self,
        incoming: IncomingOrder,
        matches: Sequence[tuple[int | None, str | None]],
        *,
        created_by: int | None,
        now: datetime,
        initial: tuple[OrderStatus, str | None] = (OrderStatus.NEW, None),
    ) -> tuple[Order, Saved]:
        """Insert ``incoming`` or, when its shop already sent it (same source and ``external_id``), update it and
        its lines in place (lines matched by their ``external_id``; new ones added), unless the shop's last change
        (``updated_at``) is the one stored. ``matches`` gives each line's (profile id, problem), in line order.
        A new order starts with the ``initial`` status and problem. Returns the stored order and what was done. A
        race with another process inserting the same order ends as an update."""
        for _ in range(2):
            try:
                return await self._save_order(incoming, matches, created_by=created_by, now=now, initial=initial)
            except IntegrityError:
                continue  # another process inserted it first: the next try updates it
        return await self._save_order(incoming, matches, created_by=created_by, now=now, initial=initial)

    async def _save_order(
        self,
        incoming: IncomingOrder,
        matches: Sequence[tuple[int | None, str | None]],
        *,
        created_by: int | None,
        now: datetime,
        initial: tuple[OrderStatus, str | None],
    ) -> tuple[Order, Saved]:
        async with self._database.transaction() as session:
            row: OrderRow | None = None
            if incoming.external_id is not None:
                row = await session.scalar(
                    select(OrderRow)
                    .where(OrderRow.source == incoming.source.value, OrderRow.external_id == incoming.external_id)
                    .with_for_update()
                )
            if (
                row is not None
                and incoming.updated_at is not None
                and row.shop_updated_at is not None
                and row.shop_updated_at.astimezone(UTC) == incoming.updated_at
            ):
                return await _load(session, row), Saved.UNCHANGED
            created = row is None
            if row is None:
                row = OrderRow(
                    source=incoming.source.value,
                    external_id=incoming.external_id,
                    status=initial[0].value,
                    problem=initial[1],
                    created_by=created_by,
                    created_at=incoming.created_at,
                )
                session.add(row)
            row.buyer_name = incoming.buyer_name
            row.paid_at = incoming.paid_at
            row.ship_by = incoming.ship_by
            row.shop_updated_at = incoming.updated_at
            row.updated_at = now
            await session.flush()
            existing = {
                line.external_id: line
                for line in (await session.scalars(select(OrderLineRow).where(OrderLineRow.order_id == row.id))).all()
                if line.external_id is not None
            }
            for position, (line, (profile_id, problem)) in enumerate(zip(incoming.lines, matches, strict=True)):
                line_row = existing.get(line.external_id) if line.external_id is not None else None
                if line_row is None:
                    line_row = OrderLineRow(order_id=row.id, external_id=line.external_id)
                    session.add(line_row)
                line_row.position = position
                line_row.title = line.title[:255]
                line_row.quantity = line.quantity
                line_row.listing_id = line.listing_id
                line_row.sku = line.sku
                line_row.variations = [[variation.name, variation.value] for variation in line.variations]
                line_row.personalisation = line.personalisation
                line_row.expected_ship_date = line.expected_ship_date
                line_row.profile_id = profile_id
                line_row.problem = problem
            await session.flush()
            return await _load(session, row), Saved.CREATED if created else Saved.UPDATED

    async def shop_versions(self, source: OrderSource, external_ids: Sequence[str]) -> dict[str, datetime | None]:
        """The shop's last change stored for each of these orders of ``source`` that printfleet has (by shop id)."""
        if not external_ids:
            return {}
        async with self._database.transaction() as session:
            rows = await session.execute(
                select(OrderRow.external_id, OrderRow.shop_updated_at).where(
                    OrderRow.source == source.value, OrderRow.external_id.in_(list(external_ids))
                )
            )
            return {str(external_id): _utc(changed) for external_id, changed in rows.all()}

    async def get_order(self, order_id: int) -> Order | None:
        """One order with its lines, or None."""
        async with self._database.transaction() as session:
            row = await session.get(OrderRow, order_id)
            return None if row is None else await _load(session, row)

    async def list_orders(self, query: OrderQuery) -> tuple[list[Order], int]:
        """A page of orders matching ``query`` (ship-by soonest first, orders without one last, then newest), with
        the total."""
        conditions: list[Any] = []
        if query.statuses:
            conditions.append(OrderRow.status.in_(sorted(status.value for status in query.statuses)))
        if query.source is not None:
            conditions.append(OrderRow.source == query.source.value)
        if query.ship_by_before is not None:
            conditions.append(OrderRow.ship_by < query.ship_by_before)
        if query.search:
            pattern = f"%{query.search.strip().lower()}%"
            titled = select(OrderLineRow.order_id).where(func.lower(OrderLineRow.title).like(pattern))
            conditions.append(
                or_(
                    func.lower(OrderRow.buyer_name).like(pattern),
                    func.lower(OrderRow.external_id).like(pattern),
                    OrderRow.id.in_(titled),
                )
            )
        async with self._database.transaction() as session:
            total = await session.scalar(select(func.count()).select_from(OrderRow).where(*conditions)) or 0
            rows = (
                await session.scalars(
                    select(OrderRow)
                    .where(*conditions)
                    .order_by(OrderRow.ship_by.is_(None), OrderRow.ship_by, OrderRow.id.desc())
                    .limit(query.limit)
                    .offset(query.offset)
                )
            ).all()
            ids = [row.id for row in rows]
            lines = (await session.scalars(select(OrderLineRow).where(OrderLineRow.order_id.in_(ids)))).all()
            by_order: dict[int, list[OrderLineRow]] = {}
            for line in lines:
                by_order.setdefault(line.order_id, []).append(line)
            return [_order(row, by_order.get(row.id, [])) for row in rows], int(total)

    async def pending_shipments(self, source: OrderSource) -> list[Order]:
        """The orders of ``source`` whose shipment the shop has not been told yet, oldest first."""
        async with self._database.transaction() as session:
            rows = (
                await session.scalars(
                    select(OrderRow)
                    .where(OrderRow.source == source.value, OrderRow.shop_shipment == "pending")
                    .order_by(OrderRow.id)
                )
            ).all()
            return [await _load(session, row) for row in rows]

    async def open_orders(self) -> list[Order]:
        """Every order not shipped nor cancelled (for re-matching after a profile change)."""
        found, _ = await self.list_orders(
            OrderQuery(statuses=frozenset(s for s in OrderStatus if not s.is_closed), limit=100_000)
        )
        return found

    async def update_order(self, order_id: int, changes: dict[str, Any], now: datetime) -> Order | None:
        """Set the given fields of an order; None when there is none. Raises ValueError for a field that may not
        change."""
        unknown = set(changes) - _ORDER_UPDATABLE
        if unknown:
            raise ValueError(f"orders cannot be updated on {', '.join(sorted(unknown))}")
        async with self._database.transaction() as session:
            row = await session.get(OrderRow, order_id, with_for_update=True)
            if row is None:
                return None
            for column, value in changes.items():
                setattr(row, column, value.value if isinstance(value, OrderStatus) else value)
            row.updated_at = now
            await session.flush()
            return await _load(session, row)

    async def set_line_match(self, line_id: int, profile_id: int | None, problem: str | None) -> None:
        """Record the profile a line matches now and its problem."""
        async with self._database.transaction() as session:
            row = await session.get(OrderLineRow, line_id, with_for_update=True)
            if row is not None:
                row.profile_id = profile_id
                row.problem = problem

    # --- the prints of an order -----------------------------------------------------------------------------------

    async def add_order_print(self, order_id: int, link: OrderPrint) -> bool:
        """Link a plate (and attempt) to its scheduled print; False when that plate's attempt is linked already
        (scheduled by another request or process)."""
        try:
            async with self._database.transaction() as session:
                session.add(
                    OrderPrintRow(
                        order_id=order_id,
                        line_id=link.line_id,
                        part_index=link.part_index,
                        plate_index=link.plate_index,
                        attempt=link.attempt,
                        scheduled_print_id=link.scheduled_print_id,
                    )
                )
            return True
        except IntegrityError:
            return False

    async def order_prints(self, order_id: int) -> list[OrderPrint]:
        """Every plate print of an order, by line, part, plate and attempt."""
        return (await self.order_prints_many([order_id])).get(order_id, [])

    async def order_prints_many(self, order_ids: Sequence[int]) -> dict[int, list[OrderPrint]]:
        """Every plate print of each of ``order_ids`` (one query), by line, part, plate and attempt; an order without
        prints is absent."""
        if not order_ids:
            return {}
        async with self._database.transaction() as session:
            rows = (
                await session.scalars(
                    select(OrderPrintRow)
                    .where(OrderPrintRow.order_id.in_(sorted(set(order_ids))))
                    .order_by(
                        OrderPrintRow.order_id,
                        OrderPrintRow.line_id,
                        OrderPrintRow.part_index,
                        OrderPrintRow.plate_index,
                        OrderPrintRow.attempt,
                    )
                )
            ).all()
        found: dict[int, list[OrderPrint]] = {}
        for row in rows:
            found.setdefault(row.order_id, []).append(
                OrderPrint(
                    line_id=row.line_id,
                    part_index=row.part_index,
                    plate_index=row.plate_index,
                    attempt=row.attempt,
                    scheduled_print_id=row.scheduled_print_id,
                )
            )
        return found
