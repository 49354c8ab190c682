"""PrusaLinkConnection end to end against the simulated printer, over real loopback sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
import structlog

from printfleet.domain.printer import (
    DEFAULT_POLL_INTERVAL_S,
    OfflineReason,
    PrinterCommandRejected,
    PrinterConfig,
    PrinterKind,
    PrinterNotConnected,
    PrinterState,
    PrinterStatus,
    Secret,
)
from printfleet.printers.base import MAX_BAD_POLLS, Backoff
from printfleet.printers.prusalink.client import PrusaLinkConnection
from printfleet.sim.prusalink import SimulatedPrusaLinkPrinter, StorageShape
from tests.support import free_port

POLL = 0.1
WAIT = 5.0


class Recorder:
    """A status sink that keeps every snapshot and lets a test wait for one."""

    def __init__(self) -> None:
        self.statuses: list[PrinterStatus] = []
        self._changed = asyncio.Condition()

    async def __call__(self, printer_id: str, status: PrinterStatus) -> None:
        async with self._changed:
            self.statuses.append(status)
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[PrinterStatus], bool], timeout: float = WAIT) -> PrinterStatus:
        """The first snapshot from now on (or the latest one) matching ``predicate``."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: bool(self.statuses) and predicate(self.statuses[-1]))
            return self.statuses[-1]

    def states(self) -> list[PrinterState]:
        return [s.state for s in self.statuses]


class CountingObserver:
    def __init__(self) -> None:
        self.reports = self.parse_errors = self.reconnects = 0

    def report_received(self, kind: PrinterKind) -> None:
        self.reports += 1

    def parse_error(self, kind: PrinterKind) -> None:
        self.parse_errors += 1

    def reconnect(self, kind: PrinterKind) -> None:
        self.reconnects += 1


@asynccontextmanager
async def running(
    config: PrinterConfig, *, observer: CountingObserver | None = None, timeout_s: float = 2.0
) -> AsyncIterator[tuple[PrusaLinkConnection, Recorder]]:
    recorder = Recorder()
    connection = PrusaLinkConnection(
        config,
        sink=recorder,
        observer=observer,
        backoff=Backoff(initial=0.1, maximum=0.4),
        timeout_s=timeout_s,
    )
    task = asyncio.create_task(connection.run())
    try:
        yield connection, recorder
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def state_is(state: PrinterState) -> Callable[[PrinterStatus], bool]:
    return lambda status: status.state is state


@pytest.mark.parametrize("shape", ["buddy", "pi"])
async def test_digest_login_reports_the_printer(shape: StorageShape) -> None:
    async with (
        SimulatedPrusaLinkPrinter("mk4", storage_shape=shape) as sim,
        running(sim.printer_config(poll_interval=POLL)) as (connection, recorder),
    ):
        status = await recorder.wait_for(state_is(PrinterState.IDLE))

    assert connection.connected
    assert status.nozzle_temp is not None
    assert status.extra["storage"] == ("/usb/" if shape == "buddy" else "/local")


async def test_digest_survives_nonces_going_stale_between_polls() -> None:
    async with SimulatedPrusaLinkPrinter("mk4", nonce_lifetime_s=0.15) as sim:
        observer = CountingObserver()
        async with running(sim.printer_config(poll_interval=POLL), observer=observer) as (_, recorder):
            await recorder.wait_for(state_is(PrinterState.IDLE))
            await asyncio.sleep(1.0)

    assert observer.reports >= 5
    assert PrinterState.OFFLINE not in recorder.states()[1:]


async def test_wrong_password_goes_offline_auth_failed_with_a_clear_log_line() -> None:
    async with SimulatedPrusaLinkPrinter("mk4") as sim:
        config = sim.printer_config(poll_interval=POLL).replace(password=Secret("not-the-password"))
        with structlog.testing.capture_logs() as logs:
            async with running(config) as (connection, recorder):
                status = await recorder.wait_for(state_is(PrinterState.OFFLINE))
                await asyncio.sleep(0.3)  # a retry or two: still refused, still offline

    assert status.offline_reason is OfflineReason.AUTH_FAILED
    assert connection.status.offline_reason is OfflineReason.AUTH_FAILED
    assert PrinterState.IDLE not in recorder.states()
    rejected = [entry for entry in logs if entry["event"] == "prusalink.auth_rejected"]
    assert rejected
    assert rejected[0]["log_level"] == "error"
    assert "username or password" in rejected[0]["hint"]
    assert "not-the-password" not in repr(logs)
    assert "not-the-password" not in (status.offline_detail or "")


@pytest.mark.parametrize("shape", ["buddy", "pi"])
async def test_api_key_mode_reads_the_printer(shape: StorageShape) -> None:
    async with SimulatedPrusaLinkPrinter("mk3", auth="api_key", storage_shape=shape) as sim:
        config = sim.printer_config(poll_interval=POLL)
        assert config.password is None
        async with running(config) as (_, recorder):
            await sim.start_print("cube.gcode", duration_s=30)
            status = await recorder.wait_for(state_is(PrinterState.PRINTING))

    assert status.native_job_id == str(sim.current.job_id if sim.current else None)


async def test_wrong_api_key_goes_offline_auth_failed() -> None:
    async with SimulatedPrusaLinkPrinter("mk3", auth="api_key", storage_shape="pi") as sim:
        config = sim.printer_config(poll_interval=POLL).replace(api_key=Secret("wrong-key"))
        async with running(config) as (_, recorder):
            status = await recorder.wait_for(state_is(PrinterState.OFFLINE))

    assert status.offline_reason is OfflineReason.AUTH_FAILED


async def test_print_goes_idle_printing_paused_printing_finished_under_one_job_id() -> None:
    async with (
        SimulatedPrusaLinkPrinter("mk4") as sim,
        running(sim.printer_config(poll_interval=POLL)) as (connection, recorder),
    ):
        await recorder.wait_for(state_is(PrinterState.IDLE))
        await sim.start_print("benchy_0.2mm_PLA.bgcode", duration_s=1.5)
        printing = await recorder.wait_for(state_is(PrinterState.PRINTING))
        await connection.pause()
        paused = await recorder.wait_for(state_is(PrinterState.PAUSED))
        await connection.resume()
        await recorder.wait_for(state_is(PrinterState.PRINTING))
        finished = await recorder.wait_for(state_is(PrinterState.FINISHED))

        await sim.start_print("cube.bgcode", duration_s=30)
        second = await recorder.wait_for(lambda s: s.state is PrinterState.PRINTING and s.job_name == "cube.bgcode")

    states = recorder.states()
    lifecycle = [state for i, state in enumerate(states) if i == 0 or states[i - 1] is not state]
    assert lifecycle[:5] == [
        PrinterState.IDLE,
        PrinterState.PRINTING,
        PrinterState.PAUSED,
        PrinterState.PRINTING,
        PrinterState.FINISHED,
    ]
    assert printing.native_job_id == paused.native_job_id == finished.native_job_id == "1"
    # Buddy reports the file by its 8.3 alias (BENCHY~1.BGC) besides the long name: the long name is used.
    assert printing.file_name == finished.file_name == "/usb/benchy_0.2mm_PLA.bgcode"
    assert printing.job_name == "benchy_0.2mm_PLA.bgcode"
    assert finished.progress == 100.0
    assert second.native_job_id == "2"


async def test_pausing_from_the_printer_screen_is_seen() -> None:
    async with (
        SimulatedPrusaLinkPrinter("mk4") as sim,
        running(sim.printer_config(poll_interval=POLL)) as (_, recorder),
    ):
        await sim.start_print("benchy.bgcode", duration_s=30)
        await recorder.wait_for(state_is(PrinterState.PRINTING))
        await sim.pause()
        status = await recorder.wait_for(state_is(PrinterState.PAUSED))

    assert status.native_job_id == "1"


async def test_stop_cancels_the_print_and_later_commands_are_rejected() -> None:
    async with (
        SimulatedPrusaLinkPrinter("mk4") as sim,
        running(sim.printer_config(poll_interval=POLL)) as (connection, recorder),
    ):
        await sim.start_print("benchy.bgcode", duration_s=30)
        await recorder.wait_for(state_is(PrinterState.PRINTING))
        await connection.stop()
        cancelled = await recorder.wait_for(state_is(PrinterState.CANCELLED))

        with pytest.raises(PrinterCommandRejected, match="no print under way"):
            await connection.pause()

    assert cancelled.raw_state == "STOPPED"
    assert cancelled.native_job_id == "1"  # Buddy keeps the stopped job visible


async def test_a_command_the_printer_refuses_is_rejected() -> None:
    async with (
        SimulatedPrusaLinkPrinter("mk4") as sim,
        running(sim.printer_config(poll_interval=POLL)) as (connection, recorder),
    ):
        await sim.start_print("benchy.bgcode", duration_s=30)
        await sim.pause()
        await recorder.wait_for(state_is(PrinterState.PAUSED))

        with pytest.raises(PrinterCommandRejected, match="409"):
            await connection.pause()


async def test_start_print_prints_a_stored_file_and_is_rejected_when_busy_or_missing() -> None:
    async with SimulatedPrusaLinkPrinter("mk4", remote_print_duration_s=30) as sim:
        sim.add_file("cube.bgcode")
        async with running(sim.printer_config(poll_interval=POLL)) as (connection, recorder):
            await recorder.wait_for(state_is(PrinterState.IDLE))
            await connection.start_print("/usb/cube.bgcode")
            printing = await recorder.wait_for(state_is(PrinterState.PRINTING))

            with pytest.raises(PrinterCommandRejected, match="409"):
                await connection.start_print(printing.file_name or "")
            await connection.stop()
            await recorder.wait_for(state_is(PrinterState.CANCELLED))
            with pytest.raises(PrinterCommandRejected, match="404"):
                await connection.start_print("/usb/missing.bgcode")
            # The path a status reports (the long name in place of the 8.3 alias) starts the same file again.
            await connection.start_print(printing.file_name or "")
            again = await recorder.wait_for(state_is(PrinterState.PRINTING))

    assert printing.file_name == "/usb/cube.bgcode"
    assert again.native_job_id == "2"


async def test_a_malformed_body_is_counted_and_polling_goes_on() -> None:
    observer = CountingObserver()
    async with (
        SimulatedPrusaLinkPrinter("mk4") as sim,
        running(sim.printer_config(poll_interval=POLL), observer=observer) as (_, recorder),
    ):
        await recorder.wait_for(state_is(PrinterState.IDLE))
        sim.set_malformed(True)
        async with asyncio.timeout(WAIT):
            while observer.parse_errors == 0:
                await asyncio.sleep(0.02)
        await sim.start_print("benchy.bgcode", duration_s=30)
        await recorder.wait_for(state_is(PrinterState.PRINTING))

    assert observer.parse_errors == 1
    assert PrinterState.OFFLINE not in recorder.states()[1:]


async def test_disconnect_goes_offline_unreachable_then_back_online_with_backoff() -> None:
    observer = CountingObserver()
    async with (
        SimulatedPrusaLinkPrinter("mk4") as sim,
        running(sim.printer_config(poll_interval=POLL), observer=observer) as (connection, recorder),
    ):
        await sim.start_print("benchy.bgcode", duration_s=30)
        await recorder.wait_for(state_is(PrinterState.PRINTING))
        await sim.disconnect(1.0)
        offline = await recorder.wait_for(state_is(PrinterState.OFFLINE))
        with pytest.raises(PrinterNotConnected):
            await connection.pause()
        back = await recorder.wait_for(state_is(PrinterState.PRINTING))

    assert offline.offline_reason is OfflineReason.UNREACHABLE
    assert offline.last_seen is not None
    assert back.native_job_id == "1"
    assert observer.reconnects >= 2  # retried while the printer was away, backing off
    assert connection.status.last_seen is not None
    assert connection.status.last_seen > offline.last_seen


async def test_a_printer_that_never_answers_goes_offline_timeout() -> None:
    done = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)  # the request arrives, no answer ever leaves
        await done.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = PrinterConfig(
        id="mute",
        name="mute",
        kind=PrinterKind.PRUSALINK,
        host="127.0.0.1",
        port=port,
        username="maker",
        password=Secret("x"),
        poll_interval=POLL,
    )
    async with server, running(config, timeout_s=0.3) as (_, recorder):
        status = await recorder.wait_for(state_is(PrinterState.OFFLINE))
        done.set()

    assert status.offline_reason is OfflineReason.TIMEOUT


async def test_nothing_listening_is_offline_unreachable() -> None:
    config = PrinterConfig(
        id="gone", name="gone", kind=PrinterKind.PRUSALINK, host="127.0.0.1", port=free_port(), api_key=Secret("k")
    )
    async with running(config) as (_, recorder):
        status = await recorder.wait_for(state_is(PrinterState.OFFLINE))

    assert status.offline_reason is OfflineReason.UNREACHABLE


async def test_a_status_change_is_seen_within_the_poll_interval() -> None:
    poll_interval = 0.5
    async with (
        SimulatedPrusaLinkPrinter("mk4") as sim,
        running(sim.printer_config(poll_interval=poll_interval)) as (_, recorder),
    ):
        await recorder.wait_for(state_is(PrinterState.IDLE))
        started = time.monotonic()
        await sim.start_print("benchy.bgcode", duration_s=30)
        await recorder.wait_for(state_is(PrinterState.PRINTING))
        seen_after = time.monotonic() - started

    assert seen_after < poll_interval + 0.3


def test_the_poll_interval_is_the_configured_one_else_the_default() -> None:
    # The monitoring service fills in the global interval before building a connection; built directly from a
    # configuration that follows the global setting (None), the adapter polls at the 5 s default.
    config = PrinterConfig(id="mk4", name="MK4", kind=PrinterKind.PRUSALINK, host="h", api_key=Secret("k"))
    assert PrusaLinkConnection(config.replace(poll_interval=2.0), sink=Recorder()).poll_interval_s == 2.0
    assert PrusaLinkConnection(config, sink=Recorder()).poll_interval_s == DEFAULT_POLL_INTERVAL_S


async def test_an_idle_printer_is_reported_seen_at_each_answer_so_it_never_looks_stale() -> None:
    # Polled every 0.1 s: an answer that changes nothing but the time still reaches the sink, at most once a
    # second, so last_seen (what the card's "Last seen" shows) is never more than a poll plus a second old.
    async with (
        SimulatedPrusaLinkPrinter("mk4") as sim,
        running(sim.printer_config(poll_interval=POLL)) as (connection, recorder),
    ):
        first = await recorder.wait_for(state_is(PrinterState.IDLE))
        await asyncio.sleep(2.6)
        assert connection.status.last_seen is not None
        assert datetime.now(UTC) - connection.status.last_seen < timedelta(seconds=1)

    idle = [status for status in recorder.statuses if status.state is PrinterState.IDLE]
    assert 3 <= len(idle) <= 5, [status.last_seen for status in idle]
    assert {status.replace(last_seen=None) for status in idle} == {first.replace(last_seen=None)}
    seen = [status.last_seen for status in idle]
    assert all(earlier is not None and later is not None and later > earlier for earlier, later in pairwise(seen))
    newest = seen[-1]
    assert newest is not None
    assert connection.status.last_seen is not None
    assert connection.status.last_seen - newest < timedelta(seconds=1.01)


def test_a_config_without_credentials_is_refused() -> None:
    async def sink(printer_id: str, status: PrinterStatus) -> None:
        return None

    config = PrinterConfig(id="p", name="p", kind=PrinterKind.PRUSALINK, host="127.0.0.1", username="maker")
    with pytest.raises(ValueError, match="username and password, or an API key"):
        PrusaLinkConnection(config, sink=sink)


async def test_unreadable_bodies_in_a_row_go_offline_protocol_error_then_recover() -> None:
    observer = CountingObserver()
    async with (
        SimulatedPrusaLinkPrinter("mk4") as sim,
        running(sim.printer_config(poll_interval=POLL), observer=observer) as (_, recorder),
    ):
        await recorder.wait_for(state_is(PrinterState.IDLE))
        sim.set_malformed(True, times=MAX_BAD_POLLS)
        offline = await recorder.wait_for(state_is(PrinterState.OFFLINE))
        await recorder.wait_for(state_is(PrinterState.IDLE))

    assert offline.offline_reason is OfflineReason.PROTOCOL_ERROR
    assert observer.parse_errors == MAX_BAD_POLLS
