"""BambuConnection end to end: real mosquitto over TLS on loopback, the simulator playing the printer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import structlog

from printfleet.domain.printer import (
    OfflineReason,
    PrinterConfig,
    PrinterKind,
    PrinterNotConnected,
    PrinterState,
    PrinterStatus,
    Secret,
)
from printfleet.printers.bambu.client import BambuConnection
from printfleet.printers.base import Backoff
from printfleet.sim.bambu import BambuFarm, SimulatedBambuPrinter
from printfleet.sim.tls import SimCertificateAuthority
from tests.files_samples import bambu_3mf

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(60)]


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


class Recorder:
    """A status sink that keeps every snapshot per printer and lets a test wait for one."""

    def __init__(self) -> None:
        self.statuses: dict[str, list[PrinterStatus]] = {}
        self._changed = asyncio.Condition()

    async def __call__(self, printer_id: str, status: PrinterStatus) -> None:
        async with self._changed:
            self.statuses.setdefault(printer_id, []).append(status)
            self._changed.notify_all()

    def of(self, printer_id: str) -> list[PrinterStatus]:
        return self.statuses.get(printer_id, [])

    async def wait_for(
        self, printer_id: str, predicate: Callable[[PrinterStatus], bool], *, timeout: float = 10.0, after: int = 0
    ) -> PrinterStatus:
        """The first status (from index ``after``) matching ``predicate``; fails the test after ``timeout`` s."""

        def found() -> PrinterStatus | None:
            return next((s for s in self.of(printer_id)[after:] if predicate(s)), None)

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: found() is not None), timeout)
            except TimeoutError:
                seen = [(s.state.value, s.offline_reason, s.progress) for s in self.of(printer_id)[after:]][-8:]
                pytest.fail(f"no matching status for {printer_id} within {timeout} s; last seen {seen}")
        status = found()
        assert status is not None
        return status


@contextlib.asynccontextmanager
async def running(connection: BambuConnection) -> AsyncIterator[BambuConnection]:
    task = asyncio.create_task(connection.run())
    try:
        yield connection
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def connect(
    config: PrinterConfig, recorder: Recorder, observer: CountingObserver | None = None, **kwargs: Any
) -> BambuConnection:
    return BambuConnection(
        config, sink=recorder, observer=observer, backoff=Backoff(initial=0.05, maximum=0.3), **kwargs
    )


@pytest.fixture
async def farm(mosquitto_binary: str, tmp_path: Path) -> AsyncIterator[BambuFarm]:
    async with BambuFarm(2, workdir=tmp_path, report_interval_s=0.1, mosquitto=mosquitto_binary) as started:
        yield started


@pytest.fixture
def printer(farm: BambuFarm) -> SimulatedBambuPrinter:
    return farm[0]


def printing(status: PrinterStatus) -> bool:
    return status.state is PrinterState.PRINTING


async def test_full_state_arrives_on_connect(printer: SimulatedBambuPrinter) -> None:
    await printer.start_print("benchy.gcode.3mf", duration_s=30, prepare_s=0)
    await asyncio.sleep(0.3)  # the printer now only sends changes: the client needs pushall for the rest
    recorder = Recorder()
    async with running(connect(printer.printer_config(), recorder)):
        first = await recorder.wait_for(printer.printer_id, lambda s: s.state is not PrinterState.OFFLINE)
    assert first.state is PrinterState.PRINTING
    assert (first.file_name, first.job_name, first.total_layers) == ("benchy.gcode.3mf", "benchy", 100)
    assert first.nozzle_target == 220.0
    assert first.bed_target == 60.0
    assert [t.tray_type for t in first.ams_trays] == ["PLA", "PLA", "PETG", None]
    assert first.last_seen is not None
    assert first.last_seen.tzinfo is not None
    assert any("pushing" in command for command in printer.commands_received)


async def test_temperature_only_partial_keeps_file_and_progress(printer: SimulatedBambuPrinter) -> None:
    await printer.start_print("benchy.gcode.3mf", duration_s=30, prepare_s=0)
    await printer.pause()  # progress stands still while paused
    recorder = Recorder()
    async with running(connect(printer.printer_config(), recorder)):
        paused = await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.PAUSED)
        await printer.send_raw(b'{"print": {"command": "push_status", "sequence_id": "77", "nozzle_temper": 180.5}}')
        hot = await recorder.wait_for(printer.printer_id, lambda s: s.nozzle_temp == 180.5)
    assert hot.state is PrinterState.PAUSED
    assert (hot.file_name, hot.job_name, hot.progress) == ("benchy.gcode.3mf", "benchy", paused.progress)


async def test_ams_partial_updates_one_tray(printer: SimulatedBambuPrinter) -> None:
    recorder = Recorder()
    async with running(connect(printer.printer_config(), recorder)):
        before = await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.IDLE)
        await printer.set_ams_tray(2, color="00FF00FF", remain=40)
        after = await recorder.wait_for(printer.printer_id, lambda s: s.ams_trays[2].color == "00FF00FF")
    assert after.ams_trays[2].remain_percent == 40
    assert after.ams_trays[2].tray_type == "PETG"
    assert [after.ams_trays[i] for i in (0, 1, 3)] == [before.ams_trays[i] for i in (0, 1, 3)]


async def test_reconnects_after_a_broker_restart_and_goes_on_reporting(printer: SimulatedBambuPrinter) -> None:
    await printer.start_print("benchy.gcode.3mf", duration_s=20, prepare_s=0)
    recorder = Recorder()
    observer = CountingObserver()
    async with running(connect(printer.printer_config(), recorder, observer)):
        before = await recorder.wait_for(printer.printer_id, printing)
        await printer.disconnect(0.5)
        down = await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.OFFLINE)
        mark = recorder.of(printer.printer_id).index(down)
        back = await recorder.wait_for(
            printer.printer_id, lambda s: printing(s) and (s.progress or 0) > (before.progress or 0), after=mark
        )
    assert down.offline_reason is OfflineReason.UNREACHABLE
    assert back.file_name == "benchy.gcode.3mf"
    assert observer.reconnects >= 1


async def test_wrong_access_code_is_offline_auth_failed_with_a_clear_log_line(printer: SimulatedBambuPrinter) -> None:
    recorder = Recorder()
    config = printer.printer_config().replace(access_code=Secret("87654321"))
    with structlog.testing.capture_logs() as logs:
        async with running(connect(config, recorder)):
            status = await recorder.wait_for(
                printer.printer_id, lambda s: s.offline_reason is OfflineReason.AUTH_FAILED
            )
    assert status.state is PrinterState.OFFLINE
    assert status.offline_detail is not None
    assert "access code" in status.offline_detail
    lines = [entry for entry in logs if entry.get("reason") == "auth_failed"]
    assert lines
    assert lines[0]["log_level"] == "error"
    assert "access code" in lines[0]["detail"]
    everything = repr(logs) + repr(recorder.statuses)
    assert "87654321" not in everything
    assert printer.access_code not in everything


async def test_malformed_messages_are_counted_and_the_connection_survives(printer: SimulatedBambuPrinter) -> None:
    recorder = Recorder()
    observer = CountingObserver()
    async with running(connect(printer.printer_config(), recorder, observer)):
        await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.IDLE)
        await printer.send_raw(b'{"print": {"gcode_state": "RUNN')
        await printer.send_raw(b'["not", "an", "object"]')
        await printer.send_raw(b'{"print": "RUNNING"}')
        await printer.start_print("after-garbage.3mf", duration_s=10, prepare_s=0)
        later = await recorder.wait_for(printer.printer_id, printing)
    assert later.file_name == "after-garbage.3mf"
    assert observer.parse_errors == 3
    assert all(s.state is not PrinterState.OFFLINE for s in recorder.of(printer.printer_id))


async def test_certificate_not_naming_the_serial_is_refused(printer: SimulatedBambuPrinter) -> None:
    recorder = Recorder()
    config = printer.printer_config().replace(serial="01S00C999999999")
    async with running(connect(config, recorder)):
        status = await recorder.wait_for(
            printer.printer_id,
            lambda s: s.offline_reason is not None and s.offline_reason is not OfflineReason.CONNECTING,
        )
    assert status.offline_reason is OfflineReason.TLS_FAILED
    assert status.offline_detail is not None
    assert "01S00C999999999" in status.offline_detail


async def test_certificate_from_another_ca_is_refused(printer: SimulatedBambuPrinter, tmp_path: Path) -> None:
    other_ca = SimCertificateAuthority.create("someone else").write_ca(tmp_path / "other-ca.pem")
    recorder = Recorder()
    async with running(connect(printer.printer_config().replace(ca_file=str(other_ca)), recorder)):
        status = await recorder.wait_for(printer.printer_id, lambda s: s.offline_reason is OfflineReason.TLS_FAILED)
    assert status.offline_detail is not None
    assert "not trusted" in status.offline_detail


async def test_without_ca_file_or_insecure_switch_the_printer_is_not_contacted(printer: SimulatedBambuPrinter) -> None:
    recorder = Recorder()
    async with running(connect(printer.printer_config().replace(ca_file=None), recorder)):
        status = await recorder.wait_for(printer.printer_id, lambda s: s.offline_reason is OfflineReason.TLS_FAILED)
    assert status.offline_detail is not None
    assert "tls_insecure" in status.offline_detail


async def test_insecure_switch_connects_without_verification_and_warns(printer: SimulatedBambuPrinter) -> None:
    recorder = Recorder()
    config = printer.printer_config().replace(ca_file=None, tls_insecure=True)
    with structlog.testing.capture_logs() as logs:
        async with running(connect(config, recorder)):
            await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.IDLE)
    assert [entry["log_level"] for entry in logs if entry["event"] == "bambu.tls_insecure"] == ["warning"]


async def test_pause_resume_stop_round_trip_through_the_printer(printer: SimulatedBambuPrinter) -> None:
    assert printer.ftps is not None
    (printer.ftps.root / "bracket.gcode.3mf").write_bytes(bambu_3mf())  # as if uploaded: the printer reads it
    recorder = Recorder()
    async with running(connect(printer.printer_config(), recorder)) as connection:
        await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.IDLE)
        await connection.start_print("bracket.gcode.3mf")
        await recorder.wait_for(printer.printer_id, printing)
        await connection.pause()
        await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.PAUSED)
        await connection.resume()
        await recorder.wait_for(
            printer.printer_id, lambda s: s.state is PrinterState.PRINTING and s.stage == "printing"
        )
        await connection.stop()
        ended = await recorder.wait_for(printer.printer_id, lambda s: s.state.is_terminal)
    assert ended.state is PrinterState.CANCELLED
    assert ended.file_name == "bracket.gcode.3mf"
    assert printer.print is not None
    assert printer.print.phase.value == "cancelled"
    sent = [c["print"]["command"] for c in printer.commands_received if "print" in c]
    assert sent == ["project_file", "pause", "resume", "stop"]


async def test_commands_to_an_unreachable_printer_raise_not_connected(printer: SimulatedBambuPrinter) -> None:
    connection = connect(printer.printer_config(), Recorder())
    with pytest.raises(PrinterNotConnected):
        await connection.pause()


async def test_finish_and_failure_are_reported_and_stay(printer: SimulatedBambuPrinter) -> None:
    recorder = Recorder()
    async with running(connect(printer.printer_config(), recorder)):
        await printer.start_print("quick.3mf", duration_s=0.3, prepare_s=0)
        finished = await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.FINISHED)
        await printer.start_print("doomed.3mf", duration_s=30, prepare_s=0)
        await recorder.wait_for(printer.printer_id, lambda s: printing(s) and s.file_name == "doomed.3mf")
        await printer.fail()
        failed = await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.FAILED)
        await asyncio.sleep(0.3)
    assert finished.progress == 100.0
    assert failed.error_codes[0] == "0300800A"
    assert recorder.of(printer.printer_id)[-1].state is PrinterState.FAILED


async def test_placeholder_after_reconnect_is_not_a_state_change(printer: SimulatedBambuPrinter) -> None:
    await printer.start_print("long.gcode.3mf", duration_s=8, prepare_s=0)
    recorder = Recorder()
    observer = CountingObserver()
    async with running(connect(printer.printer_config(), recorder, observer)):
        await recorder.wait_for(printer.printer_id, printing)
        await printer.disconnect(0.3)
        down = await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.OFFLINE)
        mark = recorder.of(printer.printer_id).index(down)
        await recorder.wait_for(printer.printer_id, printing, after=mark)
        received = observer.reports
        await printer.send_placeholder()
        for _ in range(100):
            if observer.reports > received:
                break
            await asyncio.sleep(0.02)
        placeholder_at = len(recorder.of(printer.printer_id))
        # regular reports after the placeholder still apply (the kept state was not poisoned)
        later = await recorder.wait_for(printer.printer_id, printing, after=placeholder_at)
    after_reconnect = recorder.of(printer.printer_id)[mark + 1 :]
    assert observer.reports > received
    assert all(s.state is PrinterState.PRINTING for s in after_reconnect)
    assert {s.job_name for s in after_reconnect} == {"long"}
    assert all((s.progress or 0) > 0 for s in after_reconnect), [
        (s.state.value, s.progress, s.raw_state) for s in recorder.of(printer.printer_id)
    ]
    assert later.file_name == "long.gcode.3mf"


async def test_other_printer_keeps_updating_while_one_broker_is_down(farm: BambuFarm) -> None:
    first, second = farm[0], farm[1]
    await first.start_print("a.3mf", duration_s=30, prepare_s=0)
    await second.start_print("b.3mf", duration_s=30, prepare_s=0)
    recorder = Recorder()
    async with (
        running(connect(first.printer_config(), recorder)),
        running(connect(second.printer_config(), recorder)),
    ):
        await recorder.wait_for(first.printer_id, printing)
        await recorder.wait_for(second.printer_id, printing)
        outage = asyncio.create_task(first.disconnect(1.5))
        await recorder.wait_for(first.printer_id, lambda s: s.state is PrinterState.OFFLINE)
        during = len(recorder.of(second.printer_id))
        await asyncio.sleep(0.8)
        updates = recorder.of(second.printer_id)[during:]
        assert first.broker is not None
        assert not first.broker.running
        await outage
    assert len(updates) >= 3
    assert all(printing(s) for s in updates)
    assert updates[-1].progress is not None
    assert updates[0].progress is not None
    assert updates[-1].progress > updates[0].progress


async def test_silent_printer_is_probed_then_dropped_as_timeout(mosquitto_binary: str, tmp_path: Path) -> None:
    # On a shared broker a printer that leaves is silence, not a closed socket: only the watchdog can tell.
    async with BambuFarm(
        1, workdir=tmp_path, shared_broker=True, report_interval_s=0.1, mosquitto=mosquitto_binary
    ) as farm:
        printer = farm[0]
        recorder = Recorder()
        async with running(connect(printer.printer_config(), recorder, watchdog_s=0.4, watchdog_grace_s=0.3)):
            await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.IDLE)
            await asyncio.sleep(0.6)  # idle printers send nothing: the probe answer keeps the link up
            assert any("info" in command for command in printer.commands_received)
            assert recorder.of(printer.printer_id)[-1].state is PrinterState.IDLE
            outage = asyncio.create_task(printer.disconnect(1.5))
            status = await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.OFFLINE)
            await outage
    assert status.offline_reason is OfflineReason.TIMEOUT
