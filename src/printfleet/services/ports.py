"""Ports: what the services need from the outside, as Protocols. Adapters and the store implement them.

Only the composition root (``printfleet.app``) knows the concrete classes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from printfleet.domain.printer import PrinterConfig, PrinterKind, PrinterState, PrinterStatus


class PrinterConnection(Protocol):
    """One live connection to one printer (``printfleet.printers.*`` implement it).

    ``run()`` connects and reports until cancelled, reconnecting with backoff; it never raises except
    ``CancelledError``. Commands raise ``PrinterNotConnected`` or ``PrinterCommandRejected``.
    """

    config: PrinterConfig

    @property
    def status(self) -> PrinterStatus:
        """The latest snapshot."""
        ...

    async def run(self) -> None:
        """Connect and report until cancelled."""
        ...

    async def pause(self) -> None:
        """Pause the current print."""
        ...

    async def resume(self) -> None:
        """Resume the paused print."""
        ...

    async def stop(self) -> None:
        """Stop (cancel) the current print."""
        ...


StatusCallback = Callable[[str, PrinterStatus], Awaitable[None]]

ConnectionFactory = Callable[[PrinterConfig, StatusCallback], PrinterConnection]
"""``factory(config, sink)`` builds the adapter for ``config.kind``; wired by the composition root."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StateTransition:
    """A persisted printer state change. ``at`` is aware UTC."""

    id: int
    printer_id: str
    from_state: PrinterState | None
    to_state: PrinterState
    at: datetime
    file_name: str | None = None
    offline_reason: str | None = None
    detail: str | None = None


class PrinterRepository(Protocol):
    """Printers and their state transitions in the store.

    Every method runs in its own transaction. Raises ``PrinterNotFound`` (``printfleet.services.errors``) where
    a missing id matters, ``PrinterAlreadyExists`` on a duplicate id.
    """

    async def list_printers(self) -> list[PrinterConfig]:
        """All printers, ordered by id."""
        ...

    async def get_printer(self, printer_id: str) -> PrinterConfig | None:
        """One printer, or None."""
        ...

    async def add_printer(self, config: PrinterConfig) -> None:
        """Insert; raises PrinterAlreadyExists."""
        ...

    async def update_printer(self, config: PrinterConfig) -> None:
        """Replace a printer's configuration; raises PrinterNotFound."""
        ...

    async def delete_printer(self, printer_id: str) -> None:
        """Delete a printer and its transitions; raises PrinterNotFound."""
        ...

    async def upsert_printers(self, configs: Sequence[PrinterConfig]) -> None:
        """Insert or overwrite each printer (seeding from the configuration file)."""
        ...

    async def record_transition(
        self,
        *,
        printer_id: str,
        from_state: PrinterState | None,
        status: PrinterStatus,
        at: datetime,
    ) -> None:
        """Append one state-transition row for ``printer_id``."""
        ...

    async def list_transitions(self, printer_id: str, *, limit: int = 100) -> list[StateTransition]:
        """The newest ``limit`` transitions of a printer, newest first."""
        ...

    async def last_transition_states(self) -> dict[str, PrinterState]:
        """The state recorded by each printer's newest transition (to avoid a duplicate row after restart)."""
        ...


class MonitoringMetrics(Protocol):
    """Gauges the monitoring service keeps current."""

    def set_connected(self, kind: PrinterKind, count: int) -> None:
        """Printers of ``kind`` currently reachable."""
        ...
