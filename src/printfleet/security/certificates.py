"""A printer's CA certificate uploaded through the web UI, kept as a file the Bambu adapter reads (``ca_file``).

Bambu Lab printers present a certificate signed by Bambu's own CA (PROTOCOLS.md): verifying it needs that CA's
certificate as a PEM file. People get it as a file, not as a path on the server, so the printer form takes an upload
and :func:`save_ca_certificate` checks and stores it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography import x509

MAX_CA_BYTES = 64 * 1024
"""The largest certificate file taken (bytes): a CA chain of a few certificates is a few kilobytes."""


class NotACertificate(ValueError):
    """The upload is not one or more PEM X.509 certificates, or is too large; the message says which (``too large``,
    ``no PEM certificate in it``, ``the PEM certificate cannot be read``)."""


def save_ca_certificate(directory: Path, printer_id: str, data: bytes) -> Path:
    """Check ``data`` is one or more PEM X.509 certificates (at most :data:`MAX_CA_BYTES`) and store it as
    ``<directory>/<printer_id>-<sha256 prefix>.pem`` (created with the directory, mode 0644: certificates are
    public); the path. The same content stored twice is one file. Raises NotACertificate, OSError."""
    if len(data) > MAX_CA_BYTES:
        raise NotACertificate("too large")
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise NotACertificate("no PEM certificate in it")
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise NotACertificate("the PEM certificate cannot be read") from None
    if not certificates:
        raise NotACertificate("no PEM certificate in it")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{printer_id}-{hashlib.sha256(data).hexdigest()[:12]}.pem"
    if not path.exists():
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        os.chmod(partial, 0o644)
        partial.replace(path)
    return path.resolve()
