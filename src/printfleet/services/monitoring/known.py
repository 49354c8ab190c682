"""The printers of a shared farm that other processes own: :class:`KnownPrinters`.

In a shared farm (docs/farm.md) a process connects only to the printers it owns; the others are *known*: their
configuration and the status their owner last shared (``offline``/``connecting`` until one is read). They are listed
and shown like connected printers, and their statuses are published as remote events, so pages and WebSocket clients
see them while nothing in this process acts on them (job tracking, alarms and the scheduler act where the printer is
connected).
"""

from __future__ import annotations

from printfleet.domain.events import PrinterStatusUpdated
from printfleet.domain.printer import OfflineReason, PrinterConfig, PrinterStatus
from printfleet.services.events import EventBus
from printfleet.services.shown_status import ShownStatus


class Known:
    """A known printer: its configuration and the status its owner last shared."""

    __slots__ = ("config", "status")

    def __init__(self, config: PrinterConfig, status: PrinterStatus | None = None) -> None:
        self.config = config
        self.status = status or PrinterStatus.offline(OfflineReason.CONNECTING)


class KnownPrinters:
    """The known printers by id. ``shown`` adds what this process knows to a shared status (see :meth:`shown`)."""

    def __init__(self, *, bus: EventBus, shown: ShownStatus) -> None:
        self._bus = bus
        self._shown = shown
        self._known: dict[str, Known] = {}

    def __contains__(self, printer_id: object) -> bool:
        return printer_id in self._known

    def ids(self) -> list[str]:
        """The known printers' ids, sorted."""
        return sorted(self._known)

    def know(self, config: PrinterConfig, status: PrinterStatus | None = None) -> None:
        """Know ``config`` (its last status ``status``, e.g. when this process lets the printer go); a printer known
        already keeps its status unless ``status`` is given."""
        known = self._known.get(config.id)
        if known is None or status is not None:
            self._known[config.id] = Known(config, status)

    def forget(self, printer_id: str) -> Known | None:
        """Stop knowing the printer (this process owns it now, or it was removed); what was known, or None."""
        return self._known.pop(printer_id, None)

    def config(self, printer_id: str) -> PrinterConfig | None:
        """A known printer's configuration, or None."""
        known = self._known.get(printer_id)
        return known.config if known is not None else None

    def replace_config(self, config: PrinterConfig) -> bool:
        """A known printer's configuration was edited; False when it is not known."""
        known = self._known.get(config.id)
        if known is None:
            return False
        known.config = config
        return True

    def status(self, printer_id: str) -> PrinterStatus | None:
        """A known printer's status as shown here, or None."""
        known = self._known.get(printer_id)
        return self._shown_status(known) if known is not None else None

    def all(self) -> list[tuple[PrinterConfig, PrinterStatus]]:
        """Every known printer with its status as shown here."""
        return [(known.config, self._shown_status(known)) for known in self._known.values()]

    def show_shared(self, printer_id: str, status: PrinterStatus) -> None:
        """The status a known printer's owner shared: kept and published (as a remote event). Ignored for a printer
        not known."""
        known = self._known.get(printer_id)
        if known is not None:
            known.status = status
            self.publish(printer_id)

    def publish(self, printer_id: str) -> None:
        """Publish a known printer's status as shown now (a remote event); nothing for a printer not known."""
        known = self._known.get(printer_id)
        if known is not None:
            self._bus.publish(PrinterStatusUpdated(printer=known.config, status=self._shown_status(known)), remote=True)

    def clear(self) -> None:
        """Forget every known printer."""
        self._known.clear()

    def _shown_status(self, known: Known) -> PrinterStatus:
        """What the owner shared (the print being sent, the spools in the slots, the preview: the owner knows those),
        with this process's plate and next print, which the store keeps and the farm announces."""
        return self._shown.of_shared(known.config, known.status)
