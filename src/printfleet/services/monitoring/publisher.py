"""Printer statuses published on the event bus at the pace pages can follow: :class:`StatusPublisher`.

A state change is published at once; telemetry (temperatures, progress, AMS levels) at most once per printer per
``interval_s`` (1 s), always ending on the newest values: a report inside the interval schedules one publication at
its end, which carries whatever status is newest then. The monitoring service decides which is which.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from printfleet.domain.events import PrinterStatusUpdated
from printfleet.domain.printer import PrinterConfig, PrinterStatus
from printfleet.services.events import EventBus

Current = Callable[[str], tuple[PrinterConfig, PrinterStatus] | None]
"""``current(printer_id)``: the printer's configuration and its status as shown now, or None when it is gone."""


class StatusPublisher:
    """Publishes ``current(printer_id)`` on ``bus`` as :class:`PrinterStatusUpdated` (see the module)."""

    def __init__(self, *, bus: EventBus, current: Current, interval_s: float = 1.0) -> None:
        self._bus = bus
        self._current = current
        self._interval_s = interval_s
        self._last: dict[str, float] = {}  # printer id -> monotonic time of its last publication
        self._pending: dict[str, asyncio.TimerHandle] = {}  # printer id -> its telemetry publication to come

    def now(self, printer_id: str) -> None:
        """Publish the printer's status at once (a state change); a telemetry publication waiting is dropped."""
        pending = self._pending.pop(printer_id, None)
        if pending is not None:
            pending.cancel()
        self._publish(printer_id, telemetry=False)

    def telemetry(self, printer_id: str) -> None:
        """Publish the printer's telemetry now if its interval has passed, else once at its end."""
        if printer_id in self._pending:
            return  # a publication is scheduled; it will carry the newest status
        wait = self._last.get(printer_id, 0.0) + self._interval_s - time.monotonic()
        if wait <= 0:
            self._publish(printer_id, telemetry=True)
            return
        self._pending[printer_id] = asyncio.get_running_loop().call_later(wait, self._flush, printer_id)

    def forget(self, printer_id: str) -> None:
        """The printer is no longer published from here (disconnected, removed): drop what waits for it."""
        pending = self._pending.pop(printer_id, None)
        if pending is not None:
            pending.cancel()
        self._last.pop(printer_id, None)

    def _flush(self, printer_id: str) -> None:
        self._pending.pop(printer_id, None)
        self._publish(printer_id, telemetry=True)

    def _publish(self, printer_id: str, *, telemetry: bool) -> None:
        shown = self._current(printer_id)
        if shown is None:
            return
        self._last[printer_id] = time.monotonic()
        config, status = shown
        self._bus.publish(PrinterStatusUpdated(printer=config, status=status, telemetry=telemetry))
