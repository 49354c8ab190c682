"""From an order to scheduled prints, and from its prints back to the order's status.

Each line with a profile gets, per part of the profile, :func:`~printfleet.domain.orders.profiles.plates_needed`
plates; each plate is one scheduled print, keyed by (line, part, plate) so scheduling twice adds nothing. The prints
of one order are chained when they go to one printer (each waits for the one before to finish, plus
``start_offset_minutes`` to clear the plate) or when an offset is asked for (each starts that long after the one
before). ``finish_by`` is the order's ship-by date less the shop's packing buffer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from printfleet.domain.orders.model import Order, OrderLine, OrderStatus
from printfleet.domain.orders.profiles import ProductProfile, part_color, plates_needed
from printfleet.domain.schedule.model import OffsetFrom, PrintPlan, ScheduleStatus, Target

PlateKey = tuple[int, int, int]
"""A plate of an order: (line id, part index from 1, plate index from 1)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleOptions:
    """How a person asks for an order to be scheduled: on ``printer_id`` (else each profile's printer or model, or
    any compatible printer), in ``material_type`` (else each part's), ``start_offset_minutes`` (minutes, ≥ 0)
    between chained prints."""

    printer_id: str | None = None
    material_type: str | None = None
    start_offset_minutes: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedPrint:
    """One plate to schedule: its ``key`` and the ``plan``, without a predecessor: when ``chained`` the service sets
    ``depends_on`` to the print stored before it (the plan's ``offset_minutes`` and ``offset_from`` already say how
    long after)."""

    key: PlateKey
    plan: PrintPlan
    chained: bool


def _job_name(order: Order, line: OrderLine, part_index: int, parts: int, plate: int, plates: int) -> str:
    label = f"Order {order.external_id or order.id}: {line.title}"
    if parts > 1:
        label += f" part {part_index}"
    if plates > 1:
        label += f" ({plate}/{plates})"
    return label[:255]


def plan_order(
    order: Order,
    profiles: Mapping[int, ProductProfile],
    options: ScheduleOptions,
    *,
    ship_buffer: timedelta,
    existing: Iterable[PlateKey] = (),
) -> list[PlannedPrint]:
    """The prints ``order`` still needs, in line, part and plate order: none for a line with a ``problem`` or no
    profile in ``profiles`` (by id), none for a plate in ``existing``. Raises ValueError for a negative offset."""
    if options.start_offset_minutes < 0:
        raise ValueError("start_offset_minutes must not be negative")
    done = set(existing)
    finish_by = order.ship_by - ship_buffer if order.ship_by is not None else None
    planned: list[PlannedPrint] = []
    for line in order.lines:
        profile = profiles.get(line.profile_id) if line.profile_id is not None else None
        if line.problem is not None or profile is None:
            continue
        printer_id = options.printer_id or profile.printer_id
        chained = printer_id is not None or options.start_offset_minutes > 0
        for part_index, part in enumerate(profile.parts, start=1):
            plates = plates_needed(line.quantity, part.units_per_plate)
            for plate in range(1, plates + 1):
                key = (line.id, part_index, plate)
                if key in done:
                    continue
                plan = PrintPlan(
                    job_name=_job_name(order, line, part_index, len(profile.parts), plate, plates),
                    file_id=part.file_id,
                    plate=part.plate,
                    printer_id=printer_id,
                    target=Target(model=None if printer_id else profile.model),
                    order_id=str(order.id),
                    finish_by=finish_by,
                    material_type=options.material_type or part.material_type,
                    material_color=part_color(part, line),
                    nozzle_temp=profile.nozzle_temp,
                    bed_temp=profile.bed_temp,
                    print_speed=profile.print_speed,
                    priority=profile.priority,
                    offset_minutes=options.start_offset_minutes,
                    offset_from=OffsetFrom.FINISH if printer_id is not None else OffsetFrom.START,
                    only_if_succeeded=False,
                    notes=line.personalisation,
                )
                planned.append(PlannedPrint(key=key, plan=plan, chained=chained))
    return planned


def plates_total(order: Order, profiles: Mapping[int, ProductProfile]) -> int:
    """How many plates ``order`` needs in all (lines without a usable profile count none)."""
    total = 0
    for line in order.lines:
        profile = profiles.get(line.profile_id) if line.profile_id is not None else None
        if profile is None or line.problem is not None:
            continue
        total += sum(plates_needed(line.quantity, part.units_per_plate) for part in profile.parts)
    return total


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """An order's plates: ``printed`` of ``needed``; ``failed`` plates whose every print failed (none running or
    waiting); ``started`` whether any print of it started."""

    printed: int
    needed: int
    failed: tuple[PlateKey, ...] = ()
    started: bool = False
    scheduled: int = 0


def progress(needed: int, prints: Iterable[tuple[PlateKey, ScheduleStatus]]) -> Progress:
    """The progress of an order needing ``needed`` plates from its prints, each (plate key, status); a plate with a
    reprint counts once (printed when any of its prints completed)."""
    by_key: dict[PlateKey, list[ScheduleStatus]] = {}
    for key, status in prints:
        by_key.setdefault(key, []).append(status)
    printed = sum(1 for statuses in by_key.values() if ScheduleStatus.COMPLETED in statuses)
    failed = tuple(
        sorted(
            key
            for key, statuses in by_key.items()
            if all(status.is_final for status in statuses) and ScheduleStatus.COMPLETED not in statuses
        )
    )
    started = any(
        status in (ScheduleStatus.DISPATCHING, ScheduleStatus.STARTED, ScheduleStatus.COMPLETED, ScheduleStatus.FAILED)
        for statuses in by_key.values()
        for status in statuses
    )
    return Progress(printed=printed, needed=needed, failed=failed, started=started, scheduled=len(by_key))


def order_status(order: Order, done: Progress) -> tuple[OrderStatus, str | None]:
    """The status ``order`` has given its lines and ``done`` (its progress), with the problem when it needs
    attention. ``shipped`` and ``cancelled`` stay."""
    if order.status.is_closed:
        return order.status, order.problem
    for line in order.lines:
        if line.problem is not None:
            return OrderStatus.NEEDS_ATTENTION, f"{line.title}: {line.problem}"
    if done.failed:
        return OrderStatus.NEEDS_ATTENTION, f"{len(done.failed)} plate(s) failed and are not reprinted"
    if done.needed == 0 or done.scheduled == 0:
        return OrderStatus.NEW, None
    if done.printed >= done.needed:
        return OrderStatus.PRINTED, None
    if done.started:
        return OrderStatus.PRINTING, None
    if done.scheduled < done.needed:
        return OrderStatus.NEW, None
    return OrderStatus.SCHEDULED, None
