"""The OctoPrint adapter against a real OctoPrint 1.11 and its virtual printer, over real sockets."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest

from printfleet.domain.printer import (
    OfflineReason,
    PrinterCommandRejected,
    PrinterNotConnected,
    PrinterState,
    PrinterStatus,
)
from printfleet.domain.schedule.model import PrintSpeed
from tests.printers.octoprint.conftest import OctoPrintServer
from tests.printers.octoprint.recorder import CountingObserver, octoprint_config, running_adapter

pytestmark = pytest.mark.octoprint


def unique_name(stem: str) -> str:
    """A file name no earlier test used, so a leftover selection cannot satisfy a wait."""
    return f"{stem}-{uuid.uuid4().hex[:8]}.gcode"


def is_state(state: PrinterState, file_name: str | None = None) -> Callable[[PrinterStatus], bool]:
    """A check for ``state`` (and ``file_name`` when given)."""
    return lambda s: s.state is state and (file_name is None or s.file_name == file_name)


async def in_thread(call: Callable[[], object]) -> None:
    """Drive OctoPrint's REST API (sync helpers) without blocking the adapter's loop."""
    await asyncio.to_thread(call)


async def test_uploaded_print_shows_printing_with_file_then_finished(octoprint: OctoPrintServer) -> None:
    name = unique_name("short")
    observer = CountingObserver()
    config = octoprint_config(octoprint.url, octoprint.api_key)
    async with running_adapter(config, observer=observer) as (_, recorder):
        await recorder.wait_for(lambda s: s.state is not PrinterState.OFFLINE)
        await in_thread(lambda: octoprint.upload("dwell_short.gcode", as_name=name))

        printing = await recorder.wait_for(is_state(PrinterState.PRINTING, name))
        finished = await recorder.wait_for(is_state(PrinterState.FINISHED, name))
        warm = await recorder.wait_for(lambda s: s.nozzle_temp is not None and s.bed_temp is not None)

    assert printing.native_job_id is None  # OctoPrint has no job id
    assert printing.print_start_time is not None
    assert printing.print_start_time.utcoffset() is not None
    assert finished.progress == 100.0
    assert finished.elapsed_seconds is not None
    assert finished.raw_state == "Operational"
    assert warm.nozzle_temp is not None
    assert 0 < warm.nozzle_temp < 300
    assert PrinterState.CANCELLED.value not in recorder.states()
    assert observer.reports > 0
    assert observer.parse_errors == 0


async def test_pause_resume_and_stop_reach_the_printer(octoprint: OctoPrintServer) -> None:
    name = unique_name("long")
    async with running_adapter(octoprint_config(octoprint.url, octoprint.api_key)) as (adapter, recorder):
        await recorder.wait_for(lambda s: s.state is not PrinterState.OFFLINE)
        await in_thread(lambda: octoprint.upload("dwell_long.gcode", as_name=name))
        await recorder.wait_for(lambda s: s.state is PrinterState.PRINTING and (s.progress or 0) > 0)
        await adapter.set_print_speed(PrintSpeed.SILENT)  # accepted by OctoPrint (M220 S50 to the printer)

        await adapter.pause()
        await recorder.wait_for(is_state(PrinterState.PAUSED, name))
        await in_thread(lambda: octoprint.wait_until(lambda: octoprint.flags().get("paused") is True, timeout_s=10))

        mark = len(recorder.statuses)
        await adapter.resume()
        await recorder.wait_for(is_state(PrinterState.PRINTING, name), since=mark)
        assert octoprint.flags().get("printing") is True

        await adapter.stop()
        cancelled = await recorder.wait_for(is_state(PrinterState.CANCELLED, name))
        await in_thread(lambda: octoprint.wait_until(lambda: octoprint.flags().get("ready") is True, timeout_s=10))

    assert cancelled.progress is not None
    assert 0 < cancelled.progress < 100
    assert recorder.states(since=mark)[-2:] == ["printing", "cancelled"]


async def test_commands_are_rejected_when_nothing_prints(octoprint: OctoPrintServer) -> None:
    async with running_adapter(octoprint_config(octoprint.url, octoprint.api_key)) as (adapter, recorder):
        await recorder.wait_for(lambda s: s.state is not PrinterState.OFFLINE)
        with pytest.raises(PrinterCommandRejected, match="409"):
            await adapter.pause()
        with pytest.raises(PrinterCommandRejected, match="409"):
            await adapter.stop()


async def test_start_print_prints_a_stored_file_and_refuses_a_missing_one(octoprint: OctoPrintServer) -> None:
    name = unique_name("stored")
    await in_thread(lambda: octoprint.upload("dwell_short.gcode", as_name=name, print_it=False))
    async with running_adapter(octoprint_config(octoprint.url, octoprint.api_key)) as (adapter, recorder):
        await recorder.wait_for(lambda s: s.state is not PrinterState.OFFLINE)
        with pytest.raises(PrinterCommandRejected, match="404"):
            await adapter.start_print("no-such-file.gcode")

        await adapter.start_print(name)
        await recorder.wait_for(is_state(PrinterState.FINISHED, name))
    assert PrinterState.PRINTING.value in recorder.states()


async def test_push_catches_a_print_shorter_than_the_poll_interval(octoprint: OctoPrintServer) -> None:
    # Polls every 60 s: only the first poll happens; everything after comes from the push socket.
    name = unique_name("blink")
    config = octoprint_config(octoprint.url, octoprint.api_key, poll_interval=60.0)
    async with running_adapter(config) as (_, recorder):
        await recorder.wait_for(lambda s: s.state is not PrinterState.OFFLINE)
        await asyncio.sleep(0.5)  # let the socket log in and subscribe
        mark = len(recorder.statuses)
        await in_thread(lambda: octoprint.upload("dwell_short.gcode", as_name=name))
        await recorder.wait_for(is_state(PrinterState.FINISHED, name))
    assert recorder.states(since=mark) == ["printing", "finished"]


async def test_push_reports_a_cancel_from_octoprint_as_cancelled(octoprint: OctoPrintServer) -> None:
    name = unique_name("cancel-push")
    config = octoprint_config(octoprint.url, octoprint.api_key, poll_interval=60.0)
    async with running_adapter(config) as (_, recorder):
        await recorder.wait_for(lambda s: s.state is not PrinterState.OFFLINE)
        await asyncio.sleep(0.5)
        mark = len(recorder.statuses)
        await in_thread(lambda: octoprint.upload("dwell_long.gcode", as_name=name))
        await recorder.wait_for(is_state(PrinterState.PRINTING, name))
        assert await asyncio.to_thread(octoprint.job_command, {"command": "cancel"}) == 204
        cancelled = await recorder.wait_for(is_state(PrinterState.CANCELLED, name))
    assert recorder.states(since=mark) == ["printing", "cancelled"]
    assert cancelled.progress is not None  # where it stopped, though OctoPrint resets its own progress


async def test_polling_alone_tells_a_finished_print_from_a_cancelled_one(octoprint: OctoPrintServer) -> None:
    done, stopped = unique_name("done-poll"), unique_name("cancel-poll")
    config = octoprint_config(octoprint.url, octoprint.api_key)
    async with running_adapter(config, push=False) as (_, recorder):
        await recorder.wait_for(lambda s: s.state is not PrinterState.OFFLINE)
        await in_thread(lambda: octoprint.upload("dwell_short.gcode", as_name=done))
        await recorder.wait_for(is_state(PrinterState.FINISHED, done))

        await in_thread(lambda: octoprint.upload("dwell_long.gcode", as_name=stopped))
        await recorder.wait_for(is_state(PrinterState.PRINTING, stopped))
        assert await asyncio.to_thread(octoprint.job_command, {"command": "cancel"}) == 204
        await recorder.wait_for(is_state(PrinterState.CANCELLED, stopped))


async def test_a_finished_print_is_recognised_by_an_adapter_started_afterwards(octoprint: OctoPrintServer) -> None:
    name = unique_name("before")
    await in_thread(lambda: octoprint.upload("dwell_short.gcode", as_name=name))
    await in_thread(lambda: octoprint.wait_until(lambda: octoprint.flags().get("ready") is True, timeout_s=15))
    async with running_adapter(octoprint_config(octoprint.url, octoprint.api_key)) as (_, recorder):
        first = await recorder.wait_for(lambda s: s.state is not PrinterState.OFFLINE)
    assert first.state is PrinterState.FINISHED
    assert first.file_name == name


async def test_wrong_api_key_is_offline_auth_failed(octoprint: OctoPrintServer) -> None:
    async with running_adapter(octoprint_config(octoprint.url, "not-the-key")) as (adapter, recorder):
        offline = await recorder.wait_for(lambda s: s.offline_reason is OfflineReason.AUTH_FAILED)
        with pytest.raises(PrinterNotConnected):
            await adapter.pause()
    assert "not-the-key" not in (offline.offline_detail or "")
    assert all(s.state is PrinterState.OFFLINE for s in recorder.statuses)


async def test_printer_link_down_is_not_operational_and_comes_back(octoprint: OctoPrintServer) -> None:
    async with running_adapter(octoprint_config(octoprint.url, octoprint.api_key)) as (adapter, recorder):
        await recorder.wait_for(lambda s: s.state is not PrinterState.OFFLINE)
        await in_thread(octoprint.disconnect_printer)
        down = await recorder.wait_for(lambda s: s.offline_reason is OfflineReason.NOT_OPERATIONAL)
        with pytest.raises(PrinterNotConnected):
            await adapter.stop()
        mark = len(recorder.statuses)
        await in_thread(octoprint.connect_printer)
        await recorder.wait_for(lambda s: s.state is not PrinterState.OFFLINE, since=mark)
    assert down.offline_detail is not None
    assert "Offline" in down.offline_detail


async def test_print_whose_printer_link_drops_is_failed(octoprint: OctoPrintServer) -> None:
    name = unique_name("dropped")
    async with running_adapter(octoprint_config(octoprint.url, octoprint.api_key)) as (_, recorder):
        await recorder.wait_for(lambda s: s.state is not PrinterState.OFFLINE)
        await in_thread(lambda: octoprint.upload("dwell_long.gcode", as_name=name))
        await recorder.wait_for(is_state(PrinterState.PRINTING, name))
        await in_thread(octoprint.disconnect_printer)
        await recorder.wait_for(lambda s: s.offline_reason is OfflineReason.NOT_OPERATIONAL)
        mark = len(recorder.statuses)
        await in_thread(octoprint.connect_printer)
        after = await recorder.wait_for(lambda s: s.state is not PrinterState.OFFLINE, since=mark)
    # OctoPrint fails a print whose serial link drops (PrintFailed, reason "error") and keeps the file
    # selected, so the failure is still shown once the printer is back.
    assert after.state is PrinterState.FAILED
    assert after.file_name == name
    assert "failed" in recorder.states()
    assert "finished" not in recorder.states()
    assert "cancelled" not in recorder.states()


async def test_server_stopped_is_unreachable_and_back_after_restart(
    octoprint_factory: Callable[[], OctoPrintServer],
) -> None:
    server = await asyncio.to_thread(octoprint_factory)
    async with running_adapter(octoprint_config(server.url, server.api_key)) as (_, recorder):
        await recorder.wait_for(lambda s: s.state is PrinterState.IDLE)
        await in_thread(server.stop)
        await recorder.wait_for(lambda s: s.offline_reason is OfflineReason.UNREACHABLE)
        mark = len(recorder.statuses)
        await in_thread(server.start)
        back = await recorder.wait_for(lambda s: s.state is not PrinterState.OFFLINE, since=mark, timeout_s=30)
    assert back.state is PrinterState.IDLE
    await in_thread(server.stop)
