"""The file library's records: :class:`SqlFileRepository`."""

from __future__ import annotations

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.exc import IntegrityError

from printfleet.domain.files import FileKind, FileMetadata
from printfleet.domain.files.library import FileQuery, NewPrintFile, PrintFile
from printfleet.store.database import Database
from printfleet.store.file_tables import PrintFileRow


def _record(row: PrintFileRow) -> PrintFile:
    return PrintFile(
        id=row.id,
        sha256=row.sha256,
        name=row.name,
        kind=FileKind(row.kind),
        size_bytes=row.size_bytes,
        metadata=FileMetadata.from_json(row.file_metadata or {}),
        uploaded_by=row.uploaded_by,
        created_at=row.created_at,
    )


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _conditions(query: FileQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.search:
        conditions.append(func.lower(PrintFileRow.name).like(f"%{_escape(query.search.lower())}%", escape="\\"))
    if query.kind is not None:
        conditions.append(PrintFileRow.kind == query.kind.value)
    if query.material:
        conditions.append(PrintFileRow.materials.like(f"%,{_escape(query.material.upper())},%", escape="\\"))
    return conditions


class SqlFileRepository:
    """Records print files in the ``print_files`` table (one row per content digest)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def add(self, new: NewPrintFile) -> tuple[PrintFile, bool]:
        """Record ``new``; when its ``sha256`` is recorded already, return that record. True when added."""
        row = PrintFileRow(
            sha256=new.sha256,
            name=new.name,
            kind=new.kind.value,
            size_bytes=new.size_bytes,
            materials=("," + ",".join(new.metadata.materials) + ",")[:500],
            file_metadata=new.metadata.to_json(),
            uploaded_by=new.uploaded_by,
            created_at=new.created_at,
        )
        try:
            async with self._database.transaction() as session:
                session.add(row)
                await session.flush()
                return _record(row), True
        except IntegrityError:
            existing = await self.get_by_sha256(new.sha256)
            if existing is None:
                raise
            return existing, False

    async def get(self, file_id: int) -> PrintFile | None:
        """The file with this id, or None."""
        async with self._database.transaction() as session:
            row = await session.get(PrintFileRow, file_id)
            return None if row is None else _record(row)

    async def get_by_sha256(self, sha256: str) -> PrintFile | None:
        """The file with this content digest, or None."""
        async with self._database.transaction() as session:
            row = await session.scalar(select(PrintFileRow).where(PrintFileRow.sha256 == sha256))
            return None if row is None else _record(row)

    async def list(self, query: FileQuery) -> tuple[list[PrintFile], int]:
        """A page of the files matching ``query``, newest first, and how many match in all."""
        conditions = _conditions(query)
        async with self._database.transaction() as session:
            total = await session.scalar(select(func.count()).select_from(PrintFileRow).where(*conditions))
            rows = await session.scalars(
                select(PrintFileRow)
                .where(*conditions)
                .order_by(PrintFileRow.created_at.desc(), PrintFileRow.id.desc())
                .limit(query.limit)
                .offset(query.offset)
            )
            return [_record(row) for row in rows], int(total or 0)

    async def delete(self, file_id: int) -> PrintFile | None:
        """Remove the record; the removed file, or None."""
        async with self._database.transaction() as session:
            row = await session.get(PrintFileRow, file_id)
            if row is None:
                return None
            removed = _record(row)
            await session.execute(delete(PrintFileRow).where(PrintFileRow.id == file_id))
            return removed

    async def uses_sha256(self, sha256: str) -> bool:
        """True when a record names this content."""
        return await self.get_by_sha256(sha256) is not None
