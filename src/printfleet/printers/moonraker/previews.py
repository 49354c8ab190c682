"""The preview of the file a Klipper printer prints, as Moonraker serves it.

Moonraker reads the slicer's thumbnails out of every G-code file it stores and saves them beside it (PrusaSlicer,
SuperSlicer, OrcaSlicer, Cura with its plugin: the ``; thumbnail begin WxH LEN`` blocks); ``server.files.metadata``
(``{"filename": <path in gcodes>}``) lists them under ``thumbnails`` as ``{width, height, size, relative_path}``,
``relative_path`` relative to the G-code file's folder (``.thumbs/<name>-300x300.png``), and
``GET /server/files/gcodes/<folder>/<relative_path>`` serves each (Moonraker docs, external_api/file_manager.md:
"Get GCode Metadata", "File Download"). Metadata is extracted in the background after an upload: until it is,
the method answers an error, so a file just uploaded and started is asked again a few times.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import quote

import httpx
import structlog

from printfleet.domain.files.model import Thumbnail, image_media_type
from printfleet.domain.printer import PrinterCommandRejected, PrinterNotConnected, Secret
from printfleet.printers.base import ConnectionFailed
from printfleet.printers.moonraker.rpc import MoonrakerRpcError

PREFERRED_WIDTH = 300
"""The largest thumbnail no wider than this (pixels) is shown on a card; else the smallest there is."""
ATTEMPTS = 4
RETRY_S = 1.0
REMEMBERED = 64
"""How many files' previews a connection remembers (a printer prints one file at a time)."""

log = structlog.get_logger("printfleet.printers")


def preview_path(file_name: str, metadata: object) -> str | None:
    """Where Moonraker serves the preview of ``file_name`` (a path in ``gcodes``) given its ``metadata`` answer:
    ``gcodes/<folder>/<relative_path>`` of the thumbnail chosen (see :data:`PREFERRED_WIDTH`), or None when the
    file has none. A ``relative_path`` that leaves the folder is ignored."""
    thumbnails = metadata.get("thumbnails") if isinstance(metadata, Mapping) else None
    if not isinstance(thumbnails, list):
        return None
    usable: list[tuple[int, str]] = []
    for thumbnail in thumbnails:
        if not isinstance(thumbnail, Mapping):
            continue
        relative, width = thumbnail.get("relative_path"), thumbnail.get("width")
        if not isinstance(relative, str) or not relative or type(width) is not int:
            continue
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(file_name), relative))
        if joined.startswith(("../", "/")) or joined == "..":
            continue
        usable.append((width, joined))
    if not usable:
        return None
    fitting = [entry for entry in usable if entry[0] <= PREFERRED_WIDTH]
    _, chosen = max(fitting) if fitting else min(usable)
    return f"gcodes/{chosen}"


class MoonrakerPreviews:
    """Remembers each printed file's preview path, asking Moonraker once per file in the background.

    ``call(method, params)`` is the connection's JSON-RPC call; ``found()`` is called (awaited) when a file's preview
    became known, so the connection publishes its status again with it."""

    def __init__(
        self,
        *,
        printer_id: str,
        call: Callable[[str, Mapping[str, object]], Awaitable[object]],
        found: Callable[[], Awaitable[None]],
    ) -> None:
        self._printer_id = printer_id
        self._call = call
        self._found = found
        self._paths: dict[str, str | None] = {}
        self._task: asyncio.Task[None] | None = None

    def path(self, file_name: str) -> str | None:
        """The preview path of ``file_name`` when known; otherwise None, and Moonraker is asked (once at a time)."""
        if file_name in self._paths:
            return self._paths[file_name]
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._ask(file_name), name=f"moonraker-preview:{self._printer_id}")
        return None

    async def _ask(self, file_name: str) -> None:
        for attempt in range(ATTEMPTS):
            try:
                metadata = await self._call("server.files.metadata", {"filename": file_name})
            except MoonrakerRpcError:  # not extracted yet (a file just uploaded), or no such file
                if attempt + 1 < ATTEMPTS:
                    await asyncio.sleep(RETRY_S)
                continue
            except (ConnectionFailed, TimeoutError):
                return  # the connection went: asked again after the reconnect
            self._remember(file_name, preview_path(file_name, metadata))
            await self._found()
            return
        self._remember(file_name, None)

    def _remember(self, file_name: str, path: str | None) -> None:
        if len(self._paths) >= REMEMBERED:
            self._paths.pop(next(iter(self._paths)))
        self._paths[file_name] = path

    async def close(self) -> None:
        """Stop asking."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def fetch_preview(
    *, printer_id: str, base_url: str, api_key: Secret | None, path: str, timeout_s: float, max_bytes: int
) -> Thumbnail:
    """``GET /server/files/<path>`` (a path :func:`preview_path` gave) as a PNG or JPEG image. Raises
    PrinterNotConnected (Moonraker not reached), PrinterCommandRejected (no image there, or too large)."""
    headers = {"X-Api-Key": api_key.reveal()} if api_key else {}
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=timeout_s, headers=headers) as client:
            answer = await client.get(f"/server/files/{quote(path, safe='/')}")
    except httpx.HTTPError as exc:
        raise PrinterNotConnected(printer_id, f"preview failed: {type(exc).__name__}") from None
    if answer.status_code != 200 or len(answer.content) > max_bytes:
        raise PrinterCommandRejected(printer_id, f"preview: no image (HTTP {answer.status_code})")
    media_type = image_media_type(answer.content)
    if media_type is None:
        raise PrinterCommandRejected(printer_id, "preview: not a PNG or JPEG image")
    return Thumbnail(answer.content, media_type)
