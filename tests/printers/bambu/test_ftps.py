"""Uploading a file to a Bambu printer over implicit FTPS, against the simulator's FTPS server on loopback.

The simulator refuses, like the firmware's vsftpd, a data connection that does not resume the control connection's
TLS session; the bare-ftplib test shows that refusal, so the uploads that succeed show printfleet reuses it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ftplib
import hashlib
import os
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from printfleet.domain.printer import PrinterConfig, PrinterKind, Secret
from printfleet.printers.bambu.ftps import FtpsUploadError, ImplicitFtpsClient, upload_file
from printfleet.sim.bambu import BambuFarm
from printfleet.sim.bambu_ftps import SimulatedBambuFtps, wait_listening
from printfleet.sim.tls import SimCertificateAuthority

pytestmark = pytest.mark.timeout(60)

SERIAL = "01S00C000000042"
ACCESS_CODE = "31415926"


@dataclasses.dataclass
class Printer:
    server: SimulatedBambuFtps
    config: PrinterConfig

    @property
    def sd(self) -> Path:
        return self.server.root


@pytest.fixture
def printer(tmp_path: Path) -> Iterator[Printer]:
    authority = SimCertificateAuthority.create()
    ca_file = authority.write_ca(tmp_path / "ca.pem")
    cert = authority.issue(SERIAL, directory=tmp_path / "certs", name=SERIAL)
    server = SimulatedBambuFtps(cert=cert, access_code=ACCESS_CODE, root=tmp_path / "sd")
    server.start()
    config = PrinterConfig(
        id="x1c",
        name="X1C",
        kind=PrinterKind.BAMBU,
        host="127.0.0.1",
        serial=SERIAL,
        access_code=Secret(ACCESS_CODE),
        ca_file=str(ca_file),
    )
    try:
        yield Printer(server, config)
    finally:
        server.stop()


def _file(tmp_path: Path, size: int, name: str = "benchy.gcode.3mf") -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


async def test_upload_lands_on_the_printer_whole_with_its_md5(printer: Printer, tmp_path: Path) -> None:
    local = _file(tmp_path, 3 * 1024 * 1024 + 17)
    seen: list[int] = []

    result = await upload_file(printer.config, local, port=printer.server.port, compute_md5=True, progress=seen.append)

    stored = printer.sd / "benchy.gcode.3mf"
    assert stored.read_bytes() == local.read_bytes()
    assert result.remote_path == "/benchy.gcode.3mf"
    assert result.size == local.stat().st_size
    assert result.md5 == hashlib.md5(stored.read_bytes(), usedforsecurity=False).hexdigest()
    assert seen[-1] == result.size
    assert seen == sorted(seen)
    assert printer.server.refused_data_connections == 0


async def test_upload_to_a_named_path_in_the_cache_folder(printer: Printer, tmp_path: Path) -> None:
    local = _file(tmp_path, 1000)
    result = await upload_file(printer.config, local, "/cache/plate.3mf", port=printer.server.port)
    assert result.remote_path == "/cache/plate.3mf"
    assert (printer.sd / "cache" / "plate.3mf").read_bytes() == local.read_bytes()


async def test_a_folder_the_printer_lacks_is_refused(printer: Printer, tmp_path: Path) -> None:
    with pytest.raises(FtpsUploadError) as failed:
        await upload_file(printer.config, _file(tmp_path, 10), "/nowhere/x.3mf", port=printer.server.port)
    assert failed.value.reason == "refused"
    assert "553" in str(failed.value)


async def test_wrong_access_code_is_auth_failed_without_showing_either_code(
    printer: Printer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = dataclasses.replace(printer.config, access_code=Secret("00000000"))
    with pytest.raises(FtpsUploadError) as failed:
        await upload_file(config, _file(tmp_path, 10), port=printer.server.port)
    assert failed.value.reason == "auth_failed"
    assert "00000000" not in str(failed.value)
    assert ACCESS_CODE not in str(failed.value)
    assert "00000000" not in caplog.text


async def test_certificate_from_another_ca_is_tls_failed(printer: Printer, tmp_path: Path) -> None:
    other_ca = SimCertificateAuthority.create("someone else").write_ca(tmp_path / "other-ca.pem")
    config = dataclasses.replace(printer.config, ca_file=str(other_ca))
    with pytest.raises(FtpsUploadError) as failed:
        await upload_file(config, _file(tmp_path, 10), port=printer.server.port)
    assert failed.value.reason == "tls_failed"
    assert not (printer.sd / "benchy.gcode.3mf").exists()


async def test_certificate_naming_another_serial_is_tls_failed(printer: Printer, tmp_path: Path) -> None:
    config = dataclasses.replace(printer.config, serial="01S00C999999999")
    with pytest.raises(FtpsUploadError) as failed:
        await upload_file(config, _file(tmp_path, 10), port=printer.server.port)
    assert failed.value.reason == "tls_failed"
    assert "serial" in str(failed.value)


async def test_tls_insecure_uploads_without_a_ca_and_neither_setting_is_refused(
    printer: Printer, tmp_path: Path
) -> None:
    local = _file(tmp_path, 100)
    insecure = dataclasses.replace(printer.config, ca_file=None, tls_insecure=True)
    await upload_file(insecure, local, port=printer.server.port)
    assert (printer.sd / local.name).read_bytes() == local.read_bytes()

    neither = dataclasses.replace(printer.config, ca_file=None)
    with pytest.raises(FtpsUploadError) as failed:
        await upload_file(neither, local, port=printer.server.port)
    assert failed.value.reason == "tls_failed"
    assert "ca_file" in str(failed.value)


class _ImplicitWithoutSessionReuse(ImplicitFtpsClient):
    """printfleet's implicit-FTPS client with ftplib's own data connection: a fresh TLS session, not the control's."""

    def ntransfercmd(self, cmd: str, rest: int | str | None = None) -> tuple[socket.socket, int | None]:
        return ftplib.FTP_TLS.ntransfercmd(self, cmd, rest)  # noqa: S321  # FTP_TLS: TLS on its own session


def test_a_data_connection_without_session_reuse_is_refused(printer: Printer) -> None:
    context = ssl.create_default_context(cafile=printer.config.ca_file)
    context.check_hostname = False
    ftp = _ImplicitWithoutSessionReuse(context=context, timeout=10)
    ftp.connect("127.0.0.1", printer.server.port)
    ftp.login("bblp", ACCESS_CODE, secure=False)
    ftp.prot_p()
    conn = ftp.transfercmd("STOR /refused.3mf")  # the data connection's own TLS handshake succeeds ...
    conn.close()
    with pytest.raises(ftplib.error_perm, match="522"):  # ... and the printer then refuses it
        ftp.voidresp()
    ftp.close()
    assert printer.server.refused_data_connections == 1
    assert not (printer.sd / "refused.3mf").exists()


async def test_printer_leaving_the_network_mid_upload_fails_it_and_a_retry_succeeds(
    printer: Printer, tmp_path: Path
) -> None:
    local = _file(tmp_path, 16 * 1024 * 1024)
    printer.server.drop_during_upload(after_bytes=1024 * 1024, offline_s=1.0)

    with pytest.raises(FtpsUploadError) as failed:
        await upload_file(printer.config, local, port=printer.server.port, timeout_s=5)
    assert failed.value.reason == "interrupted"
    assert not (printer.sd / local.name).exists()

    with pytest.raises(FtpsUploadError) as offline:  # still off the network
        await upload_file(printer.config, local, port=printer.server.port, timeout_s=5)
    assert offline.value.reason == "unreachable"

    await asyncio.to_thread(wait_listening, printer.server)
    result = await upload_file(printer.config, local, port=printer.server.port, timeout_s=5, compute_md5=True)
    assert (printer.sd / local.name).read_bytes() == local.read_bytes()
    assert result.md5 == hashlib.md5(local.read_bytes(), usedforsecurity=False).hexdigest()


async def test_a_printer_that_accepts_but_never_answers_is_a_timeout(printer: Printer, tmp_path: Path) -> None:
    local = _file(tmp_path, 10)
    with socket.create_server(("127.0.0.1", 0)) as silent, pytest.raises(FtpsUploadError) as failed:
        # TCP connects (the backlog takes it), the TLS handshake is never answered
        await upload_file(printer.config, local, port=silent.getsockname()[1], timeout_s=0.3)
    assert failed.value.reason == "timeout"


def test_stopping_a_printer_that_is_off_the_network_keeps_it_stopped(printer: Printer) -> None:
    printer.server.go_offline(0.1)
    printer.server.stop()
    time.sleep(0.3)
    assert not printer.server.online


@pytest.mark.mosquitto
async def test_each_farm_printer_serves_ftps_with_its_own_certificate_and_code(
    mosquitto_binary: str, tmp_path: Path
) -> None:
    async with BambuFarm(2, workdir=tmp_path / "farm", mosquitto=mosquitto_binary) as farm:
        first, second = farm.printers
        local = _file(tmp_path, 64 * 1024)
        await upload_file(first.printer_config(), local, port=first.ftps_port)
        assert first.ftps is not None
        assert (first.ftps.root / local.name).read_bytes() == local.read_bytes()

        crossed = dataclasses.replace(second.printer_config(), access_code=Secret(first.access_code))
        with pytest.raises(FtpsUploadError) as failed:
            await upload_file(crossed, local, port=second.ftps_port)
        assert failed.value.reason == "auth_failed"

        going = asyncio.create_task(first.disconnect(1.0))
        await asyncio.sleep(0.2)
        with pytest.raises(FtpsUploadError) as offline:
            await upload_file(first.printer_config(), local, port=first.ftps_port)
        assert offline.value.reason == "unreachable"
        await going
        await upload_file(first.printer_config(), local, "/cache/again.3mf", port=first.ftps_port)
        assert (first.ftps.root / "cache" / "again.3mf").exists()
