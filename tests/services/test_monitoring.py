"""Monitoring: state changes are persisted once and pushed at once; telemetry is coalesced to 1/s per printer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from printfleet.domain.events import PrinterStatusUpdated
from printfleet.domain.printer import OfflineReason, PrinterConfig, PrinterKind, PrinterState, PrinterStatus, Secret
from printfleet.services.events import EventBus
from printfleet.services.monitoring import MonitoringService
from printfleet.services.ports import StatusCallback
from printfleet.store.database import Database, migrate
from printfleet.store.printers import SqlPrinterRepository


class ScriptedConnection:
    """A connection whose reports the test pushes by hand (the adapters are tested against simulators)."""

    def __init__(self, config: PrinterConfig, sink: StatusCallback) -> None:
        self.config = config
        self.sink = sink
        self.status = PrinterStatus.offline(OfflineReason.CONNECTING)

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def report(self, status: PrinterStatus) -> None:
        self.status = status
        await self.sink(self.config.id, status)

    async def pause(self) -> None: ...
    async def resume(self) -> None: ...
    async def stop(self) -> None: ...


PRINTER = PrinterConfig(
    id="p1", name="P1", kind=PrinterKind.BAMBU, host="h", serial="s", access_code=Secret("c"), tls_insecure=True
)


@pytest.fixture
async def repository(tmp_path: Path) -> AsyncIterator[SqlPrinterRepository]:
    url = f"sqlite+aiosqlite:///{tmp_path}/m.db"
    await migrate(url)
    async with Database(url) as database:
        repo = SqlPrinterRepository(database)
        await repo.add_printer(PRINTER)
        yield repo


async def run_service(repository: SqlPrinterRepository, bus: EventBus) -> tuple[MonitoringService, dict]:
    connections: dict[str, ScriptedConnection] = {}

    def factory(config: PrinterConfig, sink: StatusCallback) -> ScriptedConnection:
        connections[config.id] = ScriptedConnection(config, sink)
        return connections[config.id]

    service = MonitoringService(repository=repository, bus=bus, connection_factory=factory)
    await service.start()
    return service, connections


def printing(progress: float, nozzle: float = 220.0) -> PrinterStatus:
    return PrinterStatus(
        state=PrinterState.PRINTING,
        file_name="benchy.gcode.3mf",
        progress=progress,
        nozzle_temp=nozzle,
        last_seen=datetime.now(UTC),
    )


def drain(subscription) -> list[PrinterStatusUpdated]:  # type: ignore[no-untyped-def]
    events = []
    while subscription.pending():
        events.append(subscription._queue.get_nowait())
    return events


async def test_telemetry_is_coalesced_to_one_frame_per_second_with_the_newest_values(
    repository: SqlPrinterRepository,
) -> None:
    bus = EventBus()
    subscription = bus.subscribe()
    service, connections = await run_service(repository, bus)
    try:
        await connections["p1"].report(printing(1.0))
        for step in range(2, 40):  # 38 telemetry reports within ~0.4 s
            await connections["p1"].report(printing(float(step)))
            await asyncio.sleep(0.01)
        first = drain(subscription)
        assert [e.telemetry for e in first] == [False]  # the state change only; telemetry waits
        await asyncio.sleep(1.1)
        later = drain(subscription)
        assert len(later) == 1
        assert later[0].telemetry
        assert later[0].status.progress == 39.0
    finally:
        await service.stop()


async def test_state_change_is_persisted_once_and_not_again_after_restart(repository: SqlPrinterRepository) -> None:
    bus = EventBus()
    service, connections = await run_service(repository, bus)
    await connections["p1"].report(printing(1.0))
    await connections["p1"].report(printing(2.0, nozzle=221))
    await connections["p1"].report(printing(3.0).replace(state=PrinterState.PAUSED))
    await service.stop()
    transitions = await repository.list_transitions("p1")
    assert [(t.from_state, t.to_state) for t in transitions] == [
        (PrinterState.PRINTING, PrinterState.PAUSED),
        (None, PrinterState.PRINTING),
    ]
    assert all(t.at.tzinfo is not None for t in transitions)

    service, connections = await run_service(repository, bus)  # a restart: the printer is still paused
    await connections["p1"].report(printing(3.0).replace(state=PrinterState.PAUSED))
    await service.stop()
    assert len(await repository.list_transitions("p1")) == 2


async def test_slow_subscriber_loses_only_its_own_oldest_events() -> None:
    bus = EventBus()
    slow = bus.subscribe(maxsize=3)
    fast = bus.subscribe(maxsize=100)
    for n in range(10):
        bus.publish(PrinterStatusUpdated(printer=PRINTER, status=printing(float(n))))
    assert [e.status.progress for e in drain(slow)] == [7.0, 8.0, 9.0]
    assert slow.dropped == 7
    assert len(drain(fast)) == 10
