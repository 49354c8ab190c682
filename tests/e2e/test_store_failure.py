"""Printers come back by themselves after the store failed, and ``/healthz`` says degraded meanwhile.

Simulated Bambu printers (each behind its own mosquitto, MQTT over TLS) report to a real printfleet server. The
store fails in two ways: SQLite write-locked by another connection (a real lock; the busy timeout is made short so
the test is fast), and a full disk, injected at the store boundary as the driver's own error on every write (on
SQLite and on PostgreSQL: a size-limited filesystem needs root). While it fails, every printer drops off the
network and comes back, and a print starts; after recovery, every printer is connected and its state recorded
within the backoff maximum, the print is exactly one job, and ``/healthz`` is ok again.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import event, make_url

from printfleet.app import Recovery
from printfleet.domain.printer import PrinterConfig, PrinterState
from printfleet.printers.bambu.client import BambuConnection
from printfleet.printers.base import Backoff
from printfleet.services.ports import PrinterConnection, StatusCallback
from printfleet.sim.bambu import BambuFarm
from printfleet.store.printers import SqlPrinterRepository
from tests.e2e.harness import Server, statuses

pytestmark = pytest.mark.usefixtures("mosquitto_binary")

RECOVERY = Recovery(store_retry_initial_s=0.1, store_retry_max_s=1.0, restart_initial_s=0.1, restart_max_s=1.0)
ADAPTER_BACKOFF_MAX_S = 1.0
RECOVERED_WITHIN_S = RECOVERY.store_retry_max_s + ADAPTER_BACKOFF_MAX_S + 3.0  # + reconnect and TLS handshake
PRINTERS = 3


def fast_adapters(config: PrinterConfig, sink: StatusCallback) -> PrinterConnection:
    """The real Bambu adapter, reconnecting within ADAPTER_BACKOFF_MAX_S and asking for the full state on each
    reconnect (an idle printer only reports changes; by default a reconnect asks at most every 10 s)."""
    return BambuConnection(
        config,
        sink=sink,
        backoff=Backoff(initial=0.2, maximum=ADAPTER_BACKOFF_MAX_S),
        reconnect_pushall_min_interval_s=0.1,
    )


@pytest.fixture
async def farm(tmp_path: Path) -> AsyncIterator[BambuFarm]:
    async with BambuFarm(PRINTERS, workdir=tmp_path / "bambu", report_interval_s=0.2, prepare_s=0.2) as bambu:
        yield bambu


async def start(database_url: str, farm: BambuFarm) -> Server:
    server = Server(database_url, farm.printer_configs(), factory=fast_adapters, recovery=RECOVERY)
    await server.start()
    await server.wait_online()
    return server


async def health(server: Server) -> tuple[int, dict[str, Any]]:
    response = await server.client.get("/healthz")
    return response.status_code, response.json()


async def wait_health(server: Server, status: str, *, timeout: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        code, body = await health(server)
        if body["status"] == status:
            assert code == (200 if status == "ok" else 503)
            return body
        if loop.time() > deadline:
            raise AssertionError(f"/healthz never became {status}: {code} {body}")
        await asyncio.sleep(0.05)


async def drop_every_printer(farm: BambuFarm, server: Server, seconds: float) -> None:
    """Every printer's broker goes down for ``seconds``; returns when every one is back and the server saw it."""
    await asyncio.gather(*(printer.disconnect(seconds) for printer in farm))


async def wait_all_live(server: Server, *, timeout: float) -> None:
    """Every printer connected (the monitoring service's view, which needs no store) within ``timeout`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        live = server.runtime.monitoring.watched()
        if all(status.state is not PrinterState.OFFLINE for _, status in live):
            return
        if loop.time() > deadline:
            raise AssertionError(f"printers not connected: {[(c.id, s.state, s.offline_reason) for c, s in live]}")
        await asyncio.sleep(0.05)


async def assert_recovered(server: Server, farm: BambuFarm, printing_id: str) -> None:
    """After recovery: every printer connected and its state recorded, one job for the print, healthz ok."""
    await wait_all_live(server, timeout=RECOVERED_WITHIN_S)
    await wait_health(server, "ok", timeout=RECOVERED_WITHIN_S)
    for printer in farm:
        body = await server.wait_printer(
            printer.printer_id, "printing" if printer.printer_id == printing_id else "idle", timeout=1
        )
        assert body["status"]["offline_reason"] is None
    repository = SqlPrinterRepository(server.runtime.database)
    for printer in farm:
        transitions = await repository.list_transitions(printer.printer_id)
        # Where the printer is now is the newest row (states it passed through while the store failed are not).
        assert transitions[0].to_state is (
            PrinterState.PRINTING if printer.printer_id == printing_id else PrinterState.IDLE
        )
        assert all(t.offline_reason != "protocol_error" for t in transitions), transitions
    jobs = await server.wait_jobs(lambda jobs: len(jobs) >= 1, timeout=RECOVERED_WITHIN_S)
    await asyncio.sleep(0.5)  # a duplicate would be created by now
    jobs = await server.jobs()
    assert statuses(jobs) == ["running"]
    assert jobs[0]["printer_id"] == printing_id


@asynccontextmanager
async def sqlite_write_lock(database_url: str) -> AsyncIterator[threading.Event]:
    """Another connection holds ``BEGIN EXCLUSIVE`` on the file until the yielded event is set. (Waited for off
    the event loop: the server in this loop may be holding the lock for a moment.)"""
    path = make_url(database_url).database
    assert path is not None
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            connection.execute("BEGIN EXCLUSIVE")
            taken.set()
            release.wait(30)
            connection.execute("COMMIT")
        finally:
            connection.close()

    holder = threading.Thread(target=hold, name="sqlite-lock-holder")
    holder.start()
    assert await asyncio.to_thread(taken.wait, 10), "could not take the write lock"
    try:
        yield release
    finally:
        release.set()
        await asyncio.to_thread(holder.join, 10)


async def test_printers_come_back_after_sqlite_was_write_locked(
    sqlite_database_url: str, farm: BambuFarm, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Locked fails fast (as at 5 s), yet not so fast that printfleet's own writers, queued behind one another on a
    # loaded machine, look like an outage.
    monkeypatch.setattr("printfleet.store.database.SQLITE_BUSY_TIMEOUT_MS", 500)
    server = await start(sqlite_database_url, farm)
    try:
        with structlog.testing.capture_logs() as logs:
            async with sqlite_write_lock(sqlite_database_url) as release:
                await drop_every_printer(farm, server, 1.0)
                await farm[0].start_print("benchy.gcode.3mf", duration_s=120)
                await wait_all_live(server, timeout=5)  # the printers reconnect while the store is still locked
                degraded = await wait_health(server, "degraded", timeout=5)
                assert any("store unavailable since" in r and "database is locked" in r for r in degraded["reasons"])
                assert any("not recorded yet" in reason for reason in degraded["reasons"])
                during = [entry["event"] for entry in logs]
                release.set()
                await assert_recovered(server, farm, farm[0].printer_id)
        events = [entry["event"] for entry in logs]
        # Once for the outage, not once per report. (After the release, printfleet's own writers catching up may
        # still wait longer than this test's shortened busy timeout now and then: a blip of its own, logged again.)
        assert during.count("store.unavailable") == 1
        assert "printer.session_crashed" not in events
        metrics = (await server.client.get("/metrics")).text
        assert 'printfleet_store_errors_total{error="OperationalError"}' in metrics
    finally:
        await server.stop()


@contextmanager
def disk_full(server: Server) -> Iterator[None]:
    """Every write fails with the driver's own "disk full" error (SQLite: OperationalError "database or disk is
    full"; PostgreSQL: asyncpg's DiskFullError reaches SQLAlchemy as its generic DBAPI error); reads work."""
    engine = server.runtime.database.engine.sync_engine
    dbapi = engine.dialect.loaded_dbapi
    if engine.dialect.name == "sqlite":
        failure: Exception = dbapi.OperationalError("database or disk is full")
    else:
        failure = dbapi.Error("could not extend file: No space left on device")

    def refuse_writes(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            raise failure

    event.listen(engine, "before_cursor_execute", refuse_writes)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", refuse_writes)


async def test_printers_come_back_after_the_disk_was_full(database_url: str, farm: BambuFarm) -> None:
    server = await start(database_url, farm)
    try:
        with disk_full(server):
            await drop_every_printer(farm, server, 1.0)
            await farm[0].start_print("benchy.gcode.3mf", duration_s=120)
            await wait_all_live(server, timeout=5)
            degraded = await wait_health(server, "degraded", timeout=5)
            assert any("not recorded yet" in reason for reason in degraded["reasons"])
            refused = await server.client.post(
                "/api/v1/jobs", json={"printer_id": farm[1].printer_id, "job_name": "bracket"}
            )
            assert refused.status_code == 503
            assert "unavailable" in refused.json()["detail"]
        await assert_recovered(server, farm, farm[0].printer_id)
    finally:
        await server.stop()
