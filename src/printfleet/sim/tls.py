"""A throw-away certificate authority for simulated Bambu printers.

Real printers present a certificate from Bambu's private CA whose common name (CN) is the printer's serial
(PROTOCOLS.md, OpenBambuAPI ``tls.md``). The simulator does the same with its own CA, so the client's strict path
(verify against ``ca_file`` and check CN == serial while connecting by IP) is exercised for real.

Keys are EC P-256: generating one takes well under a millisecond, against ~50 ms for RSA 2048, which matters when
a farm of 200 printers starts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = timedelta(days=30)
_CLOCK_SKEW = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class CertificateFiles:
    """PEM files of one server certificate and its private key."""

    cert_file: Path
    key_file: Path


def _write(path: Path, data: bytes, *, private: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path


class SimCertificateAuthority:
    """A self-signed CA that issues server certificates (CN = a printer serial) for the simulators."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> None:
        self._key = key
        self.certificate = certificate

    @classmethod
    def create(cls, common_name: str = "printfleet simulator CA") -> SimCertificateAuthority:
        """Generate a new CA key and self-signed certificate, valid from a day ago for 30 days."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _CLOCK_SKEW)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate, PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def write_ca(self, path: Path) -> Path:
        """Write the CA certificate (PEM) to ``path``; this is the ``ca_file`` clients verify against."""
        return _write(path, self.ca_pem)

    def issue(self, common_name: str, *, directory: Path, name: str, dns_names: Sequence[str] = ()) -> CertificateFiles:
        """Issue a server certificate with CN ``common_name`` and write ``<name>.crt``/``<name>.key`` (0600).

        Without ``dns_names`` the certificate has no subjectAltName, like a real printer's, so a client's host
        check falls back to the CN. With them (the shared-broker mode: one broker certificate for many serials)
        the names go into subjectAltName and the CN is no longer consulted by TLS clients.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _CLOCK_SKEW)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        if dns_names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(dns) for dns in dns_names]), critical=False
            )
        certificate = builder.sign(self._key, hashes.SHA256())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return CertificateFiles(
            cert_file=_write(directory / f"{name}.crt", certificate.public_bytes(serialization.Encoding.PEM)),
            key_file=_write(directory / f"{name}.key", key_pem, private=True),
        )
