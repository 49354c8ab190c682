"""The database owner and the migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from printfleet.domain.printer import PrinterConfig, PrinterKind, Secret
from printfleet.store.database import Database, alembic_config, create_engine, head_revision, migrate
from printfleet.store.printers import SqlPrinterRepository
from printfleet.store.schema import metadata
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
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

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


# --- 0003: printers.poll_interval nullable (NULL follows the global monitoring_interval) ----------------------

_PRINTER_ROW = text(
    "INSERT INTO printers (id, name, kind, host, tls_insecure, poll_interval, source, created_at, updated_at)"
    " VALUES (:id, :id, :kind, 'h', false, :poll_interval, :source, :at, :at)"
)
_TRANSITION_ROW = text(
    "INSERT INTO printer_state_transitions (printer_id, to_state, at) VALUES (:printer_id, 'idle', :at)"
)
_ROWS_AT_0002 = [
    {"id": "mk4-own", "kind": "prusalink", "poll_interval": 2.5, "source": "api"},
    {"id": "mk4-default", "kind": "prusalink", "poll_interval": 5.0, "source": "api"},
    {"id": "octo-file", "kind": "octoprint", "poll_interval": 5.0, "source": "config"},
    {"id": "x1c", "kind": "bambu", "poll_interval": 5.0, "source": "api"},
]


async def _poll_intervals(database: Database) -> dict[str, float | None]:
    async with database.transaction() as session:
        rows = (await session.execute(text("SELECT id, poll_interval FROM printers ORDER BY id"))).all()
    return {str(printer_id): interval for printer_id, interval in rows}


async def _downgrade(url: str, revision: str) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    engine = create_engine(url, foreign_keys=False, pooled=False)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run)
    finally:
        await engine.dispose()


async def test_0003_upgrades_printer_rows_keeping_polled_intervals_and_clearing_bambu(empty_database_url: str) -> None:
    await migrate(empty_database_url, revision="0002")
    at = datetime(2026, 11, 1, tzinfo=UTC).replace(tzinfo=None)
    async with Database(empty_database_url) as database, database.transaction() as session:
        for row in _ROWS_AT_0002:
            await session.execute(_PRINTER_ROW, {**row, "at": at})
        await session.execute(_TRANSITION_ROW, {"printer_id": "mk4-own", "at": at})

    await migrate(empty_database_url, revision="0003")

    async with Database(empty_database_url) as database:
        assert await _version(database) == ["0003"]
        # Polled printers keep their number (a 5.0 may have been chosen); Bambu never polled, so NULL.
        assert await _poll_intervals(database) == {"mk4-default": 5.0, "mk4-own": 2.5, "octo-file": 5.0, "x1c": None}

    # The repository speaks the newest schema; what 0003 did must hold through every later migration too.
    await migrate(empty_database_url)
    async with Database(empty_database_url) as database:
        repository = SqlPrinterRepository(database)
        bambu = await repository.get_printer("x1c")
        assert bambu is not None
        assert bambu.poll_interval is None
        mk4 = await repository.get_printer("mk4-own")
        assert mk4 is not None
        await repository.update_printer(mk4.replace(poll_interval=None))  # NULL is accepted now
        assert (await _poll_intervals(database))["mk4-own"] is None
        # The rebuilt table (SQLite batch mode) kept its check constraint and the transitions' foreign key.
        assert [t.to_state.value for t in await repository.list_transitions("mk4-own")] == ["idle"]
        with pytest.raises(IntegrityError):
            async with database.transaction() as session:
                await session.execute(_PRINTER_ROW, {**_ROWS_AT_0002[0], "id": "bad", "source": "other", "at": at})
        await repository.delete_printer("mk4-own")
        assert await repository.last_transition_states() == {}  # cascaded


async def test_0003_downgrade_gives_null_intervals_the_old_default(empty_database_url: str) -> None:
    await migrate(empty_database_url)
    async with Database(empty_database_url) as database:
        repository = SqlPrinterRepository(database)
        await repository.add_printer(
            PrinterConfig(id="mk4", name="MK4", kind=PrinterKind.PRUSALINK, host="h", api_key=Secret("k"))
        )
        await repository.add_printer(
            PrinterConfig(id="mk4-fast", name="MK4", kind=PrinterKind.PRUSALINK, host="h", poll_interval=1.0)
        )

    await _downgrade(empty_database_url, "0002")

    async with Database(empty_database_url) as database:
        assert await _version(database) == ["0002"]
        assert await _poll_intervals(database) == {"mk4": 5.0, "mk4-fast": 1.0}
        with pytest.raises(IntegrityError):  # NOT NULL again
            async with database.transaction() as session:
                await session.execute(text("UPDATE printers SET poll_interval = NULL"))
    await migrate(empty_database_url)  # and up again


def test_the_newest_revision_is_found_without_alembic_as_alembic_finds_it() -> None:
    """``serve`` on a database already at the newest revision does not load Alembic (about 10 MB a process)."""
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_a_database_at_the_newest_revision_is_left_alone_without_loading_alembic(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/current.db"
    await migrate(url)
    script = (
        "import asyncio, sys\n"
        "from printfleet.store.database import migrate\n"
        f"asyncio.run(migrate({url!r}))\n"
        "print('alembic' in sys.modules)\n"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "False"
