"""Sending a print file to OctoPrint: ``POST /api/files/local`` multipart with ``select`` and ``print``.

Protocol facts (OctoPrint 1.11 ``docs/api/files.rst`` "Upload file or create folder",
``src/octoprint/server/api/files.py`` ``uploadGcodeFile``; research dispatch-scheduling-orders.md 1c):

- Form fields ``file`` (the content, with its file name), ``select`` and ``print`` (``true``). The answer is
  ``201`` with ``{"files": {"local": {"name", "path", "origin", "refs"}}, "done", "effectiveSelect",
  "effectivePrint"}``.
- A printer that is printing, paused or not operational does **not** make the upload fail: the file is stored
  and the answer is still 201, with ``effectivePrint: false``. That is a refusal to start.
- ``409`` when the upload would overwrite the file being printed (or ``noOverwrite`` is set and it exists): the
  file is not stored. ``415`` not G-code, ``400`` invalid name, ``403`` no permission.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from printfleet.domain.dispatch.sending import PrinterBusy, PrintRequest, Uploaded, UploadFailed
from printfleet.domain.printer import Secret
from printfleet.printers.limits import short_text
from printfleet.printers.polling import ApiKeyAuth, HttpAnswer
from printfleet.printers.uploads import refusal, source_size, upload_deadline_s, upload_request, upload_timeouts


@dataclass(frozen=True, slots=True)
class UploadAnswer:
    """What a 201 to an upload says: the file's ``path`` in the ``local`` storage (None when not given) and
    whether OctoPrint selected and started it."""

    path: str | None
    effective_select: bool
    effective_print: bool


def parse_upload_answer(content: bytes) -> UploadAnswer:
    """Read the body of a 201 to ``POST /api/files/local``. A body that cannot be read gives no path and
    ``effective_print`` False (a start that is not confirmed is not assumed)."""
    try:
        body = json.loads(content)
    except ValueError:
        return UploadAnswer(None, False, False)
    if not isinstance(body, dict):
        return UploadAnswer(None, False, False)
    files = body.get("files")
    local = files.get("local") if isinstance(files, dict) else None
    path = None
    if isinstance(local, dict):
        path = short_text(local.get("path")) or short_text(local.get("name"))
    return UploadAnswer(path, body.get("effectiveSelect") is True, body.get("effectivePrint") is True)


def error_text(content: bytes) -> str:
    """OctoPrint's explanation of a refusal (``{"error": ...}``, or the start of an HTML/plain body)."""
    raw = content[:2048].decode("utf-8", errors="replace").strip()
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return short_text(body["error"]) or ""
    return short_text(raw.splitlines()[0] if raw else "") or ""


class OctoPrintUploader:
    """Uploads one file at a time to the OctoPrint at ``base_url`` with ``api_key``, on a client of its own (a
    failing poll cannot close the connection under an upload). ``timeout_s`` is the adapter's request deadline
    in seconds; the upload's deadline grows with the file (:func:`~printfleet.printers.uploads.upload_deadline_s`).
    """

    def __init__(
        self, *, printer_id: str, base_url: str, api_key: Secret, timeout_s: float, max_response_bytes: int
    ) -> None:
        self.printer_id = printer_id
        self.base_url = base_url
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.max_response_bytes = max_response_bytes
        self.log = structlog.get_logger("printfleet.printers").bind(printer_id=printer_id, printer_kind="octoprint")

    async def upload(self, request: PrintRequest, *, start: bool) -> Uploaded:
        """Send ``request.source`` as ``request.remote_name`` (streamed from disk), with ``select`` and ``print``
        when ``start``. Returns ``Uploaded(remote_path=<the path OctoPrint reports>, started=start)``.

        Raises UploadFailed (connection failed or timed out, 5xx, local file unreadable); PrinterBusy with
        ``stored=True`` when the file was stored but ``effectivePrint`` is false, ``stored=False`` on 409 (it
        would overwrite the file being printed); StartRejected on another 4xx (415 not G-code, 400 bad name,
        401/403 the API key).
        """
        try:
            size = source_size(request.source)
            handle = request.source.open("rb")
        except OSError as exc:
            raise UploadFailed(self.printer_id, f"cannot read {request.source.name}: {exc.strerror or exc}") from exc
        fields = {"select": "true", "print": "true"} if start else {}
        self.log.info("octoprint.upload_started", file=request.remote_name, size_bytes=size)
        with handle:
            answer = await self._post(
                size,
                files={"file": (request.remote_name, handle, "application/octet-stream")},
                data=fields,
            )
        code, text = answer.status_code, error_text(answer.content)
        self.log.info("octoprint.upload_answered", file=request.remote_name, http_status=code, detail=text or None)
        if code in (200, 201):
            result = parse_upload_answer(answer.content)
            remote_path = result.path or request.remote_name
            if start and not result.effective_print:
                raise PrinterBusy(
                    self.printer_id,
                    f"OctoPrint stored {remote_path} but did not start it (effectivePrint false: printing, "
                    "paused or not operational)",
                    stored=True,
                )
            return Uploaded(remote_path=remote_path, started=start)
        if code == 409:
            raise PrinterBusy(self.printer_id, f"OctoPrint refused the file (HTTP 409 {text})".strip(), stored=False)
        detail = f"upload: HTTP {code} {text}".strip()
        raise refusal(self.printer_id, detail, code, credentials="API key or its permissions")

    async def _post(self, size: int, **kwargs: Any) -> HttpAnswer:
        async with httpx.AsyncClient(
            base_url=self.base_url,
            auth=ApiKeyAuth(self._api_key),
            timeout=upload_timeouts(self.timeout_s),
            headers={"Accept": "application/json"},
        ) as client:
            return await upload_request(
                client,
                "POST",
                "/api/files/local",
                printer_id=self.printer_id,
                deadline_s=upload_deadline_s(size, self.timeout_s),
                max_bytes=self.max_response_bytes,
                **kwargs,
            )
