"""The Moonraker adapter against the real Moonraker + Klippy: Klippy restarts, a second owner, commands."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from printfleet.domain.dispatch.sending import PrinterBusy
from printfleet.domain.printer import (
    OfflineReason,
    PrinterConfig,
    PrinterKind,
    PrinterState,
    PrinterStatus,
    Secret,
)
from printfleet.domain.schedule.model import PrintSpeed
from printfleet.printers.base import Backoff
from printfleet.printers.moonraker.client import MoonrakerConnection
from tests.printers.moonraker.stack import FIXTURES, MoonrakerStack
from tests.printers.print_requests import print_request


class Recorder:
    """Collects every status a connection reports."""

    def __init__(self) -> None:
        self.statuses: list[PrinterStatus] = []

    async def __call__(self, printer_id: str, status: PrinterStatus) -> None:
        self.statuses.append(status)

    async def wait_for(self, check: Callable[[PrinterStatus], bool], *, timeout: float = 15.0) -> PrinterStatus:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for status in self.statuses:
                if check(status):
                    return status
            assert loop.time() < deadline, f"no such status in {[s.state.value for s in self.statuses]}"
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running(url: str, *, api_key: str | None = None) -> AsyncIterator[tuple[MoonrakerConnection, Recorder]]:
    """A MoonrakerConnection to ``url`` running in a task (quick backoff), and the statuses it reports."""
    recorder = Recorder()
    key = Secret(api_key) if api_key is not None else None
    config = PrinterConfig(id="k1", name="K1", kind=PrinterKind.MOONRAKER, url=url, api_key=key)
    connection = MoonrakerConnection(
        config, sink=recorder, backoff=Backoff(initial=0.2, maximum=1.0), call_timeout_s=5.0
    )
    task = asyncio.create_task(connection.run())
    try:
        yield connection, recorder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_klippy_restart_is_host_not_ready_then_live_again_with_a_new_subscription_and_prints_end(
    moonraker_stack: MoonrakerStack,
) -> None:
    async with running(moonraker_stack.url) as (connection, recorder):
        await recorder.wait_for(lambda s: s.state is PrinterState.IDLE)
        await asyncio.to_thread(moonraker_stack.rpc, "printer.restart")
        await recorder.wait_for(lambda s: s.offline_reason is OfflineReason.HOST_NOT_READY)
        recorder.statuses.clear()
        await recorder.wait_for(lambda s: s.state is PrinterState.IDLE, timeout=20)
        # Moonraker dropped the old subscription: a print now is only seen through the new one.
        await asyncio.to_thread(moonraker_stack.upload, "pause_mid.gcode", as_name="after.gcode", start=True)
        paused = await recorder.wait_for(lambda s: s.state is PrinterState.PAUSED)
        assert paused.file_name == "after.gcode"
        assert paused.layer == 1
        await connection.stop()
        cancelled = await recorder.wait_for(lambda s: s.state is PrinterState.CANCELLED)
        assert cancelled.file_name == "after.gcode"
        # A print Klipper ends at once (an extrude move without an extruder) is seen starting, then failed.
        recorder.statuses.clear()
        await asyncio.to_thread(moonraker_stack.upload, "extrude_error.gcode", as_name="blob.gcode", start=True)
        failed = await recorder.wait_for(lambda s: s.state is PrinterState.FAILED)
        assert failed.file_name == "blob.gcode"
        assert "Extrude when no extruder" in failed.extra["message"]
        started = [s for s in recorder.statuses if s.state is PrinterState.PRINTING]
        assert [s.file_name for s in started] == ["blob.gcode"]


async def test_a_second_printfleet_on_the_same_printer_is_offline_owned_elsewhere(
    moonraker_stack: MoonrakerStack,
) -> None:
    async with running(moonraker_stack.url) as (_first, first_statuses):
        await first_statuses.wait_for(lambda s: s.state is PrinterState.IDLE)
        async with running(moonraker_stack.url) as (second, second_statuses):
            refused = await second_statuses.wait_for(
                lambda s: s.offline_reason is not None and s.offline_reason is not OfflineReason.CONNECTING
            )
            assert refused.offline_reason is OfflineReason.OWNED_ELSEWHERE
            assert not second.connected
        assert first_statuses.statuses[-1].state is PrinterState.IDLE


async def test_sending_starts_an_idle_printer_and_a_busy_one_stores_or_refuses_the_file(
    moonraker_stack: MoonrakerStack, tmp_path: Path
) -> None:
    content = (FIXTURES / "pause_mid.gcode").read_bytes()
    async with running(moonraker_stack.url) as (connection, recorder):
        await recorder.wait_for(lambda s: s.state is PrinterState.IDLE)
        sent = await connection.upload(print_request(tmp_path, "first.gcode", content), start=True)
        assert (sent.remote_path, sent.started) == ("first.gcode", True)
        paused = await recorder.wait_for(lambda s: s.state is PrinterState.PAUSED)
        assert paused.file_name == "first.gcode"
        # Printing (held at PAUSE): another file is stored but not started...
        with pytest.raises(PrinterBusy) as busy:
            await connection.upload(print_request(tmp_path, "second.gcode", content), start=True)
        assert busy.value.stored is True
        assert (moonraker_stack.data / "gcodes" / "second.gcode").read_bytes() == content
        # ...and the file being printed cannot be overwritten.
        with pytest.raises(PrinterBusy) as loaded:
            await connection.upload(print_request(tmp_path, "first.gcode", b"G28\n"), start=True)
        assert loaded.value.stored is False
        assert (moonraker_stack.data / "gcodes" / "first.gcode").read_bytes() == content
        assert await asyncio.to_thread(moonraker_stack.print_state) == "paused"


async def test_without_a_trusted_address_the_api_key_decides(moonraker_stack: MoonrakerStack) -> None:
    key = await asyncio.to_thread(moonraker_stack.require_api_key)
    async with running(moonraker_stack.url, api_key="0" * 32) as (wrong, statuses):
        refused = await statuses.wait_for(lambda s: s.offline_reason is OfflineReason.AUTH_FAILED)
        assert key not in (refused.offline_detail or "")
        assert not wrong.connected
    async with running(moonraker_stack.url) as (_none, statuses):
        await statuses.wait_for(lambda s: s.offline_reason is OfflineReason.AUTH_FAILED)
    async with running(moonraker_stack.url, api_key=key) as (right, statuses):
        await statuses.wait_for(lambda s: s.state is PrinterState.IDLE)
        assert right.connected


async def test_a_print_speed_becomes_klippers_speed_factor(moonraker_stack: MoonrakerStack) -> None:
    async with running(moonraker_stack.url) as (connection, recorder):
        await recorder.wait_for(lambda s: s.state is not PrinterState.OFFLINE)

        await connection.set_print_speed(PrintSpeed.SPORT)

        result = moonraker_stack.rpc("printer.objects.query", objects={"gcode_move": ["speed_factor"]})
        assert result["status"]["gcode_move"]["speed_factor"] == pytest.approx(1.24)  # M220 S124
