"""What the HTTP adapters (PrusaLink, OctoPrint) share to send a print file: a body streamed from disk, and
deadlines sized for the file.

A print file can be hundreds of megabytes and a printer's Wi-Fi slow (Buddy firmware over its ESP Wi-Fi module
takes uploads at tens of kB/s), so an upload is never read whole into memory and never held to the 10 s deadline
of a status poll.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from printfleet.domain.dispatch.sending import StartRejected, UploadFailed
from printfleet.printers.polling import HttpAnswer, ResponseTooLarge, bounded_request

UPLOAD_MIN_RATE_BPS = 20_000
"""Slowest upload rate, in bytes per second, that still counts as progress when sizing an upload's deadline
(Buddy firmware over Wi-Fi is the slow end)."""

UPLOAD_ANSWER_S = 60.0
"""Seconds a printer may take to answer once the whole file is sent (Prusa-Link syncs the file to disk and
starts the print before answering)."""

CHUNK_BYTES = 256 * 1024
"""Bytes read from disk and written to the socket at a time."""


class SourceChanged(Exception):
    """The file on disk ended before the length announced in ``Content-Length`` (it changed during the upload)."""


class FileBody:
    """An upload body read from ``path`` in chunks of :data:`CHUNK_BYTES`, exactly ``size`` bytes.

    Unlike a generator, it can be iterated again (each iteration reopens the file), so an HTTP Digest
    re-challenge (a stale nonce answered with 401) can resend the request. Disk reads run in a worker thread.
    Raises :class:`SourceChanged` when the file is shorter than ``size``, and OSError when it cannot be read.
    """

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size
        self.sent = 0
        """Bytes handed to the connection by the latest iteration."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.sent = 0
        handle = await asyncio.to_thread(self.path.open, "rb")
        try:
            while self.sent < self.size:
                chunk = await asyncio.to_thread(handle.read, min(CHUNK_BYTES, self.size - self.sent))
                if not chunk:
                    raise SourceChanged(f"{self.path.name} is shorter than {self.size} bytes")
                self.sent += len(chunk)
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)


def upload_deadline_s(size_bytes: int, timeout_s: float) -> float:
    """Seconds allowed for a whole upload of ``size_bytes`` bytes: connecting and the printer's first answer
    (``timeout_s``), the body at :data:`UPLOAD_MIN_RATE_BPS`, and :data:`UPLOAD_ANSWER_S` for the answer."""
    return timeout_s + max(0, size_bytes) / UPLOAD_MIN_RATE_BPS + UPLOAD_ANSWER_S


def upload_timeouts(timeout_s: float) -> httpx.Timeout:
    """httpx's per-phase timeouts for an upload: connecting gets half of ``timeout_s`` (as a poll), one write
    may stall ``timeout_s`` seconds, and the answer after the body may take :data:`UPLOAD_ANSWER_S`."""
    return httpx.Timeout(connect=timeout_s / 2, write=timeout_s, read=max(timeout_s, UPLOAD_ANSWER_S), pool=timeout_s)


def source_size(path: Path) -> int:
    """The size in bytes of the file to upload. Raises OSError when it is missing or unreadable."""
    return path.stat().st_size


async def upload_request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    printer_id: str,
    deadline_s: float,
    max_bytes: int,
    **kwargs: Any,
) -> HttpAnswer:
    """One request of an upload through :func:`~printfleet.printers.polling.bounded_request` (``kwargs`` go to
    it), every way it can fail on the wire turned into UploadFailed: no whole answer within ``deadline_s``
    seconds, a connection refused or broken, an answer over ``max_bytes``, the local file unreadable or changed."""
    try:
        return await bounded_request(client, method, url, deadline_s=deadline_s, max_bytes=max_bytes, **kwargs)
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise UploadFailed(printer_id, f"no answer to {method} within {deadline_s:.0f} s") from exc
    except httpx.TransportError as exc:
        raise UploadFailed(printer_id, f"connection failed during {method} ({type(exc).__name__})") from exc
    except ResponseTooLarge as exc:
        raise UploadFailed(printer_id, f"answer to {method}: {exc}") from exc
    except SourceChanged as exc:
        raise UploadFailed(printer_id, str(exc)) from exc
    except OSError as exc:  # reading the local file (socket errors come wrapped by httpx)
        raise UploadFailed(printer_id, f"cannot read the file: {exc.strerror or exc}") from exc


def refusal(printer_id: str, detail: str, code: int, *, credentials: str) -> UploadFailed | StartRejected:
    """The error for an answer to an upload that is neither a success nor a 409 (each adapter reads its 409s):
    StartRejected for a 4xx that waiting will not fix (401/403 say ``credentials`` were rejected), UploadFailed
    for 408, 429, 5xx and anything else (it may work next time). ``detail`` names the request and the answer."""
    if code in (401, 403):
        return StartRejected(printer_id, f"the printer rejected the {credentials} ({detail})")
    if 400 <= code < 500 and code not in (408, 429):
        return StartRejected(printer_id, detail)
    return UploadFailed(printer_id, detail)
