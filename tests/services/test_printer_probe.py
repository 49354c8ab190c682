"""MonitoringService.probe with scripted connections: which status counts as the answer, the timeout, and that
the connection task is always cancelled and awaited (the real adapters are exercised in tests/api)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from printfleet.domain.printer import OfflineReason, PrinterConfig, PrinterKind, PrinterState, PrinterStatus, Secret
from printfleet.services.events import EventBus
from printfleet.services.monitoring import MonitoringService
from printfleet.services.ports import StatusCallback

CONFIG = PrinterConfig(id="p1", name="P1", kind=PrinterKind.PRUSALINK, host="h", api_key=Secret("k"))
IDLE = PrinterStatus(state=PrinterState.IDLE, raw_state="IDLE")


class NoStore:
    """A repository that fails the test when the probe touches it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the probe used the store ({name})")


class Scripted:
    """A connection that reports ``script`` (status, or seconds to sleep) then waits; records how it ended."""

    def __init__(self, config: PrinterConfig, sink: StatusCallback, script: list[Any]) -> None:
        self.config = config
        self.sink = sink
        self.script = script
        self.status = PrinterStatus.offline(OfflineReason.CONNECTING)
        self.ended: str | None = None

    async def run(self) -> None:
        try:
            for step in self.script:
                if isinstance(step, BaseException):
                    raise step
                if isinstance(step, float):
                    await asyncio.sleep(step)
                else:
                    await self.sink(self.config.id, step)
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.sleep(0.05)  # closing takes a moment, as a socket close does
            self.ended = "cancelled"
            raise

    async def pause(self) -> None: ...
    async def resume(self) -> None: ...
    async def stop(self) -> None: ...


def service(*scripts: list[Any]) -> tuple[MonitoringService, list[Scripted], EventBus]:
    """A monitoring service whose n-th connection built plays ``scripts[n]`` (nothing when there are fewer)."""
    built: list[Scripted] = []
    bus = EventBus()

    def factory(config: PrinterConfig, sink: StatusCallback) -> Scripted:
        script = scripts[len(built)] if len(built) < len(scripts) else []
        built.append(Scripted(config, sink, script))
        return built[-1]

    return MonitoringService(repository=NoStore(), bus=bus, connection_factory=factory), built, bus


async def test_connecting_reports_are_skipped_and_the_first_real_answer_returned() -> None:
    monitoring, built, bus = service(
        [PrinterStatus.offline(OfflineReason.CONNECTING), 0.05, IDLE, PrinterStatus.offline(OfflineReason.TIMEOUT)]
    )
    events = bus.subscribe()
    assert await monitoring.probe(CONFIG, timeout=5) == IDLE
    assert built[0].ended == "cancelled"  # cancelled and awaited before probe returned
    assert events.pending() == 0
    assert monitoring.watched() == []


async def test_an_offline_answer_is_returned_as_it_is() -> None:
    refused = PrinterStatus.offline(OfflineReason.AUTH_FAILED, detail="rejected")
    monitoring, built, _ = service([refused])
    assert await monitoring.probe(CONFIG) == refused
    assert built[0].ended == "cancelled"


async def test_no_answer_in_time_is_offline_timeout() -> None:
    monitoring, built, _ = service([PrinterStatus.offline(OfflineReason.CONNECTING)])
    started = time.monotonic()
    status = await monitoring.probe(CONFIG, timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 1
    assert (status.state, status.offline_reason, status.offline_detail) == (
        PrinterState.OFFLINE,
        OfflineReason.TIMEOUT,
        "no answer within 0.2 s",
    )
    assert built[0].ended == "cancelled"


async def test_a_crashing_adapter_is_protocol_error_without_waiting_for_the_timeout() -> None:
    monitoring, _, _ = service([RuntimeError("bug")])
    started = time.monotonic()
    status = await monitoring.probe(CONFIG, timeout=5)
    assert time.monotonic() - started < 1
    assert (status.offline_reason, status.offline_detail) == (
        OfflineReason.PROTOCOL_ERROR,
        "the connection ended early (RuntimeError)",
    )


async def test_cancelling_the_caller_cancels_and_awaits_the_connection() -> None:
    monitoring, built, _ = service()
    probe = asyncio.create_task(monitoring.probe(CONFIG, timeout=5))
    await asyncio.sleep(0.05)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert built[0].ended == "cancelled"
    assert not [task for task in asyncio.all_tasks() if task.get_name().startswith("probe:")]


async def test_a_watched_printer_with_the_same_id_is_not_touched() -> None:
    refused = PrinterStatus.offline(OfflineReason.AUTH_FAILED)
    monitoring, built, bus = service([], [refused])  # the live connection stays quiet; the probe's is refused
    monitoring.watch(CONFIG)
    events = bus.subscribe()
    before = monitoring.status("p1")
    assert await monitoring.probe(CONFIG.replace(api_key=Secret("wrong"))) == refused
    assert (monitoring.status("p1"), monitoring.connection("p1")) == (before, built[0])
    assert (built[0].ended, built[1].ended) == (None, "cancelled")
    assert events.pending() == 0
    await monitoring.stop()


async def test_a_timeout_that_is_not_positive_is_refused() -> None:
    monitoring, built, _ = service()
    with pytest.raises(ValueError, match="timeout"):
        await monitoring.probe(CONFIG, timeout=0)
    assert built == []
