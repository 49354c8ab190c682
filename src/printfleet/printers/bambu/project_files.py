"""Reading a print's project file back from a Bambu Lab printer over implicit FTPS, for prints printfleet did not send
(started from the printer's screen, Bambu Studio or Handy): its ``slice_info.config`` says what the printed plate uses.

Where the file is (research materials-notifications.md §2.1, after ha-bambulab's ``models.py``): a slicer's "send"
leaves ``<subtask_name>.3mf`` or ``<subtask_name>.gcode.3mf`` in ``/cache/`` (else the SD card's root); a print of a
file on the card is named by ``gcode_file``. ``Metadata/...`` paths are on a RAM drive and cannot be read. On X1, H2
and P2 printers the file appears only some seconds into the print: the caller retries. Transfers use the same
implicit-TLS client as uploads (TLS session reused on the data connection, as the firmware requires).
"""

from __future__ import annotations

import asyncio
import contextlib
import ftplib
import io
import re
import ssl

import structlog

from printfleet.domain.printer import PrinterConfig, PrinterKind
from printfleet.printers.bambu.ftps import (
    CHUNK_BYTES,
    DEFAULT_FTPS_PORT,
    USERNAME,
    FtpsUploadError,
    ImplicitFtpsClient,
    _classify,
    _context,
)

log = structlog.get_logger(__name__)

MAX_PROJECT_BYTES = 64 * 1024 * 1024
"""A project file larger than this (64 MiB) is not read (its plates' metadata is not worth the transfer)."""

_PLATE = re.compile(r"(?:^|/)Metadata/plate_(\d+)\.gcode$", re.IGNORECASE)
_SUFFIXES = (".gcode.3mf", ".3mf", ".gcode")


def _bare(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    for suffix in _SUFFIXES:
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return base


def project_candidates(subtask_name: str | None, gcode_file: str | None) -> list[str]:
    """The paths to try, in order: ``/cache/<subtask>.3mf``, ``/cache/<subtask>.gcode.3mf``, the same in the root,
    then ``gcode_file`` itself (in ``/cache/`` and the root) when it names a ``.3mf``; each path once, none from a
    name holding a path separator or ``..``."""
    names: list[str] = []
    for name in (subtask_name, _bare(gcode_file) if gcode_file and not _PLATE.search(gcode_file) else None):
        if name and "/" not in name and "\\" not in name and ".." not in name and name.strip():
            names += [f"{name}.3mf", f"{name}.gcode.3mf"]
    if gcode_file and gcode_file.lower().endswith(".3mf"):
        base = gcode_file.rsplit("/", 1)[-1]
        if ".." not in base:
            names.append(base)
    paths: list[str] = []
    for name in names:
        for folder in ("/cache/", "/"):
            if folder + name not in paths:
                paths.append(folder + name)
    return paths


def printed_plate(gcode_file: str | None) -> int:
    """The plate a print is printing: ``N`` of ``Metadata/plate_N.gcode`` in ``gcode_file``, else 1."""
    found = _PLATE.search(gcode_file or "")
    return int(found.group(1)) if found else 1


def fetch_project_blocking(
    config: PrinterConfig,
    candidates: list[str],
    *,
    port: int = DEFAULT_FTPS_PORT,
    timeout_s: float = 20.0,
    max_bytes: int = MAX_PROJECT_BYTES,
) -> tuple[str, bytes] | None:
    """The first of ``candidates`` the printer has, (path, content), or None when it has none of them (or only
    larger than ``max_bytes``). Blocking: call from a thread (:func:`fetch_project`). Raises
    :class:`~printfleet.printers.bambu.ftps.FtpsUploadError` (reason and a message without the access code) when the
    printer cannot be reached or refuses, ``ValueError`` for a config that is not a Bambu printer's."""
    if config.kind is not PrinterKind.BAMBU or not config.host or not config.access_code:
        raise ValueError(f"printer {config.id!r}: FTPS needs a bambu config with host and access_code")
    ftp = ImplicitFtpsClient(context=_context(config), timeout=timeout_s)
    stage = "connect"
    try:
        ftp.connect(config.host, port)
        stage = "login"
        ftp.login(USERNAME, config.access_code.reveal(), secure=False)
        stage = "setup"
        ftp.prot_p()
        ftp.voidcmd("TYPE I")
        stage = "download"
        for path in candidates:
            try:
                size = ftp.size(path)
            except ftplib.error_perm:  # 550: not there
                continue
            if size is not None and size > max_bytes:
                log.info("bambu.project_file_too_large", printer=config.id, path=path, size=size)
                continue
            buffer = io.BytesIO()
            with ftp.transfercmd(f"RETR {path}") as conn:
                while chunk := conn.recv(CHUNK_BYTES):
                    buffer.write(chunk)
                    if buffer.tell() > max_bytes:
                        raise FtpsUploadError("refused", f"{path} is larger than {max_bytes} bytes")
                if isinstance(conn, ssl.SSLSocket):
                    with contextlib.suppress(OSError, ssl.SSLError):
                        conn.unwrap()
            ftp.voidresp()
            with contextlib.suppress(ftplib.Error, OSError, EOFError):
                ftp.quit()
            return path, buffer.getvalue()
        with contextlib.suppress(ftplib.Error, OSError, EOFError):
            ftp.quit()
        return None
    except (ftplib.Error, OSError, EOFError, ValueError) as exc:
        raise _classify(exc, stage=stage, host=config.host) from None
    finally:
        ftp.close()


async def fetch_project(
    config: PrinterConfig, candidates: list[str], *, port: int = DEFAULT_FTPS_PORT, timeout_s: float = 20.0
) -> tuple[str, bytes] | None:
    """:func:`fetch_project_blocking` in a worker thread."""
    return await asyncio.to_thread(fetch_project_blocking, config, candidates, port=port, timeout_s=timeout_s)
