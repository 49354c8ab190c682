"""Live monitoring of the printers: the connections, the live status of each printer, its state changes recorded
(:mod:`.service`), statuses published at the pace pages follow (:mod:`.publisher`), and, in a shared farm, the
printers other processes own (:mod:`.known`)."""

from printfleet.services.monitoring.service import MonitoringService, SlotListener, StatusListener

__all__ = ["MonitoringService", "SlotListener", "StatusListener"]
