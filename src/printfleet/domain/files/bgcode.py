"""Prusa binary G-code (``.bgcode``), after libbgcode's ``doc/specifications.md``.

File header: ``GCDE``, version (u32), checksum type (u16: 0 none, 1 CRC32). Then blocks, each: type (u16: 0 file
metadata, 1 G-code, 2 slicer metadata, 3 printer metadata, 4 print metadata, 5 thumbnail), compression (u16: 0
none, 1 deflate, 2/3 heatshrink), uncompressed size (u32), compressed size (u32, only when compressed);
parameters (u16 encoding for metadata, u16 format + u16 width + u16 height for a thumbnail); the data; a CRC32
when the file has checksums. Metadata blocks are ``key=value`` lines. Reading stops at the first G-code block;
heatshrink-compressed metadata is skipped with a warning. All integers are little-endian.
"""

from __future__ import annotations

import struct
import zlib
from typing import IO

from printfleet.domain.files.gcode import single_plate
from printfleet.domain.files.model import FileMetadata, Thumbnail

MAGIC = b"GCDE"
FILE_METADATA, GCODE, SLICER_METADATA, PRINTER_METADATA, PRINT_METADATA, THUMBNAIL = range(6)
_MAX_BLOCK = 16 * 1024 * 1024
_THUMB_TYPES = {0: "image/png", 1: "image/jpeg"}


class _Broken(Exception):
    pass


def _blocks(file: IO[bytes]) -> list[tuple[int, bytes, bytes]]:
    """(type, parameters, uncompressed data) of each block before the first G-code block."""
    file.seek(0)
    header = file.read(10)
    if len(header) < 10 or header[:4] != MAGIC:
        raise _Broken("not a binary G-code file (no GCDE header)")
    (checksum_type,) = struct.unpack_from("<H", header, 8)
    checksum_size = 4 if checksum_type == 1 else 0
    blocks: list[tuple[int, bytes, bytes]] = []
    while True:
        head = file.read(8)
        if len(head) < 8:
            return blocks
        block_type, compression, size = struct.unpack("<HHI", head)
        if block_type == GCODE:
            return blocks
        stored = size
        if compression != 0:
            raw = file.read(4)
            if len(raw) < 4:
                raise _Broken("truncated block header")
            (stored,) = struct.unpack("<I", raw)
        params = file.read(6 if block_type == THUMBNAIL else 2)
        if stored > _MAX_BLOCK or size > _MAX_BLOCK:
            raise _Broken("block too large for metadata")
        data = file.read(stored)
        if len(data) < stored:
            raise _Broken("truncated block")
        file.seek(checksum_size, 1)
        if compression == 1:
            try:
                data = zlib.decompress(data)
            except zlib.error as exc:
                raise _Broken(f"bad deflate block: {exc}") from None
        elif compression != 0:
            blocks.append((block_type, params, b""))  # heatshrink: not decoded
            continue
        blocks.append((block_type, params, data))


def read_bgcode(file: IO[bytes]) -> FileMetadata:
    """The metadata of the binary G-code in the seekable ``file``: the file, printer, print and slicer metadata
    blocks merged (print metadata first). A broken file gives empty metadata with a warning."""
    try:
        blocks = _blocks(file)
    except (_Broken, struct.error, OSError) as exc:
        return FileMetadata(warnings=(f"the binary G-code could not be read: {exc}",))
    keys: dict[str, str] = {}
    warnings: list[str] = []
    order = {PRINT_METADATA: 0, PRINTER_METADATA: 1, FILE_METADATA: 2, SLICER_METADATA: 3}
    has_thumbnail = False
    for block_type, params, data in sorted(blocks, key=lambda block: order.get(block[0], 9)):
        if block_type == THUMBNAIL:
            has_thumbnail = has_thumbnail or (len(params) == 6 and params[0] in _THUMB_TYPES)
            continue
        if not data:
            warnings.append(f"metadata block {block_type} uses a compression printfleet does not read")
            continue
        for line in data.decode("utf-8", errors="replace").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                keys.setdefault(key.strip(), value.strip())
    slicer = keys.get("Producer") or keys.get("producer")
    return single_plate(keys, slicer=slicer, has_thumbnail=has_thumbnail, warnings=tuple(warnings))


def thumbnail_bgcode(file: IO[bytes]) -> Thumbnail | None:
    """The largest PNG or JPEG thumbnail block of the binary G-code ``file``, or None."""
    try:
        blocks = _blocks(file)
    except (_Broken, struct.error, OSError):
        return None
    best: tuple[int, Thumbnail] | None = None
    for block_type, params, data in blocks:
        if block_type != THUMBNAIL or len(params) != 6 or not data:
            continue
        image_format, width, height = struct.unpack("<HHH", params)
        media_type = _THUMB_TYPES.get(image_format)
        if media_type is not None and (best is None or width * height > best[0]):
            best = (width * height, Thumbnail(data, media_type))
    return best[1] if best else None
