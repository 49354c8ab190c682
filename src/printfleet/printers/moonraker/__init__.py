"""Klipper printers through Moonraker: :class:`~printfleet.printers.moonraker.client.MoonrakerConnection` (one
JSON-RPC websocket per printer), the pure wire-format mapping in :mod:`printfleet.printers.moonraker.protocol`,
and sending prints in :mod:`printfleet.printers.moonraker.sending`."""

from printfleet.printers.moonraker.client import MoonrakerConnection

__all__ = ["MoonrakerConnection"]
