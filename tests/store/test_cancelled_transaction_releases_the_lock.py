"""A task cancelled in the middle of a SQLite statement (a service stopping, a client gone) does not leave the
file's write lock taken: the other writers of the process, and the next start of the server on the same file,
can write at once."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from printfleet.store.database import Database

# A statement that takes a few hundred milliseconds, so that the cancellation lands while SQLite runs it.
SLOW_QUERY = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 3000000) SELECT count(*) FROM c"


@pytest.fixture
def no_garbage_collection() -> Iterator[None]:
    """The garbage collector would free the interrupted statement at a moment of its own choosing, and with it
    the lock: the test is about what happens without it."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def can_write(path: Path) -> bool:
    other = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t VALUES (2)")
        other.execute("COMMIT")
        return True
    except sqlite3.OperationalError as error:
        if "locked" not in str(error):
            raise
        return False
    finally:
        other.close()


@pytest.mark.usefixtures("no_garbage_collection")
async def test_a_transaction_cancelled_mid_statement_releases_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "printfleet.db"
    async with Database(f"sqlite+aiosqlite:///{path}") as database:
        async with database.transaction() as session:
            await session.execute(text("CREATE TABLE t (x INTEGER)"))
        started = asyncio.Event()

        async def write_then_read_slowly() -> None:
            async with database.transaction() as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))
                started.set()
                await session.execute(text(SLOW_QUERY))

        task = asyncio.create_task(write_then_read_slowly())
        await started.wait()
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while not await asyncio.to_thread(can_write, path):
            assert loop.time() < deadline, "the cancelled transaction still holds the write lock"
        async with database.transaction() as session:  # the process's own writers too
            await session.execute(text("INSERT INTO t VALUES (3)"))
            rows = sorted(x for (x,) in await session.execute(text("SELECT x FROM t")))
    assert rows == [2, 3]  # the cancelled insert was rolled back, nothing else lost
