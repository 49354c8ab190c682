"""A store that cannot be used raises StoreUnavailable (never SQLAlchemy's error, never the statement or a secret),
and the store health notices the failure and, by probing, the recovery with no other traffic."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
import structlog
from sqlalchemy import make_url

from printfleet.domain.printer import PrinterConfig, PrinterKind, Secret
from printfleet.services.errors import StoreUnavailable
from printfleet.services.health import StoreHealth
from printfleet.store.database import Database
from printfleet.store.printers import SqlPrinterRepository
from tests.support import free_port

ACCESS_CODE = "87654321"
PRINTER = PrinterConfig(
    id="x1c-01", name="X1C", kind=PrinterKind.BAMBU, host="192.0.2.10", serial="S1", access_code=Secret(ACCESS_CODE)
)


class Errors:
    def __init__(self) -> None:
        self.counted: list[str] = []

    def store_error(self, error: str) -> None:
        self.counted.append(error)


async def test_a_write_locked_sqlite_file_is_unavailable_until_released(
    sqlite_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("printfleet.store.database.SQLITE_BUSY_TIMEOUT_MS", 100)
    errors = Errors()
    health = StoreHealth(metrics=errors, retry_initial_s=0.05, retry_max_s=0.2)
    path = make_url(sqlite_database_url).database
    assert path is not None
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.execute("BEGIN EXCLUSIVE")
        taken.set()
        release.wait(10)
        connection.execute("COMMIT")
        connection.close()

    async with Database(sqlite_database_url, observer=health) as database:
        health.probe = database.ping
        repository = SqlPrinterRepository(database)
        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert await asyncio.to_thread(taken.wait, 5)
            with structlog.testing.capture_logs() as logs, pytest.raises(StoreUnavailable) as raised:
                await repository.add_printer(PRINTER)
            assert raised.value.error == "OperationalError"
            assert raised.value.detail == "database is locked"
            assert ACCESS_CODE not in raised.value.message
            assert "INSERT" not in raised.value.message
            assert all(ACCESS_CODE not in str(entry) for entry in logs)
            [reason] = health.reasons()
            assert "store unavailable since" in reason
            assert "database is locked" in reason
            await asyncio.sleep(0.3)  # the probe keeps failing meanwhile
            assert health.failing
            assert len(errors.counted) >= 2
            assert set(errors.counted) == {"OperationalError"}
        finally:
            release.set()
            await asyncio.to_thread(holder.join, 5)
        async with asyncio.timeout(3):  # recovered by the probe alone: nothing else touches the store
            while health.failing:
                await asyncio.sleep(0.02)
        assert health.reasons() == []
        await repository.add_printer(PRINTER)
        await health.close()
    events = [entry["event"] for entry in logs]
    assert events.count("store.unavailable") == 1


@pytest.mark.postgres
async def test_a_postgresql_server_that_does_not_answer_is_unavailable() -> None:
    health = StoreHealth()
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/printfleet"  # nothing listens there
    async with Database(url, observer=health) as database:
        with pytest.raises(StoreUnavailable) as raised:
            await SqlPrinterRepository(database).list_printers()
    assert raised.value.error == "ConnectionRefusedError"
    assert health.failing
