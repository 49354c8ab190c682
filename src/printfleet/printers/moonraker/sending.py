"""Sending a print file to Moonraker: ``POST /server/files/upload`` multipart with ``print=true`` and a checksum.

Protocol facts (Moonraker docs ``docs/external_api/file_manager.md`` "File upload"; checked against Moonraker 0.11.0,
``components/application.py`` and ``components/file_manager/file_manager.py``):

- Form fields ``file`` (the content, with its file name), ``root`` (``gcodes``), ``checksum`` (SHA-256 hex of the
  content: Moonraker compares it with what it received and answers ``422`` on a mismatch, storing nothing) and
  ``print`` (``true``). The answer is ``201`` ``{"item": {"path", "root", ...}, "action": "create_file",
  "print_started": bool, "print_queued": bool}``.
- A printer that is printing or paused does not make the upload fail: the file is stored and ``print_started`` is
  false (``SD busy`` inside Moonraker). That is a refusal to start.
- ``403`` when the upload would overwrite the file being printed (the code raises ``"File is loaded, upload not
  permitted"``, but 0.11.0 answers only ``"Forbidden"``): nothing is stored. ``401`` without a trusted address or a
  valid ``X-Api-Key``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import httpx
import structlog

from printfleet.domain.dispatch.sending import PrinterBusy, PrintRequest, Uploaded, UploadFailed
from printfleet.domain.printer import Secret
from printfleet.printers.limits import short_text
from printfleet.printers.uploads import (
    CHUNK_BYTES,
    refusal,
    source_size,
    upload_deadline_s,
    upload_request,
    upload_timeouts,
)


def file_sha256(path: Path) -> str:
    """SHA-256 hex digest of the file at ``path``, read in chunks. Raises OSError."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def answer_text(content: bytes) -> str:
    """Moonraker's explanation of a refusal (``{"error": {"message": ...}}``), or the start of the body."""
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        body = None
    raw = content[:2048].decode("utf-8", errors="replace").strip()
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return short_text(body["error"].get("message")) or ""
    return short_text(raw.splitlines()[0] if raw else "") or ""


class MoonrakerUploader:
    """Uploads one file at a time to the Moonraker at ``base_url`` (``api_key`` as ``X-Api-Key`` when given), on
    a client of its own. ``timeout_s`` is the adapter's call deadline in seconds; the upload's deadline grows with
    the file (:func:`~printfleet.printers.uploads.upload_deadline_s`)."""

    def __init__(
        self, *, printer_id: str, base_url: str, api_key: Secret | None, timeout_s: float, max_response_bytes: int
    ) -> None:
        self.printer_id = printer_id
        self.base_url = base_url
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.max_response_bytes = max_response_bytes
        self.log = structlog.get_logger("printfleet.printers").bind(printer_id=printer_id, printer_kind="moonraker")

    async def upload(self, request: PrintRequest, *, start: bool, loaded_file: str | None = None) -> Uploaded:
        """Send ``request.source`` into the ``gcodes`` root as ``request.remote_name`` with its SHA-256, and
        ``print=true`` when ``start``. Returns ``Uploaded(remote_path=<item.path>, started=start)``.
        ``loaded_file`` is the file the printer is printing or paused in (its ``print_stats.filename``), if any.

        Raises UploadFailed (connection failed or timed out, checksum mismatch 422, 5xx, local file unreadable);
        PrinterBusy with ``stored=True`` when the file was stored but ``print_started`` is false, ``stored=False``
        on 403 for ``loaded_file`` (it would overwrite the file being printed); StartRejected on another 4xx (401:
        the API key).
        """
        try:
            size = source_size(request.source)
            checksum = await asyncio.to_thread(file_sha256, request.source)
            handle = request.source.open("rb")
        except OSError as exc:
            raise UploadFailed(self.printer_id, f"cannot read {request.source.name}: {exc.strerror or exc}") from exc
        fields = {"root": "gcodes", "checksum": checksum, "print": "true" if start else "false"}
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["X-Api-Key"] = self._api_key.reveal()
        self.log.info("moonraker.upload_started", file=request.remote_name, size_bytes=size)
        async with httpx.AsyncClient(
            base_url=self.base_url, timeout=upload_timeouts(self.timeout_s), headers=headers
        ) as client:
            with handle:
                answer = await upload_request(
                    client,
                    "POST",
                    "/server/files/upload",
                    printer_id=self.printer_id,
                    deadline_s=upload_deadline_s(size, self.timeout_s),
                    max_bytes=self.max_response_bytes,
                    files={"file": (request.remote_name, handle, "application/octet-stream")},
                    data=fields,
                )
        code, text = answer.status_code, answer_text(answer.content)
        self.log.info("moonraker.upload_answered", file=request.remote_name, http_status=code, detail=text or None)
        if code in (200, 201):
            path, started = _parse_answer(answer.content)
            remote_path = path or request.remote_name
            if start and not started:
                raise PrinterBusy(
                    self.printer_id,
                    f"Moonraker stored {remote_path} but did not start it (print_started false: printing or paused)",
                    stored=True,
                )
            return Uploaded(remote_path=remote_path, started=start)
        if code == 403 and loaded_file is not None and loaded_file == request.remote_name:
            raise PrinterBusy(
                self.printer_id, f"{loaded_file} is being printed; Moonraker refused to overwrite it", stored=False
            )
        if code == 422:
            raise UploadFailed(self.printer_id, f"the file arrived damaged (HTTP 422 {text})")
        raise refusal(self.printer_id, f"upload: HTTP {code} {text}".strip(), code, credentials="API key")


def _parse_answer(content: bytes) -> tuple[str | None, bool]:
    """``(item.path, print_started)`` of a 201; an unreadable body gives ``(None, False)``: a start that is not
    confirmed is not assumed."""
    try:
        body = json.loads(content)
    except ValueError:
        return None, False
    if not isinstance(body, dict):
        return None, False
    item = body.get("item")
    path = short_text(item.get("path")) if isinstance(item, dict) else None
    return path, body.get("print_started") is True
