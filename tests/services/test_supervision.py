"""A printer connection task that dies anyway is logged at ERROR and restarted; health says so meanwhile.

Adapters never end ``run()`` by design, so the crash is a bug stand-in: a scripted connection whose ``run()``
raises. The store is a real SQLite database.
"""

from __future__ import annotations

import asyncio

import structlog

from printfleet.domain.printer import PrinterConfig, PrinterState
from printfleet.services.events import EventBus
from printfleet.services.health import HealthService
from printfleet.services.monitoring import MonitoringService
from printfleet.services.ports import StatusCallback
from printfleet.store.printers import SqlPrinterRepository
from tests.services.test_monitoring import ScriptedConnection, idle, repository, settle

__all__ = ["repository"]  # the fixture


class CrashingConnection(ScriptedConnection):
    """Dies with an unexpected exception as soon as it runs."""

    async def run(self) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("an adapter bug")


class Counting:
    """MonitoringMetrics that remembers the restarts."""

    def __init__(self) -> None:
        self.restarts = 0

    def set_connected(self, kind: object, count: int) -> None:
        pass

    def connection_restarted(self, kind: object) -> None:
        self.restarts += 1


async def test_a_crashed_connection_is_logged_at_error_and_restarted(repository: SqlPrinterRepository) -> None:
    built: list[ScriptedConnection] = []

    def factory(config: PrinterConfig, sink: StatusCallback) -> ScriptedConnection:
        connection = (CrashingConnection if not built else ScriptedConnection)(config, sink)
        built.append(connection)
        return connection

    metrics = Counting()
    service = MonitoringService(repository=repository, bus=EventBus(), connection_factory=factory, metrics=metrics)
    with structlog.testing.capture_logs() as logs:
        await service.start()
        try:
            async with asyncio.timeout(5):  # the default first restart comes within 1 s
                while len(built) < 2:
                    await asyncio.sleep(0.01)
            built[1].push(idle())
            await settle(service, "p1", PrinterState.IDLE)
            async with asyncio.timeout(2):  # its state is recorded
                while not await repository.list_transitions("p1"):
                    await asyncio.sleep(0.01)
            assert service.connection("p1") is built[1]  # commands go to the new connection
            health = HealthService()
            health.add_source("printers", service.health_reasons)
            assert health.check().status == "ok"
        finally:
            await service.stop()
    crashes = [entry for entry in logs if entry["event"] == "printer.connection_crashed"]
    assert len(crashes) == 1
    assert crashes[0]["log_level"] == "error"
    assert crashes[0]["printer_id"] == "p1"
    assert crashes[0]["error"] == "RuntimeError"
    assert isinstance(crashes[0]["exc_info"], RuntimeError)  # the traceback is logged
    assert metrics.restarts == 1
    assert [t.to_state for t in await repository.list_transitions("p1")] == [PrinterState.IDLE]


async def test_health_is_degraded_while_a_crashed_connection_waits_to_restart(
    repository: SqlPrinterRepository,
) -> None:
    def factory(config: PrinterConfig, sink: StatusCallback) -> ScriptedConnection:
        return CrashingConnection(config, sink)  # crashes every time: it is never healthy for long

    service = MonitoringService(
        repository=repository, bus=EventBus(), connection_factory=factory, restart_initial_s=5, restart_max_s=5
    )
    health = HealthService()
    health.add_source("printers", service.health_reasons)
    assert health.check().status == "ok"
    await service.start()
    try:
        async with asyncio.timeout(2):
            while health.check().status == "ok":
                await asyncio.sleep(0.01)
        report = health.check()
        assert report.status == "degraded"
        assert report.reasons == ("1 printer connection(s) crashed and restarting: p1 (RuntimeError)",)
    finally:
        await service.stop()


def test_a_health_source_that_raises_is_a_reason_not_a_failed_check() -> None:
    health = HealthService()
    health.add_source("store", list)

    def broken() -> list[str]:
        raise KeyError("bot")

    health.add_source("discord bot", broken)
    health.add_source("printers", lambda: ["2 printer(s) with a state not recorded yet"])
    report = health.check()
    assert report.status == "degraded"
    assert report.reasons == (
        "the discord bot health check failed (KeyError)",
        "2 printer(s) with a state not recorded yet",
    )
