"""The reconnect loop every adapter shares: a sink that fails while a printer goes offline never ends it."""

from __future__ import annotations

import asyncio

import structlog

from printfleet.domain.printer import OfflineReason, PrinterConfig, PrinterKind, PrinterState, PrinterStatus, Secret
from printfleet.printers.base import Backoff, ConnectionFailed, PrinterConnectionBase

CONFIG = PrinterConfig(id="p1", name="P1", kind=PrinterKind.PRUSALINK, host="h", api_key=Secret("k"))


class RefusedOnce(PrinterConnectionBase):
    """A printer that refuses the first connection and answers ``idle`` on the second."""

    kind = PrinterKind.PRUSALINK

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.sessions = 0

    async def _session(self) -> None:
        self.sessions += 1
        if self.sessions == 1:
            raise ConnectionFailed(OfflineReason.UNREACHABLE, "connection refused")
        await self._emit(PrinterStatus(state=PrinterState.IDLE))
        await asyncio.Event().wait()


async def test_a_sink_failing_on_the_offline_status_does_not_end_the_loop() -> None:
    received: list[PrinterStatus] = []

    async def sink(_printer_id: str, status: PrinterStatus) -> None:
        if status.state is PrinterState.OFFLINE:
            raise RuntimeError("the store is down")
        received.append(status)

    connection = RefusedOnce(CONFIG, sink=sink, backoff=Backoff(initial=0.01, maximum=0.02))
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(connection.run())
        try:
            async with asyncio.timeout(5):
                while not received and not task.done():
                    await asyncio.sleep(0.01)
            assert not task.done(), task.exception()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert [status.state for status in received] == [PrinterState.IDLE]
    assert connection.sessions == 2
    assert "printer.status_sink_failed" in [entry["event"] for entry in logs]
