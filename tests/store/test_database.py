"""The database owner and the migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.dialects import postgresql, sqlite

from printfleet.store.database import Database, alembic_config, migrate
from printfleet.store.tables import Base
from printfleet.store.types import UTCDateTime


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def _version(database: Database) -> list[str]:
    async with database.transaction() as session:
        return list((await session.execute(text("SELECT version_num FROM alembic_version"))).scalars())


async def test_migrations_run_from_empty_and_are_idempotent(empty_database_url: str) -> None:
    await migrate(empty_database_url)
    await migrate(empty_database_url)

    async with Database(empty_database_url) as database:
        assert await _version(database) == [_head()]
        async with database.engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert {"printers", "printer_state_transitions", "settings", "alembic_version"} <= tables


async def test_migrated_schema_matches_the_tables(database: Database) -> None:
    def differences(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(sqlite_database_url: str) -> None:
    async with Database(sqlite_database_url) as database, database.engine.connect() as connection:
        assert (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 5000


async def test_relative_sqlite_path_is_created_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Also shows the migrations are found from the package, whatever the working directory.
    monkeypatch.chdir(tmp_path)

    await migrate("sqlite+aiosqlite:///data/nested/printfleet.db")

    assert (tmp_path / "data" / "nested" / "printfleet.db").is_file()


async def test_transaction_commits_on_success_and_rolls_back_on_error(database: Database) -> None:
    insert = text("INSERT INTO settings (key, value, updated_at) VALUES (:key, '1', :at)")
    at = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    async with database.transaction() as session:
        await session.execute(insert, {"key": "kept", "at": at})

    async def insert_then_fail() -> None:
        async with database.transaction() as session:
            await session.execute(insert, {"key": "lost", "at": at})
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await insert_then_fail()

    async with database.transaction() as session:
        keys = (await session.execute(text("SELECT key FROM settings"))).scalars().all()
    assert keys == ["kept"]


async def test_database_is_usable_only_while_open() -> None:
    database = Database("sqlite+aiosqlite:///:memory:")
    with pytest.raises(RuntimeError, match="not open"):
        _ = database.engine
    async with database:
        assert database.dialect_name == "sqlite"
    with pytest.raises(RuntimeError, match="not open"):
        database.session()


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "postgresql"])
def test_utc_datetime_stores_utc_and_reads_back_aware(dialect: sqlite.dialect) -> None:
    column = UTCDateTime()
    plus_two = datetime(2026, 11, 21, 14, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))

    stored = column.process_bind_param(plus_two, dialect)
    assert stored is not None
    assert stored.replace(tzinfo=UTC) == plus_two

    read = column.process_result_value(stored, dialect)
    assert read == plus_two
    assert read is not None
    assert read.tzinfo is UTC


def test_utc_datetime_refuses_naive_values() -> None:
    naive = datetime(2026, 11, 21, 12, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(naive, sqlite.dialect())
