"""Bambu Lab printers in LAN mode: MQTT over TLS (see PROTOCOLS.md, Bambu section).

``protocol`` is the pure part (merge partial reports, normalise); ``commands`` builds the requests (``project_file``,
``gcode_file``, ...); ``client`` holds the :class:`BambuConnection` that keeps one printer's status current and
sends prints (``upload`` then ``start``, via ``sending``); ``ftps`` uploads a file over implicit FTPS
(``upload_file``); ``tls`` makes the certificate-checking contexts both use.
"""

from printfleet.printers.bambu.client import BambuConnection
from printfleet.printers.bambu.protocol import BambuPayloadError

__all__ = ["BambuConnection", "BambuPayloadError"]
