"""Run an :class:`OctoPrintConnection` in the test's loop and wait for the statuses it reports."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from printfleet.domain.printer import PrinterConfig, PrinterKind, PrinterStatus, Secret
from printfleet.printers.base import Backoff
from printfleet.printers.octoprint.client import OctoPrintConnection


class CountingObserver:
    """Counts the adapter's metric hooks."""

    def __init__(self) -> None:
        self.reports = 0
        self.parse_errors = 0
        self.reconnects = 0

    def report_received(self, kind: PrinterKind) -> None:
        self.reports += 1

    def parse_error(self, kind: PrinterKind) -> None:
        self.parse_errors += 1

    def reconnect(self, kind: PrinterKind) -> None:
        self.reconnects += 1


class StatusRecorder:
    """The sink: keeps every status in order and wakes waiters."""

    def __init__(self) -> None:
        self.statuses: list[PrinterStatus] = []
        self._changed = asyncio.Condition()

    async def __call__(self, printer_id: str, status: PrinterStatus) -> None:
        async with self._changed:
            self.statuses.append(status)
            self._changed.notify_all()

    async def wait_for(
        self, check: Callable[[PrinterStatus], bool], *, timeout_s: float = 15.0, since: int = 0
    ) -> PrinterStatus:
        """The first status from index ``since`` on that passes ``check``; fails after ``timeout_s`` seconds."""
        async with asyncio.timeout(timeout_s), self._changed:
            while True:
                for status in self.statuses[since:]:
                    if check(status):
                        return status
                await self._changed.wait()

    def states(self, since: int = 0) -> list[str]:
        """The state values seen, in order, consecutive repeats folded."""
        folded: list[str] = []
        for status in self.statuses[since:]:
            if not folded or folded[-1] != status.state.value:
                folded.append(status.state.value)
        return folded


def octoprint_config(url: str, api_key: str, *, poll_interval: float = 0.5) -> PrinterConfig:
    """A PrinterConfig for an OctoPrint at ``url``."""
    return PrinterConfig(
        id="op-test",
        name="OctoPrint test",
        kind=PrinterKind.OCTOPRINT,
        url=url,
        api_key=Secret(api_key),
        poll_interval=poll_interval,
    )


@contextlib.asynccontextmanager
async def running_adapter(
    config: PrinterConfig, *, push: bool = True, observer: CountingObserver | None = None
) -> AsyncIterator[tuple[OctoPrintConnection, StatusRecorder]]:
    """Run the adapter (fast backoff: 0.1-0.5 s) for the block's duration."""
    recorder = StatusRecorder()
    adapter = OctoPrintConnection(
        config,
        sink=recorder,
        observer=observer,
        backoff=Backoff(initial=0.1, maximum=0.5),
        timeout_s=3.0,
        push=push,
    )
    task = asyncio.create_task(adapter.run())
    try:
        yield adapter, recorder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
