"""One printer connected to this process: :class:`Watched`, its bookkeeping, and :func:`supervise`, which runs its
connection and restarts it, with backoff, should it ever end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from printfleet.domain.printer import PrinterConfig, PrinterState, PrinterStatus
from printfleet.services.health import RetryDelays
from printfleet.services.ports import MonitoringMetrics, PrinterConnection

log = structlog.get_logger("printfleet.monitoring")


class Watched:
    """Bookkeeping for one printer. ``config`` is the printer's own configuration (``poll_interval`` None when it
    follows the global setting); ``connection.config`` is the one the connection was built with. ``status`` is
    the newest report, ``settled`` the newest one whose handling (transition row, listeners, publication) is
    complete: they differ only while the monitoring service's ``on_status`` awaits the store or a listener."""

    __slots__ = (
        "config",
        "connection",
        "crashed",
        "last_checkpoint",
        "last_recorded_state",
        "retry",
        "settled",
        "status",
        "task",
    )

    def __init__(self, config: PrinterConfig, connection: PrinterConnection, recorded: PrinterState | None) -> None:
        self.config = config
        self.connection = connection
        self.status: PrinterStatus = connection.status
        self.settled: PrinterStatus = connection.status
        self.last_checkpoint = 0.0
        self.last_recorded_state = recorded
        self.task: asyncio.Task[None] | None = None
        self.retry: asyncio.Task[None] | None = None  # handles ``status`` once the store is back
        self.crashed: str | None = None  # why the connection task ended, while it waits to be restarted


async def supervise(
    entry: Watched,
    *,
    rebuild: Callable[[], PrinterConnection],
    metrics: MonitoringMetrics | None,
    restart_initial_s: float,
    restart_max_s: float,
) -> None:
    """Run the printer's connection; should it end (it never should: ``run()`` retries by itself), log it at ERROR,
    count it, and start a fresh connection (``rebuild()``; the old one should that fail) after a backoff from
    ``restart_initial_s`` doubling up to ``restart_max_s`` seconds. A connection that ran for at least
    ``restart_max_s`` before it ended starts the backoff again from the start. ``entry.crashed`` says why while it
    waits (a health reason)."""
    loop = asyncio.get_running_loop()
    delays = RetryDelays(initial=restart_initial_s, maximum=restart_max_s)
    while True:
        started = loop.time()
        try:
            await entry.connection.run()
            entry.crashed = "returned"
            log.error("printer.connection_ended", printer_id=entry.config.id, printer_kind=entry.config.kind.value)
        except Exception as error:
            entry.crashed = type(error).__name__
            log.error(
                "printer.connection_crashed",
                printer_id=entry.config.id,
                printer_kind=entry.config.kind.value,
                error=entry.crashed,
                exc_info=error,
            )
        if loop.time() - started >= restart_max_s:
            delays.reset()
        delay = delays.next_delay()
        if metrics is not None:
            metrics.connection_restarted(entry.config.kind)
        log.info("printer.connection_restarting", printer_id=entry.config.id, restart_in_s=round(delay, 2))
        await asyncio.sleep(delay)
        try:
            entry.connection = rebuild()
        except Exception as error:  # the adapter refuses to be built again: run the old one once more
            log.error("printer.connection_rebuild_failed", printer_id=entry.config.id, exc_info=error)
        entry.crashed = None
