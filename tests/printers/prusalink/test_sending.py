"""Sending a print to PrusaLink: the adapter's upload and start against the simulated printer, over loopback."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from printfleet.domain.dispatch.sending import PrinterBusy, StartRejected, UploadFailed
from printfleet.domain.printer import PrinterConfig, PrinterNotConnected, PrinterState, PrinterStatus
from printfleet.printers.base import Backoff
from printfleet.printers.prusalink.client import PrusaLinkConnection
from printfleet.sim.prusalink import SimulatedPrusaLinkPrinter, StorageShape
from tests.files_samples import bambu_3mf, prusa_bgcode
from tests.printers.print_requests import large_gcode, print_request
from tests.printers.prusalink.test_client import Recorder

POLL = 0.1
SPEED = 3000.0  # the sample .bgcode predicts 2 h 5 min 10 s: about 2.5 s at this speed
NAME = "bracket_0.4n_0.2mm_PETG_MK4S_2h5m.bgcode"


@asynccontextmanager
async def running(config: PrinterConfig) -> AsyncIterator[tuple[PrusaLinkConnection, Recorder]]:
    recorder = Recorder()
    connection = PrusaLinkConnection(config, sink=recorder, backoff=Backoff(initial=0.1, maximum=0.4), timeout_s=2.0)
    task = asyncio.create_task(connection.run())
    try:
        await recorder.wait_for(lambda s: s.state is not PrinterState.OFFLINE)
        yield connection, recorder
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def printing(name: str) -> Callable[[PrinterStatus], bool]:
    return lambda s: s.state is PrinterState.PRINTING and s.job_name == name


@pytest.mark.parametrize("shape", ["buddy", "pi"])
async def test_upload_with_print_after_upload_prints_our_file_for_its_predicted_time(
    shape: StorageShape, tmp_path: Path
) -> None:
    content = prusa_bgcode()
    request = print_request(tmp_path, NAME, content)
    async with (
        SimulatedPrusaLinkPrinter("mk4", storage_shape=shape, speed_factor=SPEED) as sim,
        running(sim.printer_config(poll_interval=POLL)) as (connection, recorder),
    ):
        uploaded = await connection.upload(request, start=True)
        started = await recorder.wait_for(printing(NAME))
        finished = await recorder.wait_for(lambda s: s.state is PrinterState.FINISHED, timeout=10.0)

    storage = "usb" if shape == "buddy" else "local"
    assert PrusaLinkConnection.upload_starts_print is True  # the service sends with start=True, never start()
    assert uploaded.started is True
    assert uploaded.remote_path == f"/{storage}/{NAME}"
    # Buddy reports the 8.3 alias (BRACKE~1.BGC) and the long name as display_name; the long name is used.
    assert started.file_name == f"/{storage}/{NAME}"
    assert started.remaining_seconds is not None
    assert started.remaining_seconds <= 3  # 7510 s predicted / 3000
    assert sim.files[NAME].size == len(content)  # arrived whole
    if shape == "buddy":
        assert finished.job_name == NAME


async def test_upload_without_start_stores_the_file_and_start_prints_it(tmp_path: Path) -> None:
    request = print_request(tmp_path, NAME, prusa_bgcode())
    async with (
        SimulatedPrusaLinkPrinter("mk4", speed_factor=SPEED) as sim,
        running(sim.printer_config(poll_interval=POLL)) as (connection, recorder),
    ):
        uploaded = await connection.upload(request, start=False)
        await asyncio.sleep(3 * POLL)
        idle_meanwhile = connection.status.state
        await connection.start(request, uploaded.remote_path)
        await recorder.wait_for(printing(NAME))

    assert uploaded.started is False
    assert idle_meanwhile is PrinterState.IDLE


async def test_busy_printer_keeps_the_file_raises_printer_busy_and_a_later_start_prints_it(tmp_path: Path) -> None:
    content = prusa_bgcode()
    request = print_request(tmp_path, NAME, content)
    async with (
        SimulatedPrusaLinkPrinter("mk4", speed_factor=SPEED) as sim,
        running(sim.printer_config(poll_interval=POLL)) as (connection, recorder),
    ):
        await sim.start_print("someone_elses.bgcode", duration_s=60)
        await recorder.wait_for(printing("someone_elses.bgcode"))

        with pytest.raises(PrinterBusy) as busy:
            await connection.upload(request, start=True)
        with pytest.raises(PrinterBusy) as busy_start:
            await connection.start(request, f"/usb/{NAME}")
        still = connection.status.job_name
        async with httpx.AsyncClient(auth=connection._make_auth()) as client:
            listed = await client.get(f"{sim.url}/api/v1/files/usb/{NAME}", headers={"Accept": "application/json"})

        await sim.cancel()
        await recorder.wait_for(lambda s: s.state is PrinterState.CANCELLED)
        await connection.start(request, NAME)  # a bare name: the storage the printer reports
        await recorder.wait_for(printing(NAME))

    assert busy.value.stored is True
    assert busy_start.value.stored is True
    assert still == "someone_elses.bgcode"
    assert listed.status_code == 200
    assert listed.json()["display_name"] == NAME
    assert listed.json()["size"] == len(content)


async def test_the_simulator_refuses_an_upload_without_content_length(tmp_path: Path) -> None:
    """The real printers answer 411 without Content-Length; the adapter's uploads above succeed, so it sends it."""

    async def chunked() -> AsyncIterator[bytes]:
        yield prusa_bgcode()

    async with SimulatedPrusaLinkPrinter("mk3", auth="api_key", storage_shape="pi") as sim:
        config = sim.printer_config()
        assert config.api_key is not None
        async with httpx.AsyncClient(headers={"X-Api-Key": config.api_key.reveal()}) as client:
            response = await client.put(
                f"{sim.url}/api/v1/files/local/{NAME}",
                content=chunked(),
                headers={"Content-Type": "application/octet-stream", "Print-After-Upload": "?1"},
            )

    assert "content-length" not in response.request.headers
    assert response.status_code == 411
    assert NAME not in sim.files
    assert sim.current is None


async def test_upload_after_the_digest_nonces_went_stale_goes_through_whole(tmp_path: Path) -> None:
    """Buddy nonces expire within seconds: the upload gets a fresh one first, and the file arrives whole."""
    content = prusa_bgcode() + b"\n" * 600_000  # a few chunks of body
    request = print_request(tmp_path, NAME, content)
    async with (
        SimulatedPrusaLinkPrinter("mk4", nonce_lifetime_s=0.15, speed_factor=SPEED) as sim,
        running(sim.printer_config(poll_interval=1.0)) as (connection, recorder),
    ):
        await asyncio.sleep(0.5)  # every nonce seen so far is stale now
        uploaded = await connection.upload(request, start=True)
        await recorder.wait_for(printing(NAME))

    assert uploaded.started
    assert sim.files[NAME].size == len(content)


async def test_a_file_the_printer_cannot_print_is_start_rejected(tmp_path: Path) -> None:
    request = print_request(tmp_path, "bracket.gcode.3mf", bambu_3mf())
    async with (
        SimulatedPrusaLinkPrinter("mk4") as sim,
        running(sim.printer_config(poll_interval=POLL)) as (connection, _),
    ):
        with pytest.raises(StartRejected, match="415"):
            await connection.upload(request, start=True)

    assert sim.files == {}


async def test_upload_to_a_printer_gone_from_the_network_is_upload_failed(tmp_path: Path) -> None:
    request = print_request(tmp_path, NAME, prusa_bgcode())
    # A long poll interval: the adapter has not noticed yet that the printer is gone.
    async with (
        SimulatedPrusaLinkPrinter("mk4") as sim,
        running(sim.printer_config(poll_interval=30.0)) as (connection, _),
    ):
        await sim.disconnect(30.0)
        assert connection.connected
        with pytest.raises(UploadFailed):
            await connection.upload(request, start=True)

    assert sim.files == {}


async def test_upload_to_an_offline_printer_is_not_connected(tmp_path: Path) -> None:
    request = print_request(tmp_path, NAME, prusa_bgcode())
    async with SimulatedPrusaLinkPrinter("mk4") as sim:
        connection = PrusaLinkConnection(sim.printer_config(), sink=Recorder())  # never run: offline
        with pytest.raises(PrinterNotConnected):
            await connection.upload(request, start=True)


async def test_a_large_file_is_streamed_from_disk_not_held_in_memory(tmp_path: Path) -> None:
    request = large_gcode(tmp_path, "big_part.gcode", 48 * 1024 * 1024)
    async with (
        SimulatedPrusaLinkPrinter("mk4", speed_factor=SPEED) as sim,
        running(sim.printer_config(poll_interval=POLL)) as (connection, _),
    ):
        tracemalloc.start()
        try:
            uploaded = await connection.upload(request, start=True)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert uploaded.started
    assert sim.files["big_part.gcode"].size == request.size_bytes
    assert peak < 16 * 1024 * 1024  # the printer side (the simulator) counts too: it spools to disk past 1 MB
