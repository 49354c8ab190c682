"""Print files: the accepted kinds, their metadata, and the readers that take it from the file itself.

:func:`read_print_file` is the one entry point: it names the kind from the file name and content, refuses what a
printer cannot run (:class:`NotPrintable`), and never fails on a damaged file (the metadata is then empty with a
warning). Readers take an open binary file object; they never open paths.
"""

from __future__ import annotations

import zipfile
from typing import IO

from printfleet.domain.files.bgcode import read_bgcode, thumbnail_bgcode
from printfleet.domain.files.gcode import read_gcode, thumbnail_gcode
from printfleet.domain.files.model import (
    FilamentUse,
    FileKind,
    FileMetadata,
    NotPrintable,
    PlateInfo,
    ReadResult,
    Thumbnail,
)
from printfleet.domain.files.threemf import NOT_SLICED, read_3mf, sliced_plates, thumbnail_3mf

__all__ = [
    "FilamentUse",
    "FileKind",
    "FileMetadata",
    "NotPrintable",
    "PlateInfo",
    "ReadResult",
    "Thumbnail",
    "kind_from_name",
    "read_print_file",
    "read_thumbnail",
]

_GCODE_SUFFIXES = (".gcode", ".gco", ".g")
_MODEL_SUFFIXES = (".stl", ".obj", ".step", ".stp", ".amf", ".ply")
MODEL_REFUSAL = (
    "this is a 3D model, not a print: slice it first and upload the sliced file (.gcode.3mf, .gcode or .bgcode)"
)
UNKNOWN_REFUSAL = "unknown file type: upload a sliced .gcode.3mf, .gcode or .bgcode file"


def kind_from_name(name: str) -> FileKind:
    """The kind a file named ``name`` claims to be (case-insensitive). A plain ``.3mf`` counts as ``gcode_3mf``
    (its content decides). Raises NotPrintable for a model (``.stl``, ...) or an unknown extension."""
    lower = name.strip().lower()
    if lower.endswith(".3mf"):
        return FileKind.GCODE_3MF
    if lower.endswith(".bgcode"):
        return FileKind.BGCODE
    if lower.endswith(_GCODE_SUFFIXES):
        return FileKind.GCODE
    if lower.endswith(_MODEL_SUFFIXES):
        raise NotPrintable(MODEL_REFUSAL)
    raise NotPrintable(UNKNOWN_REFUSAL)


def read_print_file(name: str, file: IO[bytes]) -> ReadResult:
    """The kind and metadata of the file called ``name`` whose content is the seekable binary ``file``.

    Raises NotPrintable for a model, an unknown extension, or a 3MF without sliced plates (a plain ``.3mf`` that
    is not a readable ZIP is refused too; a ``.gcode.3mf`` that is not is accepted with a warning).
    """
    kind = kind_from_name(name)
    if kind is FileKind.GCODE_3MF:
        if not name.strip().lower().endswith(".gcode.3mf"):
            try:
                with zipfile.ZipFile(file) as archive:
                    if not sliced_plates(archive):
                        raise NotPrintable(NOT_SLICED)
            except (zipfile.BadZipFile, OSError, ValueError):
                raise NotPrintable(NOT_SLICED) from None
        file.seek(0)
        return ReadResult(kind=kind, metadata=read_3mf(file))
    if kind is FileKind.BGCODE:
        return ReadResult(kind=kind, metadata=read_bgcode(file))
    return ReadResult(kind=kind, metadata=read_gcode(file))


def read_thumbnail(kind: FileKind, file: IO[bytes], plate: int) -> Thumbnail | None:
    """Plate ``plate``'s preview image in the ``kind`` file ``file`` (G-code files have plate 1 only), or None."""
    if kind is FileKind.GCODE_3MF:
        return thumbnail_3mf(file, plate)
    if plate != 1:
        return None
    if kind is FileKind.BGCODE:
        return thumbnail_bgcode(file)
    return thumbnail_gcode(file)
