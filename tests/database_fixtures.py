"""Database fixtures: a migrated SQLite file and a migrated PostgreSQL database, behind one parametrised URL.

Loaded for every test package by ``tests/conftest.py``:

- ``database_url``: a migrated, empty database, once per backend (``sqlite``, ``postgresql``);
- ``database``: an open :class:`~printfleet.store.database.Database` on ``database_url``;
- ``empty_database_url``: a database with no schema at all, once per backend (for migration tests);
- ``sqlite_database_url`` / ``postgres_database_url``: one backend only.

PostgreSQL comes from ``PRINTFLEET_TEST_POSTGRES_URL`` (for example
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``): the fixtures create a uniquely named database
beside the one in the URL, migrate it once per session, empty its tables before each test, and drop it at the
end. Without the variable, or when the server does not answer, the PostgreSQL tests are skipped (they fail
under ``PRINTFLEET_REQUIRE_SERVICES=1``).

The fixtures that prepare databases are synchronous and run their coroutines with ``asyncio.run``: they are
set up before the test's event loop runs, so a session-scoped database never holds connections bound to the
loop of whichever test happened to create it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from printfleet.store.database import Database, migrate
from tests.support import need_service

POSTGRES_URL_VARIABLE = "PRINTFLEET_TEST_POSTGRES_URL"
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def _render(url: str, *, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def _admin(server_url: str, *statements: str) -> None:
    """Run statements outside a transaction (CREATE/DROP DATABASE refuse to run inside one)."""
    engine = create_async_engine(
        server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"timeout": 5}
    )
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@contextmanager
def _postgres_database(server_url: str, *, migrated: bool) -> Iterator[str]:
    """A fresh database ``printfleet_test_<random>`` on the server, dropped on exit."""
    name = f"printfleet_test_{secrets.token_hex(6)}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    url = _render(server_url, database=name)
    try:
        if migrated:
            asyncio.run(migrate(url))
        yield url
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The PostgreSQL server from ``PRINTFLEET_TEST_POSTGRES_URL``, checked to answer (else skip or fail)."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    need_service(bool(url), f"{POSTGRES_URL_VARIABLE} is not set")
    assert url is not None
    try:
        asyncio.run(_admin(url, "SELECT 1"))
    except (OSError, TimeoutError, DBAPIError) as error:
        need_service(False, f"PostgreSQL at {make_url(url)} does not answer: {error}")
    return url


@pytest.fixture(scope="session")
def postgres_database_url(postgres_server_url: str) -> Iterator[str]:
    """A migrated PostgreSQL database for this test session (tables are emptied by ``database_url``)."""
    with _postgres_database(postgres_server_url, migrated=True) as url:
        yield url


def _migrated_sqlite_url(directory: Path) -> str:
    url = f"sqlite+aiosqlite:///{directory / 'printfleet.db'}"
    asyncio.run(migrate(url))
    return url


@pytest.fixture
def sqlite_database_url(tmp_path: Path) -> str:
    """A migrated SQLite file in the test's temporary directory."""
    return _migrated_sqlite_url(tmp_path)


async def _empty_postgres_tables(url: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            tables = (
                await connection.execute(
                    text(
                        "SELECT tablename FROM pg_tables"
                        " WHERE schemaname = current_schema() AND tablename <> 'alembic_version'"
                    )
                )
            ).scalars()
            names = ", ".join(f'"{table}"' for table in tables)
            if names:
                await connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await engine.dispose()


@pytest.fixture
def empty_postgres_url(postgres_database_url: str) -> str:
    """The session's PostgreSQL database with empty tables, for a test that runs on PostgreSQL only."""
    asyncio.run(_empty_postgres_tables(postgres_database_url))
    return postgres_database_url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database with empty tables, on each backend in turn."""
    if request.param == "sqlite":
        return _migrated_sqlite_url(tmp_path)
    url = str(request.getfixturevalue("postgres_database_url"))
    asyncio.run(_empty_postgres_tables(url))
    return url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """An open :class:`Database` on ``database_url``."""
    async with Database(database_url) as opened:
        yield opened


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database without any table, on each backend in turn."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    server_url = str(request.getfixturevalue("postgres_server_url"))
    with _postgres_database(server_url, migrated=False) as url:
        yield url
