"""Shop orders: which product profile a line matches, how many plates it needs, the prints an order becomes and the
status its prints give it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from printfleet.domain.orders.model import (
    IncomingLine,
    Order,
    OrderLine,
    OrderSource,
    OrderStatus,
    Variation,
    personalisation_text,
)
from printfleet.domain.orders.planning import ScheduleOptions, order_status, plan_order, plates_total, progress
from printfleet.domain.orders.profiles import (
    ProductProfile,
    ProfilePart,
    line_problem,
    match_profile,
    part_color,
    plates_needed,
    profile_problem,
)
from printfleet.domain.schedule.model import OffsetFrom, ScheduleStatus

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
KEYCHAIN = ProductProfile(id=1, name="Keychain", listing_id="111", parts=(ProfilePart(file_id=5, units_per_plate=4),))
KEYCHAIN_RED = ProductProfile(
    id=2,
    name="Keychain red",
    listing_id="111",
    variations=(Variation("Colour", "Red"),),
    parts=(ProfilePart(file_id=6, units_per_plate=4, color_from_variation="colour"),),
)
KEYCHAIN_SKU = ProductProfile(id=3, name="Keychain KC-9", listing_id="111", sku="KC-9", parts=(ProfilePart(file_id=7),))


def line(**fields: object) -> IncomingLine:
    values: dict[str, object] = {"external_id": "t1", "title": "Keychain", "quantity": 1, "listing_id": "111"}
    values.update(fields)
    return IncomingLine(**values)  # type: ignore[arg-type]


def stored(order_lines: list[OrderLine], *, status: OrderStatus = OrderStatus.NEW) -> Order:
    return Order(
        id=9,
        source=OrderSource.MANUAL,
        external_id="1001",
        buyer_name="Ada",
        created_at=NOW,
        updated_at=NOW,
        status=status,
        lines=tuple(order_lines),
        ship_by=NOW + timedelta(days=3),
    )


def order_line(line_id: int, *, quantity: int, profile: ProductProfile | None, **fields: object) -> OrderLine:
    values: dict[str, object] = {
        "id": line_id,
        "order_id": 9,
        "external_id": f"t{line_id}",
        "title": "Keychain",
        "quantity": quantity,
        "listing_id": "111",
        "profile_id": profile.id if profile else None,
    }
    values.update(fields)
    return OrderLine(**values)  # type: ignore[arg-type]


def test_the_most_specific_profile_wins_sku_then_variations_then_the_listing() -> None:
    profiles = [KEYCHAIN, KEYCHAIN_RED, KEYCHAIN_SKU]
    assert match_profile(line(sku="kc-9"), profiles) == KEYCHAIN_SKU
    red = line(variations=(Variation("Colour", " RED "), Variation("Size", "Large")))
    assert match_profile(red, profiles) == KEYCHAIN_RED
    assert match_profile(line(variations=(Variation("Colour", "Blue"),)), profiles) == KEYCHAIN
    assert match_profile(line(listing_id="222"), profiles) is None
    assert match_profile(line(listing_id=None), profiles) is None


def test_html_escaped_variation_values_match_the_profile_s_plain_text() -> None:
    profile = ProductProfile(
        id=4,
        name="Tag",
        listing_id="7",
        variations=(Variation("Size", "14 UK women's"),),
        parts=(ProfilePart(file_id=1),),
    )
    assert match_profile(line(listing_id="7", variations=(Variation("Size", "14 UK women&#039;s"),)), [profile])


def test_plates_are_the_quantity_divided_by_the_units_per_plate_rounded_up() -> None:
    assert plates_needed(7, 4) == 2
    assert plates_needed(8, 4) == 2
    assert plates_needed(1, 4) == 1
    with pytest.raises(ValueError, match="units_per_plate"):
        plates_needed(3, 0)


def test_personalisation_needs_a_profile_that_allows_it() -> None:
    assert personalisation_text("Not requested on this item.") is None
    assert personalisation_text("  ") is None
    assert personalisation_text("Ada &amp; Bob") == "Ada & Bob"
    named = line(personalisation="Ada")
    assert line_problem(named, KEYCHAIN) == "personalisation requested; the profile 'Keychain' does not allow it"
    allowing = ProductProfile(id=8, name="Name tag", listing_id="111", allow_personalisation=True, parts=KEYCHAIN.parts)
    assert line_problem(named, allowing) is None
    assert line_problem(line(), None) == "no product profile matches this line"


def test_a_part_takes_its_colour_from_the_buyer_s_variation() -> None:
    chosen = line(variations=(Variation("Colour", "Galaxy&#039;s Black"),))
    assert part_color(KEYCHAIN_RED.parts[0], chosen) == "Galaxy's Black"
    assert part_color(KEYCHAIN_RED.parts[0], line()) is None


def test_a_profile_without_parts_or_with_a_bad_priority_is_refused() -> None:
    draft = ProductProfile(id=1, name="x", listing_id="1", parts=())
    assert profile_problem(draft) == "parts: a profile prints at least one part"
    bad = ProductProfile(id=1, name="x", listing_id="1", priority=7, parts=(ProfilePart(file_id=1),))
    assert profile_problem(bad) == "priority: must be between 0 and 3"


def test_an_order_becomes_one_print_per_plate_with_the_deadline_less_the_buffer() -> None:
    order = stored([order_line(1, quantity=7, profile=KEYCHAIN), order_line(2, quantity=1, profile=KEYCHAIN_SKU)])
    profiles = {p.id: p for p in (KEYCHAIN, KEYCHAIN_SKU)}
    planned = plan_order(order, profiles, ScheduleOptions(), ship_buffer=timedelta(days=1))
    assert [p.key for p in planned] == [(1, 1, 1), (1, 1, 2), (2, 1, 1)]
    assert [p.plan.job_name for p in planned] == [
        "Order 1001: Keychain (1/2)",
        "Order 1001: Keychain (2/2)",
        "Order 1001: Keychain",
    ]
    assert {p.plan.finish_by for p in planned} == {NOW + timedelta(days=2)}
    assert {p.plan.order_id for p in planned} == {"9"}
    assert not any(p.chained for p in planned), "no printer and no offset: the farm prints them side by side"
    assert plates_total(order, profiles) == 3
    again = plan_order(
        order, profiles, ScheduleOptions(), ship_buffer=timedelta(days=1), existing=[p.key for p in planned]
    )
    assert again == [], "scheduling twice adds nothing"


def test_on_one_printer_the_prints_are_chained_with_the_offset_after_each_finish() -> None:
    order = stored([order_line(1, quantity=8, profile=KEYCHAIN)])
    planned = plan_order(
        order, {1: KEYCHAIN}, ScheduleOptions(printer_id="x1", start_offset_minutes=10), ship_buffer=timedelta(days=1)
    )
    assert [(p.chained, p.plan.printer_id, p.plan.offset_minutes) for p in planned] == [(True, "x1", 10)] * 2
    assert {p.plan.offset_from for p in planned} == {OffsetFrom.FINISH}
    staggered = plan_order(order, {1: KEYCHAIN}, ScheduleOptions(start_offset_minutes=5), ship_buffer=timedelta(0))
    assert {(p.chained, p.plan.offset_from) for p in staggered} == {(True, OffsetFrom.START)}


def test_a_line_with_a_problem_gets_no_print_and_the_order_needs_attention() -> None:
    order = stored(
        [
            order_line(1, quantity=1, profile=KEYCHAIN),
            order_line(2, quantity=1, profile=None, problem="no product profile matches this line"),
        ]
    )
    assert [p.key for p in plan_order(order, {1: KEYCHAIN}, ScheduleOptions(), ship_buffer=timedelta(0))] == [(1, 1, 1)]
    status, problem = order_status(order, progress(1, []))
    assert (status, problem) == (OrderStatus.NEEDS_ATTENTION, "Keychain: no product profile matches this line")


def test_the_order_status_follows_its_plates() -> None:
    order = stored([order_line(1, quantity=8, profile=KEYCHAIN)])
    first, second = (1, 1, 1), (1, 1, 2)
    assert order_status(order, progress(2, []))[0] is OrderStatus.NEW
    queued = [(first, ScheduleStatus.QUEUED), (second, ScheduleStatus.QUEUED)]
    assert order_status(order, progress(2, queued))[0] is OrderStatus.SCHEDULED
    printing = [(first, ScheduleStatus.STARTED), (second, ScheduleStatus.QUEUED)]
    assert order_status(order, progress(2, printing))[0] is OrderStatus.PRINTING
    failed = [(first, ScheduleStatus.FAILED), (second, ScheduleStatus.COMPLETED)]
    assert order_status(order, progress(2, failed)) == (
        OrderStatus.NEEDS_ATTENTION,
        "1 plate(s) failed and are not reprinted",
    )
    reprinted = [*failed, (first, ScheduleStatus.COMPLETED)]
    done = progress(2, reprinted)
    assert (done.printed, done.needed) == (2, 2)
    assert order_status(order, done)[0] is OrderStatus.PRINTED
    shipped = stored([order_line(1, quantity=8, profile=KEYCHAIN)], status=OrderStatus.SHIPPED)
    assert order_status(shipped, progress(2, queued))[0] is OrderStatus.SHIPPED
