"""Sending a print to a Bambu printer end to end: BambuConnection uploads over implicit FTPS to the simulator's
server and starts the print over MQTT through a real mosquitto; the simulated printer prints the uploaded file."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from printfleet.domain.dispatch.sending import (
    PrintOptions,
    PrintRequest,
    PrintSender,
    StartRejected,
    UploadFailed,
)
from printfleet.domain.files.model import FileKind
from printfleet.domain.printer import PrinterNotConnected, PrinterState, PrinterStatus
from printfleet.printers.bambu.client import BambuConnection
from printfleet.printers.bambu.sending import UploadLimits
from printfleet.sim.bambu import BambuFarm, SimulatedBambuPrinter
from tests.files_samples import bambu_3mf, cura_gcode, prusa_bgcode
from tests.printers.bambu.test_client import Recorder, connect, running

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(60)]

PLATE_1_PREDICTION_S = 5935  # tests/files_samples.py SLICE_INFO


@pytest.fixture
async def printer(mosquitto_binary: str, tmp_path: Path) -> AsyncIterator[SimulatedBambuPrinter]:
    async with BambuFarm(
        1,
        workdir=tmp_path / "farm",
        report_interval_s=0.1,
        prepare_s=0.2,
        speed_factor=PLATE_1_PREDICTION_S / 1.5,  # plate 1 prints in 1.5 s
        mosquitto=mosquitto_binary,
    ) as farm:
        yield farm[0]


def _request(
    source: Path,
    kind: FileKind,
    *,
    job_name: str = "Bracket for Ann",
    attempt: int = 1,
    options: PrintOptions | None = None,
) -> PrintRequest:
    return PrintRequest(
        source=source,
        remote_name=source.name,
        kind=kind,
        plate=1,
        job_name=job_name,
        attempt=attempt,
        size_bytes=source.stat().st_size,
        options=options or PrintOptions(),
    )


def _sample(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _sd(printer: SimulatedBambuPrinter) -> Path:
    assert printer.ftps is not None
    return printer.ftps.root


def _idle(status: PrinterStatus) -> bool:
    return status.state is PrinterState.IDLE


async def test_upload_then_start_prints_the_file_under_our_job_name(
    printer: SimulatedBambuPrinter, tmp_path: Path
) -> None:
    source = _sample(tmp_path, "bracket.gcode.3mf", bambu_3mf())
    recorder = Recorder()
    connection = connect(printer.printer_config(), recorder)
    sender: PrintSender = connection
    assert sender.upload_starts_print is False
    async with running(connection):
        await recorder.wait_for(printer.printer_id, _idle)
        request = _request(source, FileKind.GCODE_3MF, options=PrintOptions(ams_mapping=(0, -1, 2), timelapse=True))

        uploaded = await sender.upload(request, start=False)
        assert uploaded.remote_path == "/bracket.gcode.3mf"
        assert not uploaded.started
        assert (_sd(printer) / "bracket.gcode.3mf").read_bytes() == source.read_bytes()

        await sender.start(request, uploaded.remote_path)
        printing = await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.PRINTING)
        finished = await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.FINISHED)

    assert printing.job_name == "Bracket for Ann"
    assert printing.file_name == "bracket.gcode.3mf"
    [sent] = printer.start_commands
    assert sent["command"] == "project_file"
    assert (sent["param"], sent["url"], sent["md5"]) == ("Metadata/plate_1.gcode", "ftp:///bracket.gcode.3mf", "")
    assert (sent["use_ams"], sent["ams_mapping"], sent["timelapse"]) == (True, [0, -1, 2], True)
    assert printing.native_job_id == sent["task_id"] != "0"
    assert finished.job_name == "Bracket for Ann"
    assert finished.progress == 100


async def test_every_attempt_gets_fresh_ids_and_a_dropped_start_leaves_the_printer_idle(
    printer: SimulatedBambuPrinter, tmp_path: Path
) -> None:
    source = _sample(tmp_path, "clip.gcode.3mf", bambu_3mf())
    printer.drop_starts = 1  # the first start is lost, as on a half-broken MQTT session
    recorder = Recorder()
    async with running(connect(printer.printer_config(), recorder, command_timeout_s=0.5)) as connection:
        await recorder.wait_for(printer.printer_id, _idle)
        first = _request(source, FileKind.GCODE_3MF, job_name="Clip", attempt=1)
        remote = (await connection.upload(first)).remote_path

        await connection.start(first, remote)  # no answer, no error: confirming is the caller's business
        await asyncio.sleep(0.5)
        assert printer.print is None
        assert recorder.of(printer.printer_id)[-1].state is PrinterState.IDLE

        second = _request(source, FileKind.GCODE_3MF, job_name="Clip", attempt=2)
        await connection.start(second, remote)
        status = await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.PRINTING)

    ids = [(body["task_id"], body["subtask_id"], body["project_id"]) for body in printer.start_commands]
    assert len(ids) == 2
    assert ids[0] != ids[1]
    assert all(0 < int(value) < 2**31 for triple in ids for value in triple)
    assert status.native_job_id == ids[1][0]
    assert status.job_name == "Clip"


async def test_a_busy_printer_ignores_the_start_and_its_print_goes_on(
    printer: SimulatedBambuPrinter, tmp_path: Path
) -> None:
    source = _sample(tmp_path, "second.gcode.3mf", bambu_3mf())
    await printer.start_print("first.gcode.3mf", duration_s=60, prepare_s=0)
    recorder = Recorder()
    async with running(connect(printer.printer_config(), recorder, command_timeout_s=0.5)) as connection:
        await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.PRINTING)
        request = _request(source, FileKind.GCODE_3MF, job_name="Second")
        await connection.start(request, (await connection.upload(request)).remote_path)
        await asyncio.sleep(0.5)
        last = recorder.of(printer.printer_id)[-1]

    assert last.state is PrinterState.PRINTING
    assert last.file_name == "first.gcode.3mf"
    assert printer.print is not None
    assert printer.print.file_name == "first.gcode.3mf"
    assert len(printer.start_commands) == 1


async def test_plain_gcode_starts_with_gcode_file_and_its_sd_card_path(
    printer: SimulatedBambuPrinter, tmp_path: Path
) -> None:
    source = _sample(tmp_path, "cube.gcode", cura_gcode())  # ;TIME:3723
    printer.speed_factor = 3723 / 1.0
    recorder = Recorder()
    async with running(connect(printer.printer_config(), recorder)) as connection:
        await recorder.wait_for(printer.printer_id, _idle)
        request = _request(source, FileKind.GCODE, job_name="Cube")
        uploaded = await connection.upload(request)
        await connection.start(request, uploaded.remote_path)
        printing = await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.PRINTING)
        await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.FINISHED)

    [sent] = printer.start_commands
    assert (sent["command"], sent["param"]) == ("gcode_file", "/sdcard/cube.gcode")
    assert (printing.file_name, printing.job_name) == ("cube.gcode", "cube")  # gcode_file carries no job name


async def test_binary_gcode_is_refused_before_anything_is_sent(printer: SimulatedBambuPrinter, tmp_path: Path) -> None:
    source = _sample(tmp_path, "box.bgcode", prusa_bgcode())
    request = _request(source, FileKind.BGCODE)
    recorder = Recorder()
    async with running(connect(printer.printer_config(), recorder)) as connection:
        await recorder.wait_for(printer.printer_id, _idle)
        with pytest.raises(StartRejected, match="incompatible"):
            await connection.upload(request)
        with pytest.raises(StartRejected, match="incompatible"):
            await connection.start(request, "/box.bgcode")
    assert not (_sd(printer) / "box.bgcode").exists()
    assert printer.start_commands == []


async def test_start_without_the_mqtt_connection_raises_not_connected(
    printer: SimulatedBambuPrinter, tmp_path: Path
) -> None:
    source = _sample(tmp_path, "plate.gcode.3mf", bambu_3mf())
    connection = connect(printer.printer_config(), Recorder())
    request = _request(source, FileKind.GCODE_3MF)
    uploaded = await connection.upload(request)  # FTPS needs no MQTT session
    with pytest.raises(PrinterNotConnected):
        await connection.start(request, uploaded.remote_path)
    assert printer.start_commands == []


async def test_upload_to_a_stopped_ftps_server_fails_without_the_access_code(
    printer: SimulatedBambuPrinter, tmp_path: Path
) -> None:
    source = _sample(tmp_path, "plate.gcode.3mf", bambu_3mf())
    assert printer.ftps is not None
    printer.ftps.stop()
    connection = connect(printer.printer_config(), Recorder())
    with pytest.raises(UploadFailed) as failed:
        await connection.upload(_request(source, FileKind.GCODE_3MF))
    assert "unreachable" in failed.value.message
    assert printer.access_code not in str(failed.value)


async def test_an_upload_past_its_deadline_fails_as_timed_out(printer: SimulatedBambuPrinter, tmp_path: Path) -> None:
    source = _sample(tmp_path, "plate.gcode.3mf", bambu_3mf())
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts TCP, never answers the TLS handshake
        config = printer.printer_config().replace(ftp_port=silent.getsockname()[1])
        limits = UploadLimits(floor_bytes_per_s=1e9, minimum_s=0.5, timeout_s=30.0)
        connection = BambuConnection(config, sink=Recorder(), upload_limits=limits)
        began = asyncio.get_running_loop().time()
        with pytest.raises(UploadFailed, match="timed out"):
            await connection.upload(_request(source, FileKind.GCODE_3MF))
    assert asyncio.get_running_loop().time() - began < 5  # the deadline, not the 30 s per-step timeout
