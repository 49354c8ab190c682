"""The file library: print files uploaded once, stored by content, described by their slicer metadata.

An upload arrives as an async iterator of byte chunks and is written to a temporary file in the library directory
while it is hashed (SHA-256) and counted, so it is never held whole in memory; past ``max_size`` bytes it is
refused (:class:`FileTooLarge`). The file is then read for its kind and metadata in a worker thread and moved to
``<directory>/<sha256>``; the same content uploaded again is the same library entry. Deleting an entry removes the
file once no entry uses its content any more.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Protocol

import structlog

from printfleet.domain.files import NotPrintable, ReadResult, Thumbnail, kind_from_name, read_print_file, read_thumbnail
from printfleet.domain.files.library import FileQuery, NewPrintFile, PrintFile
from printfleet.services.errors import InvalidInput, NotFound, ServiceError

log = structlog.get_logger(__name__)

DEFAULT_MAX_SIZE = 1024**3
"""``files.max_size``: 1 GiB."""
_WRITE_BATCH = 1024 * 1024


class FileTooLarge(ServiceError):
    """The upload is larger than ``files.max_size`` (HTTP 413)."""


class FileNotFound(NotFound):
    """No file has this id."""

    def __init__(self, file_id: int) -> None:
        super().__init__(f"no file with id {file_id}")
        self.file_id = file_id


class FileRepository(Protocol):
    """Where the library's records live (``printfleet.store.files`` implements it)."""

    async def add(self, new: NewPrintFile) -> tuple[PrintFile, bool]:
        """Record ``new``; when a file with its ``sha256`` exists, return that one instead. True when added."""
        ...

    async def get(self, file_id: int) -> PrintFile | None:
        """The file with this id, or None."""
        ...

    async def get_by_sha256(self, sha256: str) -> PrintFile | None:
        """The file with this content digest, or None."""
        ...

    async def list(self, query: FileQuery) -> tuple[list[PrintFile], int]:
        """A page of the files matching ``query``, newest first, and how many match in all."""
        ...

    async def delete(self, file_id: int) -> PrintFile | None:
        """Remove the record; the removed file, or None when there was none."""
        ...

    async def uses_sha256(self, sha256: str) -> bool:
        """True when a record still names this content."""
        ...


class FileLibrary:
    """Stores, lists and reads print files under ``directory`` (created on the first upload).

    ``max_size``: the largest accepted file, bytes. ``clock`` gives aware UTC times.
    """

    def __init__(
        self,
        *,
        repository: FileRepository,
        directory: Path,
        max_size: int = DEFAULT_MAX_SIZE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._repository = repository
        self.directory = directory
        self.max_size = max_size
        self._clock = clock

    async def remove_stale_uploads(self) -> int:
        """Delete the temporary files of uploads a previous run did not finish (a crash or a kill mid-upload); how
        many. Call at start-up, before uploads are accepted."""

        def remove() -> int:
            if not self.directory.is_dir():
                return 0
            stale = list(self.directory.glob(".upload-*"))
            for path in stale:
                path.unlink(missing_ok=True)
            return len(stale)

        removed = await asyncio.to_thread(remove)
        if removed:
            log.info("files.stale_uploads_removed", count=removed)
        return removed

    def path_of(self, stored: PrintFile) -> Path:
        """Where ``stored``'s content is on disk."""
        return self.directory / stored.sha256

    async def store(
        self, name: str, chunks: AsyncIterator[bytes], *, uploaded_by: int | None
    ) -> tuple[PrintFile, bool]:
        """Store the upload called ``name`` whose content ``chunks`` yields; (the library entry, True when new).

        The name is cut to its last path component, without control characters. Raises InvalidInput (422) for a
        name without a usable file name, a model or an unsliced 3MF (saying it must
        be sliced first), FileTooLarge (413) past ``max_size`` bytes. The chunks are consumed up to the refusal; a
        refused or failed upload leaves no file behind.
        """
        name = "".join(char for char in name if char >= " " and char != "\x7f")
        name = Path(name.replace("\\", "/")).name.strip()
        if not name:
            raise InvalidInput("the upload has no file name")
        if len(name) > 255:
            raise InvalidInput("the file name is longer than 255 characters")
        try:
            kind_from_name(name)
        except NotPrintable as exc:
            raise InvalidInput(exc.message) from None
        await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)
        descriptor, temp_name = tempfile.mkstemp(prefix=".upload-", dir=self.directory)
        temp = Path(temp_name)
        try:
            with os.fdopen(descriptor, "w+b") as handle:
                digest = hashlib.sha256()
                size = 0
                batch: list[bytes] = []
                batched = 0
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_size:
                        raise FileTooLarge(f"the file is larger than files.max_size ({self.max_size} bytes)")
                    batch.append(chunk)
                    batched += len(chunk)
                    if batched >= _WRITE_BATCH:
                        await asyncio.to_thread(_write, handle, digest.update, b"".join(batch))
                        batch, batched = [], 0
                if batch:
                    await asyncio.to_thread(_write, handle, digest.update, b"".join(batch))
                sha256 = digest.hexdigest()
                existing = await self._repository.get_by_sha256(sha256)
                if existing is not None:
                    return existing, False
                try:
                    result = await asyncio.to_thread(_read, name, handle)
                except NotPrintable as exc:
                    raise InvalidInput(exc.message) from None
            new = NewPrintFile(
                sha256=sha256,
                name=name,
                kind=result.kind,
                size_bytes=size,
                metadata=result.metadata,
                uploaded_by=uploaded_by,
                created_at=self._clock(),
            )
            await asyncio.to_thread(os.replace, temp, self.directory / sha256)
            stored, added = await self._repository.add(new)
            log.info("files.stored", file_id=stored.id, kind=stored.kind.value, size=size, new=added)
            return stored, added
        finally:
            await asyncio.to_thread(temp.unlink, missing_ok=True)

    async def list(self, query: FileQuery) -> tuple[list[PrintFile], int]:
        """A page of files, newest first, and how many match in all."""
        return await self._repository.list(query)

    async def get(self, file_id: int) -> PrintFile:
        """The file with this id. Raises FileNotFound."""
        stored = await self._repository.get(file_id)
        if stored is None:
            raise FileNotFound(file_id)
        return stored

    async def delete(self, file_id: int) -> PrintFile:
        """Remove the entry, and its content once no entry uses it. Raises FileNotFound."""
        removed = await self._repository.delete(file_id)
        if removed is None:
            raise FileNotFound(file_id)
        if not await self._repository.uses_sha256(removed.sha256):
            await asyncio.to_thread(self.path_of(removed).unlink, missing_ok=True)
        return removed

    async def thumbnail(self, file_id: int, plate: int) -> Thumbnail:
        """Plate ``plate``'s preview image. Raises FileNotFound (404) when the file, the plate or its preview is
        missing."""
        stored = await self.get(file_id)
        image = await asyncio.to_thread(_thumbnail, self.path_of(stored), stored, plate)
        if image is None:
            raise NotFound(f"file {file_id} has no thumbnail for plate {plate}")
        return image


def _write(handle: IO[bytes], update: Callable[[bytes], object], data: bytes) -> None:
    update(data)
    handle.write(data)


def _read(name: str, handle: IO[bytes]) -> ReadResult:
    handle.flush()
    handle.seek(0)
    return read_print_file(name, handle)


def _thumbnail(path: Path, stored: PrintFile, plate: int) -> Thumbnail | None:
    try:
        with path.open("rb") as file:
            return read_thumbnail(stored.kind, file, plate)
    except FileNotFoundError:
        return None
