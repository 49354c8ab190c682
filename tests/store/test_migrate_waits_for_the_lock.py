"""A process starting on a SQLite file whose write lock is still taken (the last writes of a process that is
stopping) waits for it instead of failing its start."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from printfleet.store import database as store
from printfleet.store.database import Database, migrate


async def test_migrate_waits_past_the_busy_timeout_for_a_lock_that_is_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "SQLITE_BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "printfleet.db"
    url = f"sqlite+aiosqlite:///{path}"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(1.5, lambda: holder.execute("ROLLBACK"))
    release.start()
    try:
        await migrate(url)  # the lock outlasts the busy timeout fifteen times over
    finally:
        release.join()
        holder.close()
    async with Database(url) as database, database.transaction() as session:
        assert await session.scalar(text("SELECT count(*) FROM alembic_version")) == 1


async def test_migrate_gives_up_on_a_lock_that_is_never_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "SQLITE_BUSY_TIMEOUT_MS", 100)
    monkeypatch.setattr(store, "MIGRATE_LOCK_WAIT_S", 1.0)
    path = tmp_path / "printfleet.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            await asyncio.wait_for(migrate(f"sqlite+aiosqlite:///{path}"), 10)
    finally:
        holder.close()
