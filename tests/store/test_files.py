"""The file library's records on SQLite and PostgreSQL: one row per content digest, newest first, the filters
(wildcards are plain characters), delete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from printfleet.domain.files import FilamentUse, FileKind, FileMetadata, PlateInfo
from printfleet.domain.files.library import FileQuery, NewPrintFile
from printfleet.store.database import Database
from printfleet.store.files import SqlFileRepository

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def _new(sha: str, name: str, *materials: str, minutes: int = 0, kind: FileKind = FileKind.GCODE) -> NewPrintFile:
    filaments = tuple(FilamentUse(slot=i + 1, type=material) for i, material in enumerate(materials))
    return NewPrintFile(
        sha256=sha * 64,
        name=name,
        kind=kind,
        size_bytes=5 * 1024**3,  # past 32 bits
        metadata=FileMetadata(printer_model="MK4S", plates=(PlateInfo(index=1, print_time_s=60, filaments=filaments),)),
        uploaded_by=7,
        created_at=T0 + timedelta(minutes=minutes),
    )


async def test_the_same_digest_is_one_record(database: Database) -> None:
    files = SqlFileRepository(database)

    first, added = await files.add(_new("a", "one.gcode", "PLA"))
    again, added_again = await files.add(_new("a", "other-name.gcode", "PETG", minutes=5))

    assert added
    assert not added_again
    assert again == first
    assert first.size_bytes == 5 * 1024**3
    assert first.metadata.materials == ("PLA",)
    assert first.created_at == T0
    assert await files.get(first.id) == first


async def test_list_filters_newest_first_and_delete(database: Database) -> None:
    files = SqlFileRepository(database)
    old, _ = await files.add(_new("a", "100%_hook.gcode", "PLA", minutes=0))
    mid, _ = await files.add(_new("b", "bracket.gcode.3mf", "PLA", "PETG", minutes=1, kind=FileKind.GCODE_3MF))
    new, _ = await files.add(_new("c", "HOOK_v2.bgcode", "ASA", minutes=2, kind=FileKind.BGCODE))

    async def ids(**fields: object) -> list[int]:
        page, _total = await files.list(FileQuery(**fields))  # type: ignore[arg-type]
        return [item.id for item in page]

    assert await ids() == [new.id, mid.id, old.id]
    assert await ids(search="hook") == [new.id, old.id]
    assert await ids(search="0%_") == [old.id]
    assert await ids(search="%") == [old.id]
    assert await ids(material="pla") == [mid.id, old.id]
    assert await ids(material="PL") == []
    assert await ids(kind=FileKind.BGCODE) == [new.id]
    assert (await files.list(FileQuery(limit=1, offset=1)))[0][0].id == mid.id
    assert (await files.list(FileQuery(limit=1)))[1] == 3

    removed = await files.delete(mid.id)
    assert removed == mid
    assert await files.get(mid.id) is None
    assert not await files.uses_sha256(mid.sha256)
    assert await files.uses_sha256(old.sha256)
    assert await files.delete(mid.id) is None
