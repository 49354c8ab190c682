"""Stored print files: the record of one file in the library and the list query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from printfleet.domain.files.model import FileKind, FileMetadata


@dataclass(frozen=True, slots=True, kw_only=True)
class NewPrintFile:
    """A file to record: ``sha256`` (hex) names its content on disk; ``size_bytes`` bytes; ``uploaded_by`` the
    user id (None: not known); ``created_at`` aware UTC."""

    sha256: str
    name: str
    kind: FileKind
    size_bytes: int
    metadata: FileMetadata
    uploaded_by: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PrintFile(NewPrintFile):
    """A recorded file, with its id."""

    id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FileQuery:
    """Filters of the file list: ``search`` (part of the name, case-insensitive), ``kind``, ``material`` (a filament
    type such as ``PLA``, case-insensitive); ``limit``/``offset`` page through the files, newest first."""

    search: str | None = None
    kind: FileKind | None = None
    material: str | None = None
    limit: int = 50
    offset: int = 0
