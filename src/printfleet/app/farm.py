"""Composition of the farm's announcements (docs/farm.md): on PostgreSQL, every process tells the others what it
changed and re-reads what they changed; on SQLite (one process) nothing is wired.

Each hint kind's loader re-reads from the store through the service that shows it, and publishes the result as a
remote event on this process's bus (pages and WebSocket clients see it; nothing acts on it again). Kinds whose
service keeps a copy in memory (settings, the member queue, plates, printer connections) refresh that copy first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import TypeVar

from printfleet.domain.announcements import Hint, HintKind
from printfleet.domain.events import (
    DispatchUpdated,
    JobUpdated,
    OrderUpdated,
    PlateCleared,
    QueueUpdated,
    ScheduledPrintUpdated,
)
from printfleet.observability.metrics import PrometheusMetrics
from printfleet.services.dispatch.plates import PlateService
from printfleet.services.dispatch.service import DispatchService
from printfleet.services.errors import NotFound
from printfleet.services.events import EventBus
from printfleet.services.farm.announcements import FarmAnnouncements, Loader
from printfleet.services.jobs import JobService
from printfleet.services.orders import OrderService
from printfleet.services.printers import PrinterService
from printfleet.services.queue import QueueService
from printfleet.services.schedule import Scheduler, ScheduleService
from printfleet.services.settings import SettingsService
from printfleet.store.announcements import PgAnnouncementChannel
from printfleet.store.database import Database

_T = TypeVar("_T")

QUEUE_REASON = "changed_elsewhere"
"""The ``reason`` of a ``queue_updated`` event re-read after another process changed the queue."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Shown:
    """The services whose things the farm's pages show."""

    bus: EventBus
    settings: SettingsService
    printers: PrinterService
    jobs: JobService
    queue: QueueService
    dispatch: DispatchService
    plates: PlateService
    schedule: ScheduleService
    scheduler: Scheduler
    orders: OrderService
    shop_wake: Callable[[], None] | None = None
    """Polls the shop soon, when this process polls it (the ``shop.etsy`` role); None without a shop."""


def farm_announcements(
    database: Database, shown: Shown, *, sender: str, metrics: PrometheusMetrics
) -> AbstractAsyncContextManager[object]:
    """The announcements of a farm on ``database`` (PostgreSQL), else nothing (SQLite serves one process). Printer
    configuration changes made here are announced from ``shown.printers``."""
    if database.dialect_name != "postgresql":
        return nullcontext()
    announcements = FarmAnnouncements(
        channel=PgAnnouncementChannel(database),
        bus=shown.bus,
        sender=sender,
        loaders=_loaders(shown),
        resync=lambda: _resync(shown),
        metrics=metrics,
    )
    shown.printers.add_change_listener(lambda printer_id: announcements.announce(Hint(HintKind.PRINTER, printer_id)))
    return announcements


def _loaders(shown: Shown) -> dict[HintKind, Loader]:
    bus = shown.bus

    async def jobs(keys: Sequence[str]) -> None:
        for job in await _each(keys, lambda key: shown.jobs.get(int(key))):
            bus.publish(JobUpdated(job=job), remote=True)

    async def queue(keys: Sequence[str]) -> None:
        await shown.queue.refresh()
        entries = await _each([key for key in keys if key], lambda key: shown.queue.entry(int(key)))
        for entry in entries:
            bus.publish(QueueUpdated(reason=QUEUE_REASON, entry=entry, printer_id=entry.printer_id), remote=True)
        if not entries:
            bus.publish(QueueUpdated(reason=QUEUE_REASON), remote=True)

    async def dispatches(keys: Sequence[str]) -> None:
        for dispatch in await _each(keys, lambda key: shown.dispatch.get(int(key))):
            bus.publish(DispatchUpdated(dispatch=dispatch), remote=True)

    async def plates(keys: Sequence[str]) -> None:
        await shown.plates.take_in_clearings()  # shows the plate on this process's printer cards too
        for printer_id in keys:
            bus.publish(PlateCleared(plate=shown.plates.state(printer_id)), remote=True)
        shown.scheduler.wake()  # a printer may be ready for its next print (when this process schedules)

    async def schedule(keys: Sequence[str]) -> None:
        for print_ in await _each(keys, lambda key: shown.schedule.get(int(key))):
            bus.publish(ScheduledPrintUpdated(scheduled=print_.scheduled, shown_status=print_.status), remote=True)
        shown.scheduler.wake()  # look at once, not at the next tick (when this process schedules)

    async def orders(keys: Sequence[str]) -> None:
        for view in await _each(keys, lambda key: shown.orders.get(int(key))):
            bus.publish(OrderUpdated(order=view.order), remote=True)

    async def settings(_keys: Sequence[str]) -> None:
        await shown.settings.reload()

    async def printers(keys: Sequence[str]) -> None:
        for printer_id in keys:
            await shown.printers.reconcile(printer_id)

    async def shops(_keys: Sequence[str]) -> None:
        if shown.shop_wake is not None:
            shown.shop_wake()  # a no-op unless this process polls the shop

    return {
        HintKind.JOB: jobs,
        HintKind.QUEUE: queue,
        HintKind.DISPATCH: dispatches,
        HintKind.PLATE: plates,
        HintKind.SCHEDULE: schedule,
        HintKind.ORDER: orders,
        HintKind.SETTINGS: settings,
        HintKind.PRINTER: printers,
        HintKind.SHOP: shops,
    }


async def _each(keys: Sequence[str], read: Callable[[str], Awaitable[_T]]) -> list[_T]:
    """``read(key)`` for each key, leaving out the things gone by now (NotFound) and keys that are not numbers."""
    found = []
    for key in keys:
        try:
            found.append(await read(key))
        except (NotFound, ValueError):
            continue
    return found


async def _resync(shown: Shown) -> None:
    """Re-read everything this process keeps in memory (the listener reconnected: hints may have been lost)."""
    await shown.settings.reload()
    await shown.printers.reconcile_all()
    await shown.queue.refresh()
    await shown.plates.take_in_clearings()
    shown.bus.publish(QueueUpdated(reason=QUEUE_REASON), remote=True)
