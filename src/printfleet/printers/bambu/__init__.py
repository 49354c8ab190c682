"""Bambu Lab printers in LAN mode: MQTT over TLS (see PROTOCOLS.md, Bambu section).

``protocol`` is the pure part (merge partial reports, normalise, build commands); ``client`` holds the
:class:`BambuConnection` that keeps one printer's status current.
"""

from printfleet.printers.bambu.client import BambuConnection
from printfleet.printers.bambu.protocol import BambuPayloadError

__all__ = ["BambuConnection", "BambuPayloadError"]
