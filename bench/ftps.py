"""Bambu FTPS upload: printfleet's client against a bare ``ftplib`` upload of the same file to the same server.

Setup: one simulated printer's implicit-FTPS server (:class:`printfleet.sim.bambu_ftps.SimulatedBambuFtps`, TLS 1.2,
session reuse required) on loopback, a 50 MB file of random bytes. Each round uploads the file once through
:func:`printfleet.printers.bambu.ftps.upload_file` as a print dispatch calls it (verifying the certificate, with
the size-based deadline, no MD5, from a worker thread) and once with the smallest ``ftplib.FTP_TLS`` subclass that
the server accepts (implicit TLS, session reuse, ``storbinary`` with 64 KiB blocks, no MD5), after one warm-up
upload each, alternating which goes first so a slow moment of the machine hits both alike. The figure is the ratio
of the median throughputs; target ≥ 0.8.

On loopback both TLS ends are CPU-bound, so on a 2-core machine an inline MD5 (about 0.07 s of CPU for 50 MB) is
not free as it is on a printer's Wi-Fi link (1-10 MB/s): measured 0.6-0.9 with it, 0.9-1.4 without, depending on
load. The dispatch path sends ``md5: ""`` (accepted by the firmware, research 1a), so it computes none.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import statistics
import tempfile
import time
from pathlib import Path

from bench import Figure
from printfleet.domain.printer import PrinterConfig, PrinterKind, Secret
from printfleet.printers.bambu.ftps import ImplicitFtpsClient, upload_file
from printfleet.sim.bambu_ftps import SimulatedBambuFtps
from printfleet.sim.tls import SimCertificateAuthority

SIZE_MB = 50
ROUNDS = 11
RATIO_TARGET = 0.8
SERIAL = "01S00C000000001"
ACCESS_CODE = "12345678"


def _bare_upload(port: int, ca_file: Path, local: Path) -> None:
    context = ssl.create_default_context(cafile=str(ca_file))
    context.check_hostname = False
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    # The same implicit-FTPS connection class, but ftplib's own transfer loop: no MD5, no progress, no checks.
    ftp = ImplicitFtpsClient(context=context, timeout=30)
    ftp.connect("127.0.0.1", port)
    ftp.login("bblp", ACCESS_CODE, secure=False)
    ftp.prot_p()
    with local.open("rb") as handle:
        ftp.storbinary("STOR /bare.3mf", handle, blocksize=64 * 1024)
    ftp.quit()


async def measure(*, size_mb: float = SIZE_MB, rounds: int = ROUNDS) -> list[Figure]:
    """The FTPS figures for a ``size_mb`` MB file over ``rounds`` rounds (the smoke test uses small ones)."""
    with tempfile.TemporaryDirectory(prefix="printfleet-bench-ftps-") as directory:
        root = Path(directory)
        authority = SimCertificateAuthority.create()
        ca_file = authority.write_ca(root / "ca.pem")
        cert = authority.issue(SERIAL, directory=root / "certs", name=SERIAL)
        server = SimulatedBambuFtps(cert=cert, access_code=ACCESS_CODE, root=root / "sd")
        server.start()
        local = root / "upload.3mf"
        size = int(size_mb * 1_000_000)
        local.write_bytes(os.urandom(size))
        config = PrinterConfig(
            id="bench",
            name="bench",
            kind=PrinterKind.BAMBU,
            host="127.0.0.1",
            serial=SERIAL,
            access_code=Secret(ACCESS_CODE),
            ca_file=str(ca_file),
        )
        ours: list[float] = []
        bare: list[float] = []
        try:
            await upload_file(config, local, "/ours.3mf", port=server.port)  # warm-up: page cache, TLS setup
            await asyncio.to_thread(_bare_upload, server.port, ca_file, local)
            for number in range(rounds):
                for which in ("ours", "bare") if number % 2 == 0 else ("bare", "ours"):
                    began = time.perf_counter()
                    if which == "ours":
                        await upload_file(config, local, "/ours.3mf", port=server.port)
                        ours.append(size / 1e6 / (time.perf_counter() - began))
                    else:
                        await asyncio.to_thread(_bare_upload, server.port, ca_file, local)
                        bare.append(size / 1e6 / (time.perf_counter() - began))
            for name in ("ours.3mf", "bare.3mf"):
                if (root / "sd" / name).stat().st_size != size:
                    raise RuntimeError(f"{name} arrived incomplete")
        finally:
            server.stop()
    ours_mb_s, bare_mb_s = statistics.median(ours), statistics.median(bare)
    ratio = ours_mb_s / bare_mb_s
    return [
        Figure(f"ftps: printfleet upload, {size_mb:g} MB", f"{ours_mb_s:.1f} MB/s (median of {rounds})"),
        Figure(f"ftps: bare ftplib upload, {size_mb:g} MB", f"{bare_mb_s:.1f} MB/s (median of {rounds})"),
        Figure(
            "ftps: printfleet / bare ftplib throughput", f"{ratio:.2f}", f"≥ {RATIO_TARGET:g}", ratio >= RATIO_TARGET
        ),
    ]


def run() -> list[Figure]:
    """``make bench``'s entry point."""
    return asyncio.run(measure())
