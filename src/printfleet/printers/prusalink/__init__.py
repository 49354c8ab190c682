"""PrusaLink adapter (Buddy firmware printers and Prusa-Link on a Raspberry Pi): HTTP polling, Digest or API key.

``protocol`` is the pure parser, ``client`` the connection (:class:`PrusaLinkConnection`).
"""

from printfleet.printers.prusalink.client import PrusaLinkConnection
from printfleet.printers.prusalink.protocol import PrusaLinkPayloadError, parse_status

__all__ = ["PrusaLinkConnection", "PrusaLinkPayloadError", "parse_status"]
