"""Monitoring: state changes are persisted once and pushed at once; telemetry is coalesced to 1/s per printer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from printfleet.domain.events import PrinterStatusUpdated
from printfleet.domain.printer import (
    DEFAULT_POLL_INTERVAL_S,
    OfflineReason,
    PrinterConfig,
    PrinterKind,
    PrinterState,
    PrinterStatus,
    Secret,
)
from printfleet.services.errors import StaleOwner
from printfleet.services.events import EventBus
from printfleet.services.monitoring import MonitoringService
from printfleet.services.ports import StatusCallback
from printfleet.store.database import Database, migrate
from printfleet.store.printers import SqlPrinterRepository


class ScriptedConnection:
    """A connection whose reports the test pushes by hand (the adapters are tested against simulators).

    :meth:`report` calls the sink from the test's task; :meth:`push` has the connection's own ``run()`` task
    deliver it, as an adapter does (so cancelling the connection interrupts the handling of its report).
    """

    def __init__(self, config: PrinterConfig, sink: StatusCallback) -> None:
        self.config = config
        self.sink = sink
        self.status = PrinterStatus.offline(OfflineReason.CONNECTING)
        self.queue: asyncio.Queue[PrinterStatus] = asyncio.Queue()
        self.cancelled = False

    async def run(self) -> None:
        try:
            while True:
                await self.report(await self.queue.get())
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    def push(self, status: PrinterStatus) -> None:
        self.queue.put_nowait(status)

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


# --- poll intervals: a polled printer without its own follows the global setting ------------------------------


def polled(printer_id: str, poll_interval: float | None = None) -> PrinterConfig:
    return PrinterConfig(
        id=printer_id,
        name=printer_id,
        kind=PrinterKind.PRUSALINK,
        host="h",
        api_key=Secret("k"),
        poll_interval=poll_interval,
    )


def idle() -> PrinterStatus:
    return PrinterStatus(state=PrinterState.IDLE, nozzle_temp=24.0, last_seen=datetime.now(UTC))


class Built:
    """A factory that keeps every connection it built, per printer, in order."""

    def __init__(self) -> None:
        self.connections: dict[str, list[ScriptedConnection]] = {}

    def __call__(self, config: PrinterConfig, sink: StatusCallback) -> ScriptedConnection:
        connection = ScriptedConnection(config, sink)
        self.connections.setdefault(config.id, []).append(connection)
        return connection

    def last(self, printer_id: str) -> ScriptedConnection:
        return self.connections[printer_id][-1]


async def settle(service: MonitoringService, printer_id: str, state: PrinterState) -> None:
    async with asyncio.timeout(2):
        while (current := service.status(printer_id)) is None or current.state is not state:
            await asyncio.sleep(0.005)


async def test_connections_get_the_effective_interval_and_the_service_keeps_the_printers_own(
    repository: SqlPrinterRepository,
) -> None:
    await repository.add_printer(polled("mk4"))
    await repository.add_printer(polled("mk4-own", 2.0))
    interval = 7.5
    built = Built()
    service = MonitoringService(
        repository=repository, bus=EventBus(), connection_factory=built, default_poll_interval=lambda: interval
    )
    await service.start()
    try:
        assert built.last("mk4").config.poll_interval == 7.5  # follows the global setting
        assert built.last("mk4-own").config.poll_interval == 2.0  # its own
        assert built.last("p1").config.poll_interval is None  # Bambu pushes: nothing to fill in
        assert {config.id: config.poll_interval for config, _ in service.watched()} == {
            "mk4": None,  # what the API shows: "follows the global setting"
            "mk4-own": 2.0,
            "p1": None,
        }
        probe = await service.probe(polled("other"), timeout=0.05)  # a connection test polls at it too
        assert probe.offline_reason is OfflineReason.TIMEOUT
        assert built.last("other").config.poll_interval == 7.5
    finally:
        await service.stop()

    default = MonitoringService(repository=repository, bus=EventBus(), connection_factory=Built())
    default.watch(polled("x"))
    try:
        assert default.connection("x").config.poll_interval == DEFAULT_POLL_INTERVAL_S  # type: ignore[union-attr]
    finally:
        await default.stop()


async def test_a_new_global_interval_reconnects_only_the_followers_keeping_their_status(
    repository: SqlPrinterRepository,
) -> None:
    await repository.add_printer(polled("mk4"))
    await repository.add_printer(polled("mk4-own", 2.0))
    interval = 5.0
    bus = EventBus()
    built = Built()
    service = MonitoringService(
        repository=repository, bus=bus, connection_factory=built, default_poll_interval=lambda: interval
    )
    await service.start()
    try:
        built.last("mk4").push(idle())
        await settle(service, "mk4", PrinterState.IDLE)
        # What a reconnect carries over is the last *settled* status: wait until the report was fully handled
        # (its transition row written), not only seen; on a busy machine the write can lag behind.
        async with asyncio.timeout(5):
            while service._watched["mk4"].settled.state is not PrinterState.IDLE:
                await asyncio.sleep(0.005)
        assert await service.apply_default_poll_interval() == []  # nothing changed: nothing to do

        interval = 0.5
        events = bus.subscribe()
        assert await service.apply_default_poll_interval() == ["mk4"]

        first, second = built.connections["mk4"]
        assert first.cancelled
        assert second.config.poll_interval == 0.5
        assert second.config.id == "mk4"
        assert [len(built.connections[i]) for i in ("mk4-own", "p1")] == [1, 1]  # own interval, pushed: untouched
        assert [t.get_name() for t in asyncio.all_tasks()].count("printer:mk4") == 1
        assert service.status("mk4").state is PrinterState.IDLE  # type: ignore[union-attr]  # no "connecting"
        assert service.watched()[0][0].poll_interval is None  # still follows the global setting

        second.push(idle())  # the new connection's first poll finds the printer as it was
        second.push(printing(1.0))
        await settle(service, "mk4", PrinterState.PRINTING)
        assert [(t.from_state, t.to_state) for t in await repository.list_transitions("mk4")] == [
            (PrinterState.IDLE, PrinterState.PRINTING),
            (None, PrinterState.IDLE),  # once: the reconnect wrote no second row
        ]
        assert [e.status.state for e in drain(events) if not e.telemetry] == [PrinterState.PRINTING]
        events.close()
        assert await service.apply_default_poll_interval() == []
    finally:
        await service.stop()


async def test_a_report_cut_short_by_the_reconnect_is_handled_again_without_a_second_row(
    repository: SqlPrinterRepository,
) -> None:
    await repository.add_printer(polled("mk4"))
    interval = 5.0
    built = Built()
    service = MonitoringService(
        repository=repository, bus=EventBus(), connection_factory=built, default_poll_interval=lambda: interval
    )
    seen: list[tuple[PrinterState | None, PrinterState]] = []
    entered, release = asyncio.Event(), asyncio.Event()

    async def job_tracker(_config: PrinterConfig, previous: PrinterStatus | None, current: PrinterStatus) -> None:
        seen.append((previous.state if previous else None, current.state))
        if current.state is PrinterState.PRINTING:
            entered.set()
            await release.wait()  # slow: still handling the print start when the interval changes

    service.add_listener(job_tracker)
    await service.start()
    try:
        built.last("mk4").push(idle())
        await settle(service, "mk4", PrinterState.IDLE)
        built.last("mk4").push(printing(1.0))
        await asyncio.wait_for(entered.wait(), 2)

        interval = 1.0
        assert await service.apply_default_poll_interval() == ["mk4"]  # cancels the listener half way
        assert service.status("mk4").state is PrinterState.IDLE  # type: ignore[union-attr]  # the settled status

        release.set()
        built.last("mk4").push(printing(2.0))
        await settle(service, "mk4", PrinterState.PRINTING)
        await asyncio.sleep(0.05)
        assert seen == [
            (PrinterState.OFFLINE, PrinterState.IDLE),
            (PrinterState.IDLE, PrinterState.PRINTING),  # cut short
            (PrinterState.IDLE, PrinterState.PRINTING),  # handled again, in full
        ]
        assert [t.to_state for t in await repository.list_transitions("mk4")] == [
            PrinterState.PRINTING,
            PrinterState.IDLE,
        ]
    finally:
        await service.stop()


async def test_a_print_under_way_gets_progress_checkpoints_without_a_state_change(
    repository: SqlPrinterRepository,
) -> None:
    connections: dict[str, ScriptedConnection] = {}

    def factory(config: PrinterConfig, sink: StatusCallback) -> ScriptedConnection:
        connections[config.id] = ScriptedConnection(config, sink)
        return connections[config.id]

    seen: list[tuple[PrinterState, float | None]] = []

    async def listener(_config: PrinterConfig, _previous: PrinterStatus | None, current: PrinterStatus) -> None:
        seen.append((current.state, current.progress))

    service = MonitoringService(
        repository=repository, bus=EventBus(), connection_factory=factory, checkpoint_interval_s=0.2
    )
    service.add_listener(listener)
    await service.start()
    try:
        await connections["p1"].report(printing(1.0))
        for step in range(2, 22):  # telemetry only, for ~0.5 s
            await connections["p1"].report(printing(float(step)))
            await asyncio.sleep(0.025)
        checkpoints = seen[1:]
        assert 1 <= len(checkpoints) <= 3, seen  # about one per 0.2 s, not one per report
        assert all(state is PrinterState.PRINTING for state, _ in checkpoints)
        assert checkpoints == sorted(checkpoints, key=lambda item: item[1] or 0.0)
        seen.clear()
        idle = PrinterStatus(state=PrinterState.IDLE, last_seen=datetime.now(UTC))
        await connections["p1"].report(idle)
        for temperature in range(10):  # an idle printer's telemetry is no checkpoint
            await connections["p1"].report(idle.replace(nozzle_temp=30.0 + temperature))
            await asyncio.sleep(0.05)
        assert seen == [(PrinterState.IDLE, None)]
    finally:
        await service.stop()


async def test_a_report_of_a_printer_removed_by_another_process_is_dropped_quietly(
    repository: SqlPrinterRepository, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process of the farm deleted the printer (its row is gone) while this one's connection still reports a
    state change: the report is dropped with an info line, never an error and its traceback, and the connection
    carries on until the deletion reaches this process."""
    bus = EventBus()
    subscription = bus.subscribe()
    service, connections = await run_service(repository, bus)
    try:
        await connections["p1"].report(printing(1.0))
        await repository.delete_printer("p1")  # as another process would
        await connections["p1"].report(printing(2.0).replace(state=PrinterState.PAUSED))  # must not raise
        assert [e.status.state for e in drain(subscription)] == [PrinterState.PRINTING]
        assert service.status("p1") is not None
        assert not [record for record in caplog.records if record.levelname == "ERROR"]
    finally:
        await service.stop()


async def test_in_a_shared_farm_a_printer_is_connected_only_once_owned_and_let_go_when_stale(
    repository: SqlPrinterRepository,
) -> None:
    connections: dict[str, ScriptedConnection] = {}

    def factory(config: PrinterConfig, sink: StatusCallback) -> ScriptedConnection:
        connections[config.id] = ScriptedConnection(config, sink)
        return connections[config.id]

    owner = {"p1": True}

    async def fence(printer_id: str) -> None:
        if not owner[printer_id]:
            raise StaleOwner(printer_id, 1)

    bus = EventBus()
    remote = bus.subscribe(remote=True)
    service = MonitoringService(
        repository=repository, bus=bus, connection_factory=factory, shared_farm=True, fence=fence
    )
    await service.start()
    try:
        # Known, shown, not connected: another process owns it and shares its status.
        assert connections == {}
        assert [config.id for config, _ in service.watched()] == ["p1"]
        assert service.connected() == []
        assert service.connection("p1") is None
        service.show_shared("p1", printing(40.0))
        shown = service.status("p1")
        assert shown is not None
        assert shown.progress == 40.0
        [event] = drain(remote)
        assert event.status.progress == 40.0

        # This process comes to own it: connected; its reports are recorded.
        assert await service.take_over(["p1"]) == ["p1"]
        assert service.owns("p1")
        assert connections["p1"].config.id == "p1"
        await connections["p1"].report(printing(41.0))
        assert [t.to_state for t in await repository.list_transitions("p1")] == [PrinterState.PRINTING]

        # Another process took it meanwhile (this one was paused past its lease): nothing written, let go.
        owner["p1"] = False
        connections["p1"].push(PrinterStatus(state=PrinterState.FINISHED, file_name="benchy.gcode.3mf"))
        for _ in range(100):
            if not service.owns("p1"):
                break
            await asyncio.sleep(0.01)
        assert not service.owns("p1")
        assert connections["p1"].cancelled
        assert [t.to_state for t in await repository.list_transitions("p1")] == [PrinterState.PRINTING]
        assert [config.id for config, _ in service.watched()] == ["p1"]  # still shown, as its new owner shares it
    finally:
        await service.stop()
