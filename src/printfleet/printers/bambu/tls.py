"""TLS client contexts for a Bambu printer, shared by the MQTT connection and the FTPS upload.

A printer is reached by IP and presents a certificate from Bambu's private CA whose CN is its serial (PROTOCOLS.md,
OpenBambuAPI ``tls.md``). :func:`verifying_context` checks the chain against ``ca_file`` and the name against the
serial, whatever host is dialled; :func:`insecure_context` is the explicit ``tls_insecure`` switch.
"""

from __future__ import annotations

import socket
import ssl

__all__ = ["insecure_context", "verifying_context"]


class _SerialCheckedContext(ssl.SSLContext):
    """A client context whose host check is against the printer's serial, whatever host we dial.

    paho and ftplib pass the dialled host (an IP) as ``server_hostname``; forcing the serial there makes OpenSSL's
    own hostname verification compare the certificate's CN/SAN with the serial (CN fallback is on: printer
    certificates carry no subjectAltName).
    """

    expected_name: str = ""

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        return super().wrap_socket(
            sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=self.expected_name,
            session=session,
        )


def verifying_context(ca_file: str, serial: str) -> ssl.SSLContext:
    """A client context trusting only ``ca_file`` (PEM) and requiring the certificate to name ``serial``.

    Raises ``OSError`` or ``ssl.SSLError`` when ``ca_file`` cannot be read or parsed.
    """
    context = _SerialCheckedContext(ssl.PROTOCOL_TLS_CLIENT)
    context.expected_name = serial
    context.check_hostname = True
    context.hostname_checks_common_name = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=ca_file)
    return context


def insecure_context() -> ssl.SSLContext:
    """A client context that encrypts but verifies nothing (``tls_insecure: true``)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
