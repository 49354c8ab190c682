"""Printer alerts: a printer's new errors and long outages become domain events for the outbox.

:class:`PrinterAlerts` listens to the printers' state changes on the bus, keeps a
:class:`~printfleet.domain.notifications.printer_alerts.PrinterWatch` (the rules), and publishes
``PrinterErrorRaised`` (announced as ``hms_error`` or ``filament_runout``) and, once a printer has stayed offline for
the grace period, ``PrinterWentOffline`` (``printer_offline``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType

import structlog

from printfleet.domain.events import PrinterRemoved, PrinterStatusUpdated
from printfleet.domain.notifications.printer_alerts import PrinterWatch
from printfleet.services.events import EventBus, Subscription

log = structlog.get_logger(__name__)


class PrinterAlerts:
    """Publishes printers' new errors at once and their outages after ``grace`` (seconds as a timedelta). Enter to
    run (subscribe before the printers connect, so the first report of each is seen); leave to stop."""

    def __init__(
        self, *, bus: EventBus, grace: timedelta, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._bus = bus
        self._watch = PrinterWatch(grace)
        self._clock = clock
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PrinterAlerts:
        self._subscription = self._bus.subscribe(maxsize=10_000)
        self._task = asyncio.create_task(self._run(self._subscription), name="printer-alerts")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._subscription is not None:
            self._subscription.close()
        self._task = self._subscription = None

    async def _run(self, subscription: Subscription) -> None:
        while True:
            due_at = self._watch.next_due()
            wait = None if due_at is None else max((due_at - self._clock()).total_seconds(), 0.0)
            try:
                event = await asyncio.wait_for(subscription.get(), wait)
            except TimeoutError:
                event = None
            now = self._clock()
            if isinstance(event, PrinterStatusUpdated) and not event.telemetry:
                for raised in self._watch.observe(event.printer.id, event.status, now):
                    log.info(
                        "printer.error_raised", printer_id=raised.printer_id, code=raised.code, runout=raised.runout
                    )
                    self._bus.publish(raised)
            elif isinstance(event, PrinterRemoved):
                self._watch.forget(event.printer_id)
            for gone in self._watch.due(now):
                log.info("printer.offline_announced", printer_id=gone.printer_id, since=gone.since.isoformat())
                self._bus.publish(gone)
