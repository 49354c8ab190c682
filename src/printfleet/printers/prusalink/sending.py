"""Reading PrusaLink's answers to an upload and a file start. Pure: no I/O.

Sources: Prusa-Link-Web ``spec/openapi.yaml`` (``PUT``/``POST /api/v1/files/{storage}/{path}``, the ``Error``
body), prusa3d/Prusa-Link ``prusa/link/web/files.py`` and ``conditions.py``, Prusa-Firmware-Buddy issues 2686
and 2943; research dispatch-scheduling-orders.md 1b.

A 409 to an upload has two meanings. Refused **before** the file was stored: ``File already exists`` (no
``Overwrite: ?1``; printfleet always sends it), ``Already in transfer process`` (another upload is running,
Buddy's ``TransferConflict``), ``File is busy`` (the file to overwrite is being printed or shown in the print
preview). Refused **after** it was stored: the printer could not start it (``Not in state to print`` on
Prusa-Link, a print already running). :func:`refused_before_storing` tells them apart by those words; a 409
without any of them to an upload that asked to print counts as stored, since the printers store the file
before trying the start.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import quote

from printfleet.printers.limits import short_text
from printfleet.printers.prusalink.protocol import parse_storage

DEFAULT_STORAGE = "usb"
"""The storage to upload to when the printer does not say: Buddy firmware's USB drive."""

_BEFORE_STORING = ("exist", "transfer", "file is busy", "file busy")


def writable_storage(status_body: Mapping[str, object]) -> str | None:
    """The name to use in ``/api/v1/files/{storage}/...`` for the first storage ``/api/v1/status`` reports as
    writable: ``usb`` for Buddy's ``{"path": "/usb/"}``, ``local`` for the Pi's ``[{"path": "/local"}, ...]``.
    None when it reports none."""
    for storage in parse_storage(status_body.get("storage")):
        name = storage.path.strip("/")
        if name and not storage.read_only and "/" not in name:
            return name
    return None


def storage_of_path(path: str | None) -> str | None:
    """The storage named by a status ``extra["storage"]`` or a file path (``/usb/`` → ``usb``), else None."""
    if not path:
        return None
    name = path.strip("/").partition("/")[0]
    return name or None


def files_url(storage: str, path: str) -> str:
    """``/api/v1/files/{storage}/{path}`` with both parts percent-encoded (``path`` keeps its slashes)."""
    return f"/api/v1/files/{quote(storage, safe='')}/{quote(path.lstrip('/'), safe='/~')}"


def error_text(content: bytes) -> str:
    """The printer's explanation of a refusal: ``title: text`` of a JSON ``Error`` body, else the plain-text
    body; cut to a short line, empty when there is none."""
    raw = content[:2048].decode("utf-8", errors="replace").strip()
    try:
        body = json.loads(raw)
    except ValueError:
        return short_text(raw.splitlines()[0] if raw else "") or ""
    if isinstance(body, dict):
        parts = [body.get("title"), body.get("text")]
        return short_text(": ".join(p for p in parts if isinstance(p, str) and p)) or ""
    return short_text(raw) or ""


def refused_before_storing(text: str) -> bool:
    """True when a 409's text says the upload was refused before the file was stored (see the module text)."""
    lower = text.lower()
    return any(marker in lower for marker in _BEFORE_STORING)
