"""Alembic environment for printfleet (async engines; SQLite batch mode; PostgreSQL advisory lock).

Two ways in:

- programmatic, from :func:`printfleet.store.database.migrate`, which passes an open connection in
  ``config.attributes["connection"]``; this runs inside the caller's transaction and event loop;
- the ``alembic`` command line for developers (``alembic -c src/printfleet/store/alembic.ini revision -m ...``),
  which opens its own engine from ``sqlalchemy.url``, else ``PRINTFLEET_DATABASE_URL``, else the default URL.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection, text

from printfleet.store.database import DEFAULT_URL, create_engine
from printfleet.store.schema import metadata

# "printflt" as a 64-bit integer: the key of the advisory lock that serialises concurrent migrations.
_MIGRATION_LOCK_KEY = 0x7072696E74666C74

config = context.config
target_metadata = metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or os.environ.get("PRINTFLEET_DATABASE_URL") or DEFAULT_URL


def _run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        context.run_migrations()


async def _run_with_own_engine() -> None:
    engine = create_engine(_url(), foreign_keys=False, pooled=False)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def _run_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
elif (shared := config.attributes.get("connection")) is not None:
    _run_migrations(shared)
else:
    asyncio.run(_run_with_own_engine())
