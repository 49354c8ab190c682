"""Printer alerts: a printer's new errors and long outages become domain events for the outbox.

:class:`PrinterAlerts` listens to the printers' state changes on the bus, keeps a
:class:`~printfleet.domain.notifications.printer_alerts.PrinterWatch` (the rules), and publishes
``PrinterErrorRaised`` (announced as ``hms_error`` or ``filament_runout``) and, once a printer has stayed offline for
the grace period, ``PrinterWentOffline`` (``printer_offline``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Self

import structlog

from printfleet.domain.events import DomainEvent, PrinterRemoved, PrinterStatusUpdated
from printfleet.domain.notifications.printer_alerts import PrinterWatch
from printfleet.domain.printer import PrinterConfig, PrinterStatus
from printfleet.services.events import EventBus, TimedFollower

log = structlog.get_logger(__name__)


def _watched(event: DomainEvent) -> bool:
    """The events the watch takes: a printer's state change (not its telemetry), a printer removed."""
    return (isinstance(event, PrinterStatusUpdated) and not event.telemetry) or isinstance(event, PrinterRemoved)


class PrinterAlerts(TimedFollower):
    """Publishes printers' new errors at once and their outages after ``grace`` (seconds as a timedelta). Enter to
    run; leave to stop. Entering starts from the printers' statuses ``current()`` gives (``(config, status)``
    pairs): what they show then is known, and only what changes after is announced (at start-up there are none
    yet; when the role passes to this process mid-day, the others' announcements are not repeated)."""

    def __init__(
        self,
        *,
        bus: EventBus,
        grace: timedelta,
        current: Callable[[], Iterable[tuple[PrinterConfig, PrinterStatus]]] = lambda: (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(bus, name="printer-alerts", clock=clock, accepts=_watched)
        self._grace = grace
        self._current = current
        self._watch = PrinterWatch(grace)

    async def __aenter__(self) -> Self:
        self._watch = PrinterWatch(self._grace)
        entered = await super().__aenter__()  # subscribed first: no change after the statuses below is missed
        now = self._clock()
        for config, status in self._current():
            self._watch.observe(config.id, status, now)
        return entered

    def next_due(self) -> datetime | None:
        """When the next printer's grace ends."""
        return self._watch.next_due()

    async def on_event(self, event: DomainEvent, now: datetime) -> None:
        """A printer's state change may raise errors; a removed printer is forgotten."""
        if isinstance(event, PrinterStatusUpdated) and not event.telemetry:
            for raised in self._watch.observe(event.printer.id, event.status, now):
                log.info("printer.error_raised", printer_id=raised.printer_id, code=raised.code, runout=raised.runout)
                self._bus.publish(raised)
        elif isinstance(event, PrinterRemoved):
            self._watch.forget(event.printer_id)

    async def on_time(self, now: datetime) -> None:
        """Announce the printers whose grace has ended."""
        for gone in self._watch.due(now):
            log.info("printer.offline_announced", printer_id=gone.printer_id, since=gone.since.isoformat())
            self._bus.publish(gone)
