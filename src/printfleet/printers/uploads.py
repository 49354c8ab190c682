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

import httpx

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
