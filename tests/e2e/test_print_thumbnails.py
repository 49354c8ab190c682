"""A printing card shows the preview of the plate it prints when the print came from the library, and drops it when
the print ends; the picture is the library's own, served to whoever may see the card."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from printfleet.domain.files.threemf import thumbnail_3mf
from printfleet.sim.bambu import BambuFarm
from printfleet.sim.prusalink import SimulatedPrusaLinkPrinter
from tests.e2e.harness import Server, running
from tests.files_samples import PNG, bambu_3mf

pytestmark = pytest.mark.usefixtures("mosquitto_binary")


@pytest.fixture
async def farm(tmp_path: Path) -> AsyncIterator[BambuFarm]:
    # Plate 1 of the sample 3MF is predicted at 5,935 s: about 10 s at 600 times the speed.
    async with BambuFarm(1, workdir=tmp_path / "bambu", report_interval_s=0.1, speed_factor=600) as bambu:
        yield bambu


async def status_of(server: Server, printer_id: str) -> dict[str, Any]:
    body = (await server.client.get(f"/api/v1/printers/{printer_id}")).json()
    status: dict[str, Any] = body["status"]
    return status


async def test_a_card_shows_the_preview_of_the_plate_being_printed(
    sqlite_database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    printer = farm.printer_configs()[0]
    server = Server(sqlite_database_url, [printer], files={"directory": str(tmp_path / "lib")})
    async with running(server):
        file_id = await server.upload("cube.gcode.3mf", bambu_3mf(thumbnails=(1,)))
        await server.send(printer.id, file_id, plate=1)
        await server.wait_printer(printer.id, "printing", timeout=20)

        for _ in range(100):
            if (await status_of(server, printer.id))["thumbnail_url"]:
                break
            await asyncio.sleep(0.05)
        url = (await status_of(server, printer.id))["thumbnail_url"]
        assert url == f"/api/v1/files/{file_id}/thumbnail?plate=1"
        image = await server.client.get(url)
        assert image.status_code == 200
        assert image.content == PNG
        page = (await server.client.get("/")).text
        assert f'<img class="print-thumb" src="{url}"' in page

        await server.wait_printer(printer.id, "finished", timeout=30)
        assert (await status_of(server, printer.id))["thumbnail_url"] is None  # only while it prints


@pytest.mark.parametrize("shape", ["buddy", "pi"])
async def test_a_prusalink_cards_preview_is_the_one_the_printer_serves(
    sqlite_database_url: str, tmp_path: Path, shape: str
) -> None:
    async with SimulatedPrusaLinkPrinter("mk4", poll_interval=0.5, storage_shape=shape) as mk4:
        server = Server(sqlite_database_url, [mk4.printer_config(poll_interval=0.5)])
        async with running(server):
            await mk4.start_print("benchy_0.4n_0.2mm_PLA_MK4_1h2m.bgcode", duration_s=60.0)
            await server.wait_printer("mk4", "printing", timeout=20)

            url = (await status_of(server, "mk4"))["thumbnail_url"]
            assert url is not None
            assert url.startswith("/ui/printers/mk4/preview?of=")
            image = await server.client.get(url)
            assert image.status_code == 200
            assert image.headers["content-type"] == "image/png"
            assert image.content == PNG  # the printer's own, fetched with its credentials
            assert mk4.thumbnail_requests == 1

            await mk4.cancel()
            await server.wait_printer("mk4", "cancelled", timeout=20)
            assert (await status_of(server, "mk4"))["thumbnail_url"] is None
            assert (await server.client.get(url)).status_code == 404  # nothing printing: no picture


async def test_a_print_started_at_a_bambu_printer_shows_the_plate_preview_of_its_project_file(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    printer = farm[0]
    server = Server(database_url, farm.printer_configs(), files={"directory": str(tmp_path / "lib")})
    async with running(server):
        await printer.start_print("gear.gcode.3mf", duration_s=3600 * 600)  # an hour, at 600 times the speed
        await server.wait_printer(printer.printer_id, "printing", timeout=20)
        [job] = await server.wait_jobs(lambda jobs: len(jobs) == 1)
        url = None
        for _ in range(200):  # the project file is read back over FTPS some moments into the print
            if (url := (await status_of(server, printer.printer_id))["thumbnail_url"]) is not None:
                break
            await asyncio.sleep(0.05)
        assert url == f"/api/v1/jobs/{job['id']}/preview"
        image = await server.client.get(url)
        assert image.status_code == 200
        assert image.headers["content-type"] == "image/png"
        assert printer.ftps is not None
        on_printer = thumbnail_3mf(io.BytesIO((printer.ftps.root / "cache" / "gear.gcode.3mf").read_bytes()), 1)
        assert on_printer is not None
        assert image.content == on_printer.data  # the printed plate's own picture

        await printer.cancel()
        await server.wait_printer(printer.printer_id, "cancelled", timeout=20)
        assert (await status_of(server, printer.printer_id))["thumbnail_url"] is None
        assert (await server.client.get(url)).status_code == 200  # kept with the job, for its page
