"""The Bambu side of sending a print: the FTPS upload as a dispatch step, and which start command a file takes.

:class:`printfleet.printers.bambu.client.BambuConnection` implements :class:`PrintSender` with these; the facts are
in research dispatch-scheduling-orders.md section 1a. Step 1 uploads over implicit FTPS to the SD card's root as
``/<remote_name>``; step 2 publishes ``project_file`` (a sliced ``.gcode.3mf``) or ``gcode_file`` (plain G-code).
A Bambu printer cannot run Prusa binary G-code: ``.bgcode`` is refused before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from printfleet.domain.dispatch.sending import PrintRequest, StartRejected, Uploaded, UploadFailed
from printfleet.domain.files.model import FileKind
from printfleet.domain.printer import PrinterConfig
from printfleet.printers.bambu.commands import BambuCommands
from printfleet.printers.bambu.ftps import (
    UPLOAD_FLOOR_BYTES_PER_S,
    UPLOAD_MIN_DEADLINE_S,
    FtpsUploadError,
    upload_deadline_s,
    upload_file,
)

__all__ = ["UploadLimits", "check_sendable", "start_command", "upload"]

_REASONS = {
    "unreachable": "printer unreachable over FTPS",
    "auth_failed": "printer refused the access code over FTPS",
    "tls_failed": "FTPS certificate check failed",
    "timeout": "upload timed out",
    "refused": "printer refused the upload",
    "interrupted": "upload interrupted",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadLimits:
    """How long an upload may take: ``floor_bytes_per_s`` (bytes per second) and ``minimum_s`` give the whole
    upload's deadline from the file's size (25 KiB/s, at least 600 s; research 1a); ``timeout_s`` bounds each
    connect, command and write; ``final_reply_timeout_s`` the wait for ``226`` (H2D takes 30+ s). Seconds."""

    floor_bytes_per_s: float = UPLOAD_FLOOR_BYTES_PER_S
    minimum_s: float = UPLOAD_MIN_DEADLINE_S
    timeout_s: float = 30.0
    final_reply_timeout_s: float = 90.0


def check_sendable(printer_id: str, request: PrintRequest) -> None:
    """Refuse what a Bambu printer cannot take: ``.bgcode`` (Prusa's format) and a ``remote_name`` that is empty
    or names a folder. Raises :class:`StartRejected`."""
    if request.kind is FileKind.BGCODE:
        raise StartRejected(printer_id, "incompatible: a Bambu Lab printer cannot print Prusa binary G-code")
    name = request.remote_name
    if not name or "/" in name or "\\" in name or name in (".", "..") or any(ord(c) < 32 for c in name):
        raise StartRejected(printer_id, "the file name cannot be stored on the printer's SD card")


async def upload(config: PrinterConfig, request: PrintRequest, limits: UploadLimits) -> Uploaded:
    """Upload ``request.source`` over implicit FTPS to ``config``'s host and ``effective_ftp_port`` as
    ``/<remote_name>`` (SD root), user ``bblp``, the access code, the certificate checked as for MQTT.

    Returns :class:`Uploaded` with ``remote_path`` ``/<remote_name>`` and ``started`` False. Raises
    :class:`StartRejected` (see :func:`check_sendable`) and :class:`UploadFailed` with a short reason (the FTP reply
    or what broke; never the access code) for anything that kept the whole file from arriving: refused or timed
    out connection, 5xx, a transfer cut short (a failed final reply counts as success only when ``SIZE`` shows the
    whole file), the deadline passing.
    """
    check_sendable(config.id, request)
    remote = f"/{request.remote_name}"
    deadline = upload_deadline_s(
        request.size_bytes, floor_bytes_per_s=limits.floor_bytes_per_s, minimum_s=limits.minimum_s
    )
    try:
        result = await upload_file(
            config,
            request.source,
            remote,
            port=config.effective_ftp_port,
            timeout_s=limits.timeout_s,
            final_reply_timeout_s=limits.final_reply_timeout_s,
            deadline_s=deadline,
        )
    except FtpsUploadError as exc:
        raise UploadFailed(config.id, f"{_REASONS[exc.reason]}: {exc}") from None
    except (ValueError, OSError) as exc:  # the library's copy cannot be read, or the config is unusable
        raise UploadFailed(config.id, f"cannot upload: {type(exc).__name__}") from None
    return Uploaded(remote_path=result.remote_path)


def start_command(commands: BambuCommands, printer_id: str, request: PrintRequest, remote_path: str) -> dict[str, Any]:
    """The MQTT request that starts ``remote_path`` (a path on the SD card) for ``request``: ``project_file`` for
    a ``.gcode.3mf`` (plate ``request.plate``, ``subtask_name`` the job name, the options, fresh ids), else
    ``gcode_file`` with its absolute path. Raises :class:`StartRejected` for ``.bgcode`` or a plate below 1."""
    if request.kind is FileKind.BGCODE:
        raise StartRejected(printer_id, "incompatible: a Bambu Lab printer cannot print Prusa binary G-code")
    if request.plate < 1:
        raise StartRejected(printer_id, f"plate is 1-based, got {request.plate}")
    if request.kind is FileKind.GCODE_3MF:
        return commands.project_file(
            remote_path, plate=request.plate, subtask_name=request.job_name, options=request.options
        )
    return commands.gcode_file(remote_path)
