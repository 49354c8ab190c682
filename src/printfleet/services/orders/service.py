"""Shop orders as an operator uses them: product profiles; orders received from a shop, typed in or imported; each
scheduled as one print per plate; followed through their prints to ``printed``; marked shipped or cancelled.

Every order change is stored first, then published (``order_updated``). The service follows its orders' prints
through ``scheduled_print_updated``: a failed plate is scheduled again (``orders.reprint_failed``, up to
``max_attempts`` prints a plate) or the order needs attention; when every plate is printed the order is ``printed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from printfleet.domain.events import OrderUpdated, ScheduledPrintUpdated
from printfleet.domain.orders.csv_format import parse_orders
from printfleet.domain.orders.model import (
    IncomingOrder,
    Order,
    OrderLine,
    OrderPrint,
    OrderQuery,
    OrderSource,
    OrderStatus,
    Saved,
)
from printfleet.domain.orders.planning import (
    Progress,
    ScheduleOptions,
    order_status,
    plan_order,
    plates_total,
    progress,
)
from printfleet.domain.orders.profiles import (
    ProductProfile,
    ProfileDraft,
    line_problem,
    match_profile,
    profile_problem,
)
from printfleet.domain.schedule.model import PrintPlan, ScheduledPrint, ScheduleQuery, ScheduleStatus
from printfleet.services.errors import Conflict, InvalidInput, NotFound
from printfleet.services.events import EventBus, Subscription
from printfleet.services.orders.ports import OrderRepository, OrdersPolicy
from printfleet.services.schedule.service import Actor, ScheduleService, Shown

log = structlog.get_logger(__name__)

PROFILES_CACHE_S = 2.0
"""How long (seconds) the service reuses the product profiles it read."""

PRINTFLEET = Actor(user_id=None, manages=True)
"""The actor of what printfleet does by itself (auto-scheduling, reprints)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OrderNotFound(NotFound):
    """No order has this id."""

    def __init__(self, order_id: int) -> None:
        super().__init__(f"no order with id {order_id}")
        self.order_id = order_id


class ProfileNotFound(NotFound):
    """No product profile has this id."""

    def __init__(self, profile_id: int) -> None:
        super().__init__(f"no product profile with id {profile_id}")
        self.profile_id = profile_id


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderView:
    """An order with its plate prints (each link with its scheduled print as shown) and its progress."""

    order: Order
    prints: tuple[tuple[OrderPrint, Shown | None], ...]
    progress: Progress


@dataclass(frozen=True, slots=True, kw_only=True)
class CsvResult:
    """What a CSV import did: orders ``created`` and ``updated``, and ``errors`` ("row 4: quantity: not a whole
    number", "order W-2: …")."""

    created: int
    updated: int
    errors: tuple[str, ...]


_EDITABLE = frozenset({"buyer_name", "ship_by", "notes"})


class OrderService:
    """Receive, schedule, follow, ship and cancel orders; manage product profiles. Use as an async context manager
    (or :meth:`start`/:meth:`stop`) to follow the orders' prints."""

    def __init__(
        self,
        *,
        repository: OrderRepository,
        schedule: ScheduleService,
        bus: EventBus,
        policy: OrdersPolicy,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._repository = repository
        self._schedule = schedule
        self._bus = bus
        self._policy = policy
        self._clock = clock
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._subscription: Subscription | None = None
        self._listener: asyncio.Task[None] | None = None
        self._shipment_hints: list[Callable[[], None]] = []
        self._profiles: tuple[float, list[ProductProfile]] | None = None

    def add_shipment_hint(self, hint: Callable[[], None]) -> None:
        """Call ``hint()`` after a shop's order was marked shipped and committed with its shipment to send
        (``shop_shipment: pending``, in the same transaction): the shop's sync sends it, retrying until done."""
        self._shipment_hints.append(hint)

    def now(self) -> datetime:
        """The service's clock (aware UTC): when an order typed in or imported now was received."""
        return self._clock()

    # --- product profiles -----------------------------------------------------------------------------------------

    async def profiles(self) -> list[ProductProfile]:
        """Every product profile, by name."""
        return await self._repository.profiles()

    async def _cached_profiles(self) -> list[ProductProfile]:
        """The profiles, read at most every :data:`PROFILES_CACHE_S` seconds (an import matches thousands of lines;
        a change here forgets them at once, one made by another process is seen within that time)."""
        now = time.monotonic()
        if self._profiles is None or now - self._profiles[0] > PROFILES_CACHE_S:
            self._profiles = (now, await self._repository.profiles())
        return self._profiles[1]

    async def add_profile(self, draft: ProfileDraft) -> ProductProfile:
        """Store a profile; open orders are matched again (a line waiting for one may now print). Raises
        InvalidInput naming the field."""
        _check_profile(draft)
        profile = await self._repository.add_profile(draft, self._clock())
        self._profiles = None
        await self.rematch()
        return profile

    async def update_profile(self, profile_id: int, draft: ProfileDraft) -> ProductProfile:
        """Replace a profile; open orders are matched again. Raises ProfileNotFound, InvalidInput."""
        _check_profile(draft)
        profile = await self._repository.update_profile(profile_id, draft, self._clock())
        self._profiles = None
        if profile is None:
            raise ProfileNotFound(profile_id)
        await self.rematch()
        return profile

    async def delete_profile(self, profile_id: int) -> None:
        """Delete a profile (prints already scheduled from it stay). Raises ProfileNotFound."""
        if not await self._repository.delete_profile(profile_id):
            raise ProfileNotFound(profile_id)
        self._profiles = None
        await self.rematch()

    async def rematch(self) -> None:
        """Match the lines of every order not scheduled yet (``new`` or ``needs_attention``) against the profiles
        again, and auto-schedule those that can now print when ``orders.auto_schedule``."""
        profiles = await self._cached_profiles()
        for order in await self._repository.open_orders():
            if order.status not in (OrderStatus.NEW, OrderStatus.NEEDS_ATTENTION):
                continue
            async with self._locks[order.id]:
                changed = False
                for line in order.lines:
                    profile = match_profile(line, profiles)
                    found = (profile.id if profile else None, line_problem(line, profile))
                    if found != (line.profile_id, line.problem):
                        await self._repository.set_line_match(line.id, *found)
                        changed = True
                if not changed:
                    continue
                current = await self._order(order.id)
                refreshed = await self._refresh(current)
            if self._policy.auto_schedule and refreshed.status is OrderStatus.NEW and refreshed.paid_at is not None:
                await self._schedule_quietly(refreshed.id)

    # --- orders ---------------------------------------------------------------------------------------------------

    async def receive(self, incoming: IncomingOrder, *, created_by: int | None = None) -> tuple[Order, bool]:
        """Store an order from a shop, a person or a file; the same shop order again updates it (lines by their
        shop id). Its lines are matched to profiles; a shop's cancellation cancels it, a shop's shipment closes it;
        a paid order that can print is scheduled when ``orders.auto_schedule``. Returns the order and whether it is
        new. Raises InvalidInput (no lines, a quantity below 1)."""
        if not incoming.lines:
            raise InvalidInput("an order has at least one line")
        for index, line in enumerate(incoming.lines, start=1):
            if line.quantity < 1:
                raise InvalidInput(f"lines[{index}].quantity: must be at least 1")
            if not line.title.strip():
                raise InvalidInput(f"lines[{index}].title: must not be empty")
        profiles = await self._cached_profiles()
        matches: list[tuple[int | None, str | None]] = []
        initial: tuple[OrderStatus, str | None] = (OrderStatus.NEW, None)
        for line in incoming.lines:
            profile = match_profile(line, profiles)
            problem = line_problem(line, profile)
            matches.append((profile.id if profile else None, problem))
            if problem is not None and initial[1] is None:
                initial = (OrderStatus.NEEDS_ATTENTION, f"{line.title}: {problem}")
        order, saved = await self._repository.save_order(
            incoming, matches, created_by=created_by, now=self._clock(), initial=initial
        )
        created = saved is Saved.CREATED
        async with self._locks[order.id]:
            if order.status.is_closed or saved is Saved.UNCHANGED:
                pass
            elif created and not incoming.cancelled and not incoming.is_shipped:
                self._bus.publish(OrderUpdated(order=order))  # its status came with it: nothing is scheduled yet
            elif incoming.cancelled:
                order = await self._cancel_locked(order, reason="cancelled in the shop")
            elif incoming.is_shipped:
                order = await self._set(order, status=OrderStatus.SHIPPED, problem=None, shipped_at=self._clock())
            else:
                order = await self._refresh(order)
        if created:
            log.info("order.received", order_id=order.id, source=order.source.value, lines=len(order.lines))
        if (
            self._policy.auto_schedule
            and incoming.is_paid
            and order.status is OrderStatus.NEW
            and not incoming.cancelled
            and not incoming.is_shipped
        ):
            await self._schedule_quietly(order.id)
            order = await self._order(order.id)
        return order, created

    async def receive_batch(self, incoming: Sequence[IncomingOrder]) -> None:
        """:meth:`receive` each order of a shop's page, leaving out at once (one query) those whose shop's last change
        is the one stored, as a re-poll reads them. An order refused (InvalidInput) is logged; the others go on."""
        keyed = [order for order in incoming if order.external_id is not None and order.updated_at is not None]
        stored: dict[str, datetime | None] = {}
        if keyed:
            stored = await self._repository.shop_versions(keyed[0].source, [o.external_id or "" for o in keyed])
        for order in incoming:
            known = stored.get(order.external_id or "", None) if order.external_id in stored else None
            if order.updated_at is not None and known == order.updated_at:
                continue  # read again, unchanged since it was stored
            try:
                await self.receive(order)
            except InvalidInput as refused:
                log.warning("order.refused", source=order.source.value, order=order.external_id, problem=refused)

    async def import_csv(self, text: str, *, created_by: int | None) -> CsvResult:
        """Receive the orders of a CSV file (:mod:`printfleet.domain.orders.csv_format`): how many were created and
        updated, and the rows and orders refused with their reason. Raises InvalidInput when the file has no usable
        header or too many rows."""
        try:
            parsed = parse_orders(text, now=self._clock())
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        created = updated = 0
        errors = list(parsed.errors)
        for incoming in parsed.orders:
            try:
                _, new = await self.receive(incoming, created_by=created_by)
            except InvalidInput as refused:
                errors.append(f"order {incoming.external_id}: {refused.message}")
                continue
            created += new
            updated += not new
        return CsvResult(created=created, updated=updated, errors=tuple(errors))

    async def _schedule_quietly(self, order_id: int) -> None:
        try:
            await self.schedule(order_id, ScheduleOptions(), actor=PRINTFLEET)
        except (InvalidInput, NotFound, Conflict) as error:
            log.warning("order.auto_schedule_failed", order_id=order_id, problem=error.message)
            order = await self._order(order_id)
            await self._set(order, status=OrderStatus.NEEDS_ATTENTION, problem=f"not scheduled: {error.message}")

    async def get(self, order_id: int) -> OrderView:
        """One order with its prints and progress. Raises OrderNotFound."""
        return await self._view(await self._order(order_id))

    async def list_orders(self, query: OrderQuery) -> tuple[list[Order], int]:
        """A page of orders (ship-by soonest first) and the total."""
        return await self._repository.list_orders(query)

    async def list_orders_all(self) -> list[Order]:
        """Every order (for small farms' exports and tests; the API pages)."""
        found, _ = await self._repository.list_orders(OrderQuery(limit=1_000_000))
        return found

    async def update(self, order_id: int, changes: dict[str, Any]) -> Order:
        """Change an order's buyer name, ship-by date or notes. Raises OrderNotFound, InvalidInput."""
        unknown = set(changes) - _EDITABLE
        if unknown:
            raise InvalidInput(f"orders cannot be changed on {', '.join(sorted(unknown))}")
        updated = await self._repository.update_order(order_id, changes, self._clock())
        if updated is None:
            raise OrderNotFound(order_id)
        self._bus.publish(OrderUpdated(order=updated))
        return updated

    async def schedule(self, order_id: int, options: ScheduleOptions, *, actor: Actor) -> list[ScheduledPrint]:
        """Schedule the plates of ``order_id`` that have no print yet (so a second call adds nothing); returns the
        prints created. Raises OrderNotFound, Conflict (the order is shipped or cancelled, or a line cannot print),
        InvalidInput / PrinterNotFound / FileNotFound from the scheduler (a printer that cannot print a part)."""
        async with self._locks[order_id]:
            order = await self._order(order_id)
            if order.status.is_closed:
                raise Conflict(f"order {order_id} is {order.status.value}")
            blocked = [line for line in order.lines if line.problem is not None]
            if blocked:
                raise Conflict(f"order {order_id} needs attention: {blocked[0].title}: {blocked[0].problem}")
            profiles = {profile.id: profile for profile in await self._cached_profiles()}
            links = await self._repository.order_prints(order_id)
            try:
                planned = plan_order(
                    order,
                    profiles,
                    options,
                    ship_buffer=self._policy.ship_buffer,
                    existing=[link.key for link in links],
                )
            except ValueError as error:
                raise InvalidInput(str(error)) from None
            previous = links[-1].scheduled_print_id if links else None
            created: list[ScheduledPrint] = []
            for item in planned:
                plan = item.plan
                if item.chained and previous is not None:
                    plan = dataclasses.replace(plan, depends_on=previous)
                [print_] = await self._schedule.create(plan, actor=actor)
                link = OrderPrint(
                    line_id=item.key[0],
                    part_index=item.key[1],
                    plate_index=item.key[2],
                    attempt=1,
                    scheduled_print_id=print_.id,
                )
                if not await self._repository.add_order_print(order_id, link):
                    await self._schedule.cancel(print_.id, actor=PRINTFLEET)  # another process scheduled it
                    continue
                created.append(print_)
                previous = print_.id
            if created:
                log.info("order.scheduled", order_id=order_id, prints=len(created))
            await self._refresh(await self._order(order_id))
            return created

    async def mark_shipped(self, order_id: int, *, tracking_code: str | None, carrier: str | None) -> Order:
        """Close a printed (or any open) order as shipped, with its tracking code. Raises OrderNotFound, Conflict
        (cancelled)."""
        async with self._locks[order_id]:
            order = await self._order(order_id)
            if order.status is OrderStatus.CANCELLED:
                raise Conflict(f"order {order_id} is cancelled")
            shipped = await self._set(
                order,
                status=OrderStatus.SHIPPED,
                problem=None,
                tracking_code=(tracking_code or "").strip() or None,
                carrier=(carrier or "").strip() or None,
                shipped_at=self._clock(),
                **({"shop_shipment": "pending"} if order.source is OrderSource.ETSY else {}),
            )
        for hint in self._shipment_hints:
            hint()
        return shipped

    async def pending_shipments(self, source: OrderSource) -> list[Order]:
        """The orders of ``source`` shipped here whose shop has not been told yet, oldest first."""
        return await self._repository.pending_shipments(source)

    async def shipment_told(self, order: Order, outcome: str) -> None:
        """Record that the shop was told of ``order``'s shipment (``sent``) or refused it for good (``failed``)."""
        await self._repository.update_order(order.id, {"shop_shipment": outcome}, self._clock())

    async def cancel(self, order_id: int) -> Order:
        """Cancel an order and its prints not sent yet (prints under way go on; stop them on the printer). Raises
        OrderNotFound, Conflict (shipped)."""
        async with self._locks[order_id]:
            order = await self._order(order_id)
            if order.status is OrderStatus.SHIPPED:
                raise Conflict(f"order {order_id} is shipped")
            return await self._cancel_locked(order, reason=None)

    async def _cancel_locked(self, order: Order, *, reason: str | None) -> Order:
        for link in await self._repository.order_prints(order.id):
            with contextlib.suppress(Conflict, NotFound):
                await self._schedule.cancel(link.scheduled_print_id, actor=PRINTFLEET)
        log.info("order.cancelled", order_id=order.id, reason=reason)
        return await self._set(order, status=OrderStatus.CANCELLED, problem=reason)

    # --- following prints -----------------------------------------------------------------------------------------

    async def on_print_updated(self, print_: ScheduledPrint) -> None:
        """Follow one of an order's prints: a failed plate is scheduled again (within ``max_attempts``), and the
        order's status follows its plates."""
        if print_.order_id is None or not print_.order_id.isdigit():
            return
        order_id = int(print_.order_id)
        async with self._locks[order_id]:
            order = await self._repository.get_order(order_id)
            if order is None or order.status.is_closed:
                return
            if print_.status is ScheduleStatus.FAILED and self._policy.reprint_failed:
                await self._reprint(order, print_)
            await self._refresh(order)

    async def reprint_failed(self, order_id: int, *, actor: Actor) -> list[ScheduledPrint]:
        """Print again every plate of the order whose prints all failed (a person acknowledging the failures: also
        past ``orders.max_attempts``, and when ``orders.reprint_failed`` is off); the prints created, none when no
        plate failed. Raises OrderNotFound, Conflict (the order is shipped or cancelled)."""
        async with self._locks[order_id]:
            order = await self._order(order_id)
            if order.status.is_closed:
                raise Conflict(f"order {order_id} is {order.status.value}")
            prints, done = await self._plates(order)
            created: list[ScheduledPrint] = []
            for key in done.failed:
                link, shown = max((pair for pair in prints if pair[0].key == key), key=lambda pair: pair[0].attempt)
                if shown is not None:
                    again = await self._schedule_again(order, link, shown.scheduled, actor=actor)
                    if again is not None:
                        created.append(again)
            await self._refresh(order)
        return created

    async def _reprint(self, order: Order, failed: ScheduledPrint) -> None:
        links = await self._repository.order_prints(order.id)
        mine = next((link for link in links if link.scheduled_print_id == failed.id), None)
        if mine is None:
            return
        attempts = [link for link in links if link.key == mine.key]
        if mine.attempt != max(link.attempt for link in attempts) or len(attempts) >= self._policy.max_attempts:
            return
        await self._schedule_again(order, mine, failed, actor=PRINTFLEET)

    async def _schedule_again(
        self, order: Order, mine: OrderPrint, failed: ScheduledPrint, *, actor: Actor
    ) -> ScheduledPrint | None:
        """A new attempt at the plate ``mine`` whose print ``failed``, linked to the order; None when another
        attempt was linked meanwhile."""
        plan = PrintPlan(
            **{
                name: getattr(failed, name)
                for name in PrintPlan.__dataclass_fields__
                if name not in ("depends_on", "copies", "scheduled_start")
            }
        )
        [again] = await self._schedule.create(plan, actor=actor)
        link = dataclasses.replace(mine, attempt=mine.attempt + 1, scheduled_print_id=again.id)
        if not await self._repository.add_order_print(order.id, link):
            await self._schedule.cancel(again.id, actor=PRINTFLEET)
            return None
        log.info("order.plate_reprinted", order_id=order.id, failed=failed.id, reprint=again.id, attempt=link.attempt)
        return again

    async def start(self) -> None:
        """Follow the orders' prints (``scheduled_print_updated`` of prints with an order)."""
        subscription = self._subscription = self._bus.subscribe()

        async def listen() -> None:
            async for event in subscription:
                if isinstance(event, ScheduledPrintUpdated) and event.scheduled.order_id is not None:
                    try:
                        await self.on_print_updated(event.scheduled)
                    except Exception:  # one order's trouble must not stop following the others
                        log.exception("order.follow_failed", print_id=event.scheduled.id)

        self._listener = asyncio.create_task(listen(), name="orders-listener")

    async def stop(self) -> None:
        """Stop following prints."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    async def __aenter__(self) -> OrderService:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # --- helpers --------------------------------------------------------------------------------------------------

    async def _order(self, order_id: int) -> Order:
        order = await self._repository.get_order(order_id)
        if order is None:
            raise OrderNotFound(order_id)
        return order

    async def _plates(self, order: Order) -> tuple[list[tuple[OrderPrint, Shown | None]], Progress]:
        links = await self._repository.order_prints(order.id)
        shown: dict[int, Shown] = {}
        if links:
            found, _ = await self._schedule.list_prints(ScheduleQuery(order_id=str(order.id), limit=10_000))
            shown = {item.scheduled.id: item for item in found}
        profiles = {profile.id: profile for profile in await self._cached_profiles()}
        return _plates_of(order, links, shown, profiles)

    async def views(self, orders: Sequence[Order]) -> list[OrderView]:
        """Each of ``orders`` with its prints and progress, as :meth:`get` gives one, read in two queries for the
        whole list (a page of orders)."""
        links = await self._repository.order_prints_many([order.id for order in orders])
        shown: dict[int, Shown] = {}
        if links:
            ids = frozenset(str(order_id) for order_id in links)
            found, _ = await self._schedule.list_prints(ScheduleQuery(order_ids=ids, limit=1_000_000))
            shown = {item.scheduled.id: item for item in found}
        profiles = {profile.id: profile for profile in await self._cached_profiles()}
        views = []
        for order in orders:
            prints, done = _plates_of(order, links.get(order.id, []), shown, profiles)
            views.append(OrderView(order=order, prints=tuple(prints), progress=done))
        return views

    async def _view(self, order: Order) -> OrderView:
        prints, done = await self._plates(order)
        return OrderView(order=order, prints=tuple(prints), progress=done)

    async def _refresh(self, order: Order) -> Order:
        """Set the status ``order``'s lines and plates give it (publishing the change)."""
        _, done = await self._plates(order)
        status, problem = order_status(order, done)
        if (status, problem) == (order.status, order.problem):
            return order
        return await self._set(order, status=status, problem=problem)

    async def _set(self, order: Order, **changes: Any) -> Order:
        updated = await self._repository.update_order(order.id, changes, self._clock())
        if updated is None:
            raise OrderNotFound(order.id)
        if updated.status is not order.status:
            log.info("order.status_changed", order_id=order.id, status=updated.status.value, problem=updated.problem)
        self._bus.publish(OrderUpdated(order=updated))
        return updated


def _plates_of(
    order: Order, links: Sequence[OrderPrint], shown: Mapping[int, Shown], profiles: Mapping[int, ProductProfile]
) -> tuple[list[tuple[OrderPrint, Shown | None]], Progress]:
    """The plate prints of ``order`` with their scheduled prints (``shown`` by id), and its progress."""
    needed = plates_total(order, profiles)
    statuses = [
        (link.key, shown[link.scheduled_print_id].scheduled.status)
        for link in links
        if link.scheduled_print_id in shown
    ]
    return [(link, shown.get(link.scheduled_print_id)) for link in links], progress(needed, statuses)


def _check_profile(draft: ProfileDraft) -> None:
    problem = profile_problem(draft)
    if problem is not None:
        raise InvalidInput(problem)


def line_label(line: OrderLine) -> str:
    """A line as a person reads it: "2 × Keychain (Colour: Red)"."""
    chosen = ", ".join(f"{variation.name}: {variation.value}" for variation in line.variations)
    return f"{line.quantity} × {line.title}" + (f" ({chosen})" if chosen else "")
