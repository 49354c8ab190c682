"""OctoPrint adapter: :class:`~printfleet.printers.octoprint.client.OctoPrintConnection` (REST polling plus the
SockJS push socket) and the pure wire-format mapping in :mod:`printfleet.printers.octoprint.protocol`."""

from printfleet.printers.octoprint.client import OctoPrintConnection

__all__ = ["OctoPrintConnection"]
