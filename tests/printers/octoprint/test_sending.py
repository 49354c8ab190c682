"""Sending a print to OctoPrint: the adapter's upload and start against printfleet's OctoPrint simulator (the one
``make demo`` runs) and against the real OctoPrint with its virtual printer."""

from __future__ import annotations

import asyncio
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from printfleet.domain.dispatch.sending import PrinterBusy, StartRejected, UploadFailed
from printfleet.domain.printer import PrinterNotConnected, PrinterState, PrinterStatus
from printfleet.printers.octoprint.client import OctoPrintConnection
from printfleet.sim.octoprint import SimulatedOctoPrintPrinter
from tests.files_samples import prusa_bgcode, prusa_gcode
from tests.printers.octoprint.conftest import OctoPrintServer
from tests.printers.octoprint.recorder import StatusRecorder, octoprint_config, running_adapter
from tests.printers.print_requests import dwell_gcode, large_gcode, print_request

SPEED = 40_000.0  # the sample G-code predicts 1 d 2 h 3 min 4 s: about 2.3 s at this speed


def printing(path: str) -> Callable[[PrinterStatus], bool]:
    return lambda s: s.state is PrinterState.PRINTING and s.file_name == path


def unique(stem: str) -> str:
    """A file name no earlier test used (the real OctoPrint is shared by the session)."""
    return f"{stem}-{uuid.uuid4().hex[:8]}.gcode"


# --- printfleet's simulator --------------------------------------------------------------------------------------


async def test_sim_upload_with_print_prints_our_file_for_its_predicted_time(tmp_path: Path) -> None:
    request = print_request(tmp_path, "bracket_0.2mm_PLA.gcode", prusa_gcode())
    async with (
        SimulatedOctoPrintPrinter("ender", speed_factor=SPEED) as sim,
        running_adapter(sim.printer_config(poll_interval=0.1), push=False) as (adapter, recorder),
    ):
        await recorder.wait_for(lambda s: s.state is PrinterState.IDLE)
        uploaded = await adapter.upload(request, start=True)
        started = await recorder.wait_for(printing(uploaded.remote_path))
        finished = await recorder.wait_for(lambda s: s.state is PrinterState.FINISHED, timeout_s=10.0)

    assert OctoPrintConnection.upload_starts_print is True
    assert uploaded.started is True
    assert uploaded.remote_path == "bracket_0.2mm_PLA.gcode"
    assert started.remaining_seconds is not None
    assert started.remaining_seconds <= 3  # 93784 s predicted / 40000
    assert finished.file_name == uploaded.remote_path
    assert sim.files[uploaded.remote_path].size == request.size_bytes


async def test_sim_upload_while_printing_is_stored_but_refused_and_a_later_start_prints_it(tmp_path: Path) -> None:
    request = print_request(tmp_path, "bracket.gcode", prusa_gcode())
    async with (
        SimulatedOctoPrintPrinter("ender", speed_factor=SPEED) as sim,
        running_adapter(sim.printer_config(poll_interval=0.1), push=False) as (adapter, recorder),
    ):
        await sim.start_print("someone_elses.gcode", duration_s=60)
        await recorder.wait_for(printing("someone_elses.gcode"))
        with pytest.raises(PrinterBusy) as busy:
            await adapter.upload(request, start=True)
        with pytest.raises(PrinterBusy) as busy_start:
            await adapter.start(request, "bracket.gcode")
        still = sim.selected

        await sim.cancel()
        await recorder.wait_for(lambda s: s.state is PrinterState.CANCELLED)
        await adapter.start(request, "bracket.gcode")
        await recorder.wait_for(printing("bracket.gcode"))

    assert busy.value.stored is True
    assert "effectivePrint" in busy.value.message
    assert busy_start.value.stored is True
    assert still == "someone_elses.gcode"


async def test_sim_refuses_a_file_octoprint_cannot_print(tmp_path: Path) -> None:
    request = print_request(tmp_path, "bracket.bgcode", prusa_bgcode())
    async with (
        SimulatedOctoPrintPrinter("ender") as sim,
        running_adapter(sim.printer_config(poll_interval=0.1), push=False) as (adapter, recorder),
    ):
        await recorder.wait_for(lambda s: s.state is PrinterState.IDLE)
        with pytest.raises(StartRejected, match="415"):
            await adapter.upload(request, start=True)

    assert sim.files == {}


async def test_sim_upload_to_a_server_gone_from_the_network_is_upload_failed(tmp_path: Path) -> None:
    request = print_request(tmp_path, "bracket.gcode", prusa_gcode())
    async with (
        SimulatedOctoPrintPrinter("ender") as sim,
        running_adapter(sim.printer_config(poll_interval=30.0), push=False) as (adapter, recorder),
    ):
        await recorder.wait_for(lambda s: s.state is PrinterState.IDLE)
        await sim.disconnect(30.0)
        with pytest.raises(UploadFailed):
            await adapter.upload(request, start=True)

    assert sim.files == {}


async def test_upload_to_an_offline_server_is_not_connected(tmp_path: Path) -> None:
    request = print_request(tmp_path, "bracket.gcode", prusa_gcode())
    async with SimulatedOctoPrintPrinter("ender") as sim:
        adapter = OctoPrintConnection(sim.printer_config(), sink=StatusRecorder())  # never run: offline
        with pytest.raises(PrinterNotConnected):
            await adapter.upload(request, start=True)


# --- the real OctoPrint ------------------------------------------------------------------------------------------


@pytest.mark.octoprint
async def test_real_octoprint_prints_our_upload_and_refuses_a_second_one_meanwhile(
    octoprint: OctoPrintServer, tmp_path: Path
) -> None:
    first = print_request(tmp_path, unique("first"), dwell_gcode(4.0))
    second = print_request(tmp_path, unique("second"), dwell_gcode(1.0))
    async with running_adapter(octoprint_config(octoprint.url, octoprint.api_key)) as (adapter, recorder):
        await recorder.wait_for(lambda s: s.state is not PrinterState.OFFLINE)  # may show the last test's print
        uploaded = await adapter.upload(first, start=True)
        await recorder.wait_for(printing(first.remote_name))

        with pytest.raises(PrinterBusy) as busy:
            await adapter.upload(second, start=True)
        listed = await asyncio.to_thread(lambda: octoprint.request("GET", "/api/files/local/" + second.remote_name))
        still = await asyncio.to_thread(lambda: octoprint.request("GET", "/api/job").json()["job"]["file"]["path"])

        await recorder.wait_for(
            lambda s: s.state is PrinterState.FINISHED and s.file_name == first.remote_name, timeout_s=30.0
        )
        # PrintDone comes a moment before OctoPrint is ready for the next file (it answers 409 until then).
        await asyncio.to_thread(lambda: octoprint.wait_until(lambda: octoprint.flags().get("ready"), timeout_s=10))
        await adapter.start(second, second.remote_name)
        await recorder.wait_for(printing(second.remote_name))

    assert uploaded.started is True
    assert uploaded.remote_path == first.remote_name
    assert busy.value.stored is True
    assert listed.status_code == 200
    assert listed.json()["size"] == second.size_bytes
    assert still == first.remote_name


@pytest.mark.octoprint
async def test_real_octoprint_refuses_an_upload_over_the_file_being_printed(
    octoprint: OctoPrintServer, tmp_path: Path
) -> None:
    request = print_request(tmp_path, unique("again"), dwell_gcode(4.0))
    async with running_adapter(octoprint_config(octoprint.url, octoprint.api_key)) as (adapter, recorder):
        await recorder.wait_for(lambda s: s.state is not PrinterState.OFFLINE)  # may show the last test's print
        await adapter.upload(request, start=True)
        await recorder.wait_for(printing(request.remote_name))
        with pytest.raises(PrinterBusy) as busy:
            await adapter.upload(request, start=True)

    assert busy.value.stored is False
    assert "409" in busy.value.message


async def test_sim_a_large_file_is_streamed_from_disk_not_held_in_memory(tmp_path: Path) -> None:
    request = large_gcode(tmp_path, "big_part.gcode", 48 * 1024 * 1024)
    async with (
        SimulatedOctoPrintPrinter("ender", speed_factor=SPEED) as sim,
        running_adapter(sim.printer_config(poll_interval=0.1), push=False) as (adapter, recorder),
    ):
        await recorder.wait_for(lambda s: s.state is PrinterState.IDLE)
        tracemalloc.start()
        try:
            uploaded = await adapter.upload(request, start=True)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert uploaded.started
    assert sim.files["big_part.gcode"].size == request.size_bytes
    assert peak < 16 * 1024 * 1024  # the server side (the simulator) counts too: it spools to disk past 1 MB
