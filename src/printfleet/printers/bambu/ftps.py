"""Upload a file to a Bambu Lab printer over implicit FTPS (step 1 of starting a print).

Facts (research: dispatch-scheduling-orders.md §1a; OpenBambuAPI ``ftp.md``; bambuddy ``bambu_ftp.py``):

- ``ftps://<ip>:990``, TLS from the first byte (implicit), user ``bblp``, password = the LAN access code.
- Passive mode, ``PROT P``; the firmware's vsftpd refuses a data connection that does not resume the control
  connection's TLS session (``522 SSL connection failed: session reuse required``), so :class:`ImplicitFtpsClient`
  wraps each data socket with ``session=<control session>``.
- TLS is capped at 1.2: X1C and H2D accept nothing else, and TLS 1.3 breaks session resumption on P2S firmware.
- Data goes out in chunks over ``transfercmd("STOR …")`` (not ``storbinary``) and the final ``226`` may take 30+ s
  (H2D); when that reply fails but ``SIZE`` shows the whole file arrived (a P2S race), the upload counts as done.
  Chunks are 256 KiB (Bambuddy uses 64 KiB; TCP segments the same either way, and fewer Python-level writes keep
  the client near bare ``ftplib`` speed on a fast link, ``bench/ftps.py``).
- The whole upload has a deadline derived from the size at a pessimistic 25 KiB/s, never under 600 s
  (:func:`upload_deadline_s`; an A1 on Wi-Fi sustains ~75 KB/s, Bambuddy #2529).
- No MD5 by default: ``project_file`` accepts ``md5: ""`` (Bambuddy sends it empty on purpose), and hashing
  inline cost a measurable share of throughput on a 2-core machine (``bench/ftps.py``); ``compute_md5=True``
  hashes while sending.

The certificate is verified exactly as the MQTT connection does it (:mod:`printfleet.printers.bambu.tls`):
against ``ca_file`` with the serial as the expected name, or not at all with the explicit ``tls_insecure``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ftplib
import hashlib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import structlog

from printfleet.domain.printer import PrinterConfig, PrinterKind
from printfleet.printers.bambu.tls import insecure_context, verifying_context

__all__ = [
    "DEFAULT_FTPS_PORT",
    "UPLOAD_FLOOR_BYTES_PER_S",
    "UPLOAD_MIN_DEADLINE_S",
    "FtpsUploadError",
    "ImplicitFtpsClient",
    "UploadResult",
    "upload_deadline_s",
    "upload_file",
    "upload_file_blocking",
]

log = structlog.get_logger("printfleet.printers.bambu.ftps")

DEFAULT_FTPS_PORT = 990
USERNAME = "bblp"
CHUNK_BYTES = 256 * 1024
UPLOAD_FLOOR_BYTES_PER_S = 25 * 1024
"""The slowest link an upload is given time for (bytes per second): research 1a, Bambuddy #2529."""
UPLOAD_MIN_DEADLINE_S = 600.0
"""No upload is given less than this (seconds), however small: connecting and the final reply take time too."""

UploadFailure = Literal["unreachable", "auth_failed", "tls_failed", "timeout", "refused", "interrupted"]
"""Why an upload failed: no connection; access code refused; certificate or handshake failed; the printer stopped
answering; the printer refused the command (no SD card, full, bad path, no session reuse); the connection broke
during the transfer."""

ProgressCallback = Callable[[int], None]
"""Called from the upload thread with the total bytes sent so far, after each chunk."""


class FtpsUploadError(Exception):
    """An upload failed; ``reason`` is an :data:`UploadFailure`, ``str()`` a message without secrets."""

    def __init__(self, reason: UploadFailure, message: str) -> None:
        super().__init__(message)
        self.reason: UploadFailure = reason


@dataclass(frozen=True, slots=True)
class UploadResult:
    """A finished upload: where the file is on the printer, its size in bytes and its MD5 (hex, lower case; ``""``
    unless asked for with ``compute_md5``)."""

    remote_path: str
    size: int
    md5: str = ""


def upload_deadline_s(
    size_bytes: int,
    *,
    floor_bytes_per_s: float = UPLOAD_FLOOR_BYTES_PER_S,
    minimum_s: float = UPLOAD_MIN_DEADLINE_S,
) -> float:
    """How long (seconds) an upload of ``size_bytes`` may take in all: the size at ``floor_bytes_per_s``, at least
    ``minimum_s`` (defaults: 25 KiB/s, 600 s; research dispatch-scheduling-orders.md 1a)."""
    return max(minimum_s, size_bytes / floor_bytes_per_s)


class ImplicitFtpsClient(ftplib.FTP_TLS):
    """``ftplib.FTP_TLS`` speaking implicit FTPS with TLS-session reuse on the data connection.

    The control socket is TLS-wrapped as soon as it connects (no ``AUTH TLS``); every data socket is wrapped with
    the control connection's session, as Bambu's vsftpd requires. ``context`` decides what is verified.
    """

    def __init__(self, *, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(context=context, timeout=timeout)

    def connect(self, host: str = "", port: int = 0, timeout: float = -999, source_address: Any = None) -> str:
        """Open the TCP connection, wrap it in TLS at once, read the welcome line; returns it."""
        if host:
            self.host = host
        if port > 0:
            self.port = port
        if timeout != -999:
            self.timeout = timeout
        if source_address is not None:
            self.source_address = source_address
        raw = socket.create_connection((self.host, self.port), self.timeout, source_address=self.source_address)
        self.af = raw.family
        try:
            self.sock = self.context.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def ntransfercmd(self, cmd: str, rest: int | str | None = None) -> tuple[socket.socket, int | None]:
        """Open the data connection and wrap it in TLS resuming the control connection's session."""
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)  # noqa: S321  # wrapped in TLS just below
        if self._prot_p:  # type: ignore[attr-defined]  # FTP_TLS keeps PROT state in this private flag
            session = self.sock.session if isinstance(self.sock, ssl.SSLSocket) else None
            try:
                conn = self.context.wrap_socket(conn, server_hostname=self.host, session=session)
            except BaseException:
                conn.close()
                raise
        return conn, size


def _context(config: PrinterConfig) -> ssl.SSLContext:
    if config.ca_file:
        try:
            context = verifying_context(config.ca_file, config.serial or "")
        except (OSError, ssl.SSLError) as exc:
            raise FtpsUploadError("tls_failed", f"cannot load ca_file {config.ca_file!r}: {exc}") from None
    elif config.tls_insecure:
        log.warning("bambu.ftps.tls_insecure", printer=config.id, detail="the printer's certificate is not verified")
        context = insecure_context()
    else:
        raise FtpsUploadError(
            "tls_failed", "no ca_file configured: set ca_file to the printer CA or tls_insecure: true"
        )
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


def _classify(exc: BaseException, *, stage: str, host: str) -> FtpsUploadError:
    """Map what ftplib/ssl/socket raised at ``stage`` (connect, login, transfer) to a reason and a safe message."""
    if isinstance(exc, FtpsUploadError):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        message = exc.verify_message or str(exc)
        if "hostname mismatch" in message.lower():
            return FtpsUploadError("tls_failed", "certificate does not name the printer's serial")
        return FtpsUploadError("tls_failed", f"certificate not trusted by ca_file: {message}")
    if isinstance(exc, ssl.SSLError) and stage == "connect":
        return FtpsUploadError("tls_failed", f"TLS handshake failed: {exc.reason or exc}")
    if isinstance(exc, TimeoutError):
        return FtpsUploadError("timeout", f"no answer from {host} during {stage}")
    if isinstance(exc, ftplib.error_perm) and stage == "login":
        return FtpsUploadError("auth_failed", "printer refused the access code; check the LAN access code")
    if isinstance(exc, ftplib.Error):
        reply = str(exc).strip()
        if reply.startswith("426"):
            return FtpsUploadError("interrupted", f"printer aborted the transfer: {reply}")
        return FtpsUploadError("refused", f"printer refused the {stage}: {reply}")
    if stage == "connect":
        return FtpsUploadError("unreachable", f"cannot reach {host}: {exc or type(exc).__name__}")
    return FtpsUploadError("interrupted", f"connection lost during {stage}: {exc or type(exc).__name__}")


def upload_file_blocking(
    config: PrinterConfig,
    local_path: Path,
    remote_path: str | None = None,
    *,
    port: int = DEFAULT_FTPS_PORT,
    timeout_s: float = 30.0,
    final_reply_timeout_s: float = 90.0,
    deadline_s: float | None = None,
    compute_md5: bool = False,
    progress: ProgressCallback | None = None,
) -> UploadResult:
    """Upload ``local_path`` to the printer as ``remote_path`` (default ``/<file name>``, the SD card's root).

    ``port`` is the printer's FTPS port (990 on every printer; simulators use their own). ``timeout_s`` bounds the
    connect and each command or socket write (seconds); ``final_reply_timeout_s`` the wait for ``226`` after the
    last byte; ``deadline_s`` the whole upload (default :func:`upload_deadline_s` of the file's size).
    ``compute_md5`` fills :attr:`UploadResult.md5`. Blocking: call from a thread (see :func:`upload_file`).
    Raises :class:`FtpsUploadError` (``timeout`` also when the deadline passes), and ``ValueError`` when
    ``config`` is not a usable bambu config or ``local_path`` cannot be read.
    """
    if config.kind is not PrinterKind.BAMBU or not config.host or not config.access_code:
        raise ValueError(f"printer {config.id!r}: FTPS upload needs a bambu config with host and access_code")
    remote = remote_path or f"/{local_path.name}"
    size = local_path.stat().st_size
    host = config.host
    allowed_s = upload_deadline_s(size) if deadline_s is None else deadline_s
    deadline = time.monotonic() + allowed_s

    def within(seconds: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise FtpsUploadError("timeout", f"upload not finished within {allowed_s:.0f} s")
        return min(seconds, left)

    ftp = ImplicitFtpsClient(context=_context(config), timeout=within(timeout_s))
    stage = "connect"
    digest = hashlib.md5(usedforsecurity=False) if compute_md5 else None
    try:
        ftp.connect(host, port)
        stage = "login"
        ftp.login(USERNAME, config.access_code.reveal(), secure=False)
        stage = "setup"
        ftp.prot_p()
        ftp.voidcmd("TYPE I")
        stage = "transfer"
        sent = 0
        with local_path.open("rb") as handle:
            ftp.timeout = within(timeout_s)
            conn = ftp.transfercmd(f"STOR {remote}")
            try:
                while chunk := handle.read(CHUNK_BYTES):
                    conn.settimeout(within(timeout_s))
                    conn.sendall(chunk)
                    if digest is not None:
                        digest.update(chunk)
                    sent += len(chunk)
                    if progress is not None:
                        progress(sent)
                if isinstance(conn, ssl.SSLSocket):
                    conn.settimeout(within(timeout_s))
                    conn.unwrap()
            finally:
                conn.close()
        stage = "final reply"
        if ftp.sock is not None:
            ftp.sock.settimeout(within(final_reply_timeout_s))
        try:
            ftp.voidresp()
        except (ftplib.Error, OSError, EOFError) as exc:
            if ftp.sock is not None:
                with contextlib.suppress(OSError):
                    ftp.sock.settimeout(timeout_s)  # SIZE gets its own short wait, even past the deadline
            if not _complete_anyway(ftp, remote, size):
                raise _classify(exc, stage=stage, host=host) from None
            log.info("bambu.ftps.complete_despite_reply", printer=config.id, reply=str(exc))
        with contextlib.suppress(ftplib.Error, OSError, EOFError):
            ftp.quit()  # the upload is done; a failed goodbye changes nothing
    except (ftplib.Error, OSError, EOFError, ValueError) as exc:
        raise _classify(exc, stage=stage, host=host) from None
    finally:
        ftp.close()
    return UploadResult(remote_path=remote, size=size, md5=digest.hexdigest() if digest is not None else "")


def _complete_anyway(ftp: ftplib.FTP, remote: str, size: int) -> bool:
    """Whether ``SIZE`` shows the whole file on the printer although the final reply failed."""
    try:
        return ftp.size(remote) == size
    except (ftplib.Error, OSError, EOFError, ValueError):
        return False


async def upload_file(
    config: PrinterConfig,
    local_path: Path,
    remote_path: str | None = None,
    *,
    port: int = DEFAULT_FTPS_PORT,
    timeout_s: float = 30.0,
    final_reply_timeout_s: float = 90.0,
    deadline_s: float | None = None,
    compute_md5: bool = False,
    progress: ProgressCallback | None = None,
) -> UploadResult:
    """:func:`upload_file_blocking` in a worker thread, so the event loop keeps running during the upload.

    ``progress`` is called from that thread. Raises :class:`FtpsUploadError` (reason and safe message) or
    ``ValueError`` (unusable config or file).
    """
    return await asyncio.to_thread(
        upload_file_blocking,
        config,
        local_path,
        remote_path,
        port=port,
        timeout_s=timeout_s,
        final_reply_timeout_s=final_reply_timeout_s,
        deadline_s=deadline_s,
        compute_md5=compute_md5,
        progress=progress,
    )
