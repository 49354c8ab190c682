"""Filament used by each print and what it cost, end to end: a simulated Bambu printer (MQTT over TLS through
mosquitto, implicit FTPS, an AMS with two RFID spools, a third-party spool and an empty tray) prints a two-plate 3MF
sent from the library; a real printfleet server on SQLite and PostgreSQL charges the spools. Assertions read the
public API: the job's usage and cost, the spools, the costs report."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from printfleet.domain.files.threemf import read_3mf
from printfleet.domain.printer import PrinterConfig
from printfleet.sim.bambu import BambuFarm
from tests.e2e.harness import Server, running, statuses
from tests.e2e.test_dispatch_bambu import FAST
from tests.files_samples import bambu_3mf

pytestmark = pytest.mark.usefixtures("mosquitto_binary")

WATTS = 150.0
KWH_PRICE = 0.30
HOURLY_RATE = 1.5
DEFAULT_PER_KG = 20.0
BLACK_PER_KG = 25.0
# Plate 1 of the sample uses project filaments 1 (PLA black, 22.10 g) and 3 (PETG orange, 4.25 g); the print maps
# filament 1 to AMS0-T1 (the black RFID spool) and 3 to AMS0-T2 (the untagged PETG: no inventory spool).
MAPPING = [1, -1, 2]


@pytest.fixture
async def farm(tmp_path: Path) -> AsyncIterator[BambuFarm]:
    # Plate 1 is predicted at 5,935 s: about 2 s at 3,000 times the speed.
    async with BambuFarm(
        1, workdir=tmp_path / "bambu", report_interval_s=0.1, prepare_s=0.2, speed_factor=3000
    ) as bambu:
        yield bambu


def _configs(farm: BambuFarm) -> list[PrinterConfig]:
    return [replace(config, average_watts=WATTS, hourly_rate=HOURLY_RATE) for config in farm.printer_configs()]


def _server(database_url: str, farm: BambuFarm, tmp_path: Path) -> Server:
    return Server(
        database_url,
        _configs(farm),
        files={"directory": str(tmp_path / "lib")},
        dispatch_timings=FAST,
        costs={"kwh_price": KWH_PRICE, "default_price_per_kg": DEFAULT_PER_KG, "currency": "EUR"},
    )


@pytest.fixture
async def server(database_url: str, farm: BambuFarm, tmp_path: Path) -> AsyncIterator[Server]:
    async with running(_server(database_url, farm, tmp_path)) as started:
        yield started


async def _slot_spools(server: Server, printer_id: str) -> dict[str, int | None]:
    """The spool in each slot, once both RFID spools were matched."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        body = (await server.client.get(f"/api/v1/printers/{printer_id}/slots")).json()
        spools = {slot["slot"]: slot["spool_id"] for slot in body["slots"]}
        if spools.get("AMS0-T0") and spools.get("AMS0-T1"):
            return spools
        assert loop.time() < deadline, body
        await asyncio.sleep(0.05)


async def _spool(server: Server, spool_id: int) -> dict[str, Any]:
    response = await server.client.get(f"/api/v1/spools/{spool_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _price(server: Server, spool_id: int, per_kg: float) -> None:
    filament_id = (await _spool(server, spool_id))["filament"]["id"]
    response = await server.client.patch(f"/api/v1/filaments/{filament_id}", json={"price_per_kg": per_kg})
    assert response.status_code == 200, response.text


async def _usage(server: Server, job_id: int, *, timeout: float = 10.0) -> dict[str, Any]:
    """The job's usage once its cost is fixed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        response = await server.client.get(f"/api/v1/jobs/{job_id}/usage")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["cost"] is not None:
            return body
        assert loop.time() < deadline, body
        await asyncio.sleep(0.05)


async def _send(server: Server, printer_id: str, file_id: int) -> dict[str, Any]:
    body = {"file_id": file_id, "plate": 1, "options": {"ams_mapping": MAPPING}}
    response = await server.client.post(f"/api/v1/printers/{printer_id}/print", json=body)
    assert response.status_code == 202, response.text
    dispatch: dict[str, Any] = response.json()
    return dispatch


async def test_a_print_charges_the_grams_of_its_plate_to_the_mapped_spools_once_and_fixes_its_cost(
    server: Server, farm: BambuFarm
) -> None:
    printer = farm[0]
    spools = await _slot_spools(server, printer.printer_id)
    white, black = spools["AMS0-T0"], spools["AMS0-T1"]
    assert white is not None
    assert black is not None
    assert spools["AMS0-T2"] is None
    await _price(server, black, BLACK_PER_KG)
    used_before = {spool: (await _spool(server, spool))["used_weight_g"] for spool in (white, black)}
    file_id = await server.upload("Bracket.gcode.3mf", bambu_3mf())

    dispatch = await _send(server, printer.printer_id, file_id)
    [job] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"], timeout=20)
    assert job["id"] == (await server.wait_dispatch(dispatch["id"], "started"))["job_id"]
    usage = await _usage(server, job["id"])

    lines = {line["slot"]: line for line in usage["lines"]}
    assert set(lines) == {"AMS0-T1", "AMS0-T2"}  # only plate 1, only the slots it used
    assert (lines["AMS0-T1"]["spool_id"], lines["AMS0-T1"]["grams"]) == (black, 22.10)
    assert (lines["AMS0-T2"]["spool_id"], lines["AMS0-T2"]["grams"]) == (None, 4.25)
    assert {line["source"] for line in usage["lines"]} == {"file"}
    assert (await _spool(server, black))["used_weight_g"] == pytest.approx(used_before[black] + 22.10)
    assert (await _spool(server, white))["used_weight_g"] == used_before[white]  # not used: never charged

    cost = usage["cost"]
    hours = cost["printing_hours"]
    assert cost["currency"] == "EUR"
    assert cost["material_grams"] == 26.35
    assert cost["material_cost"] == pytest.approx(22.10 * BLACK_PER_KG / 1000 + 4.25 * DEFAULT_PER_KG / 1000)
    assert hours == pytest.approx(job["duration_seconds"] / 3600, abs=1e-4)
    assert cost["energy_kwh"] == pytest.approx(WATTS * hours / 1000, abs=1e-4)
    assert cost["energy_cost"] == pytest.approx(WATTS * hours / 1000 * KWH_PRICE, abs=1e-4)
    assert cost["machine_cost"] == pytest.approx(HOURLY_RATE * hours, abs=1e-4)
    assert cost["total"] == pytest.approx(cost["material_cost"] + cost["energy_cost"] + cost["machine_cost"])

    page = await server.client.get(f"/jobs/{job['id']}")
    assert page.status_code == 200, page.text
    section = page.text[page.text.index('id="job-usage"') :]
    assert "AMS0-T1" in section
    assert "22.1 g" in section
    assert "4.25 g" in section
    assert "none (not deducted)" in section  # the PETG slot holds no inventory spool
    assert "Total" in section
    assert "€" in section

    # A later price edit does not rewrite the cost; a restart does not charge the spool again.
    await _price(server, black, 99.0)
    await server.stop()
    await server.start()
    await server.wait_online()
    await asyncio.sleep(0.5)  # the usage service has started and looked for jobs to settle
    assert (await _usage(server, job["id"]))["cost"] == cost
    assert (await _spool(server, black))["used_weight_g"] == pytest.approx(used_before[black] + 22.10)

    report = (await server.client.get("/api/v1/reports/costs", params={"group_by": "printer"})).json()
    assert report["currency"] == "EUR"
    [row] = report["rows"]
    assert (row["key"], row["jobs"], row["total"], row["failure_share"]) == (printer.printer_id, 1, cost["total"], 0)
    exported = await server.client.get("/api/v1/reports/costs", params={"group_by": "material", "format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["key"], r["jobs"]) for r in rows] == [("PETG+PLA", "1"), ("total", "1")]


async def test_a_failed_print_is_charged_for_what_it_printed(server: Server, farm: BambuFarm) -> None:
    printer = farm[0]
    spools = await _slot_spools(server, printer.printer_id)
    black = spools["AMS0-T1"]
    assert black is not None
    used_before = (await _spool(server, black))["used_weight_g"]
    file_id = await server.upload("Bracket.gcode.3mf", bambu_3mf())
    printer.speed_factor = 600  # about 10 s: failed a third of the way through, however busy the machine is

    await _send(server, printer.printer_id, file_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while printer.print is None or printer.print.layer() < 30:  # about a third of the plate's 100 layers
        assert loop.time() < deadline
        await asyncio.sleep(0.02)
    await printer.fail()
    [job] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["failed"], timeout=20)
    usage = await _usage(server, job["id"])

    charged = {line["slot"]: line["grams"] for line in usage["lines"]}
    assert 0 < charged["AMS0-T1"] < 22.10 * 0.9  # part of the plate, never the whole of it
    assert charged["AMS0-T2"] == pytest.approx(charged["AMS0-T1"] * 4.25 / 22.10, abs=0.02)
    assert (await _spool(server, black))["used_weight_g"] == pytest.approx(used_before + charged["AMS0-T1"])
    report = (await server.client.get("/api/v1/reports/costs", params={"group_by": "outcome"})).json()
    assert [(row["key"], row["failure_share"]) for row in report["rows"]] == [("failed", 1.0)]


async def test_a_print_that_ends_while_the_server_is_down_is_charged_once_from_what_was_recorded_at_its_start(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    printer = farm[0]
    server = _server(database_url, farm, tmp_path)
    await server.start()
    await server.wait_online()
    try:
        spools = await _slot_spools(server, printer.printer_id)
        black = spools["AMS0-T1"]
        assert black is not None
        used_before = (await _spool(server, black))["used_weight_g"]
        printer.speed_factor = 600  # about 10 s: long enough to stop the server mid-print
        file_id = await server.upload("Bracket.gcode.3mf", bambu_3mf())
        await _send(server, printer.printer_id, file_id)
        await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"], timeout=20)
        await asyncio.sleep(0.5)  # the tracking is recorded
        await server.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while printer.print is None or printer.print.active:  # it finishes while printfleet is down
            assert loop.time() < deadline
            await asyncio.sleep(0.1)

        await server.start()
        await server.wait_online()
        [job] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"], timeout=20)
        usage = await _usage(server, job["id"])
        assert {line["slot"]: line["grams"] for line in usage["lines"]} == {"AMS0-T1": 22.10, "AMS0-T2": 4.25}
        assert (await _spool(server, black))["used_weight_g"] == pytest.approx(used_before + 22.10)
    finally:
        await server.stop()


async def test_a_print_started_on_the_printer_is_charged_from_its_project_file_read_back_over_ftps(
    server: Server, farm: BambuFarm
) -> None:
    printer = farm[0]
    spools = await _slot_spools(server, printer.printer_id)
    white = spools["AMS0-T0"]
    assert white is not None
    used_before = (await _spool(server, white))["used_weight_g"]

    await printer.start_print("Widget.gcode.3mf", duration_s=3.0, total_layers=50)  # from the printer's screen
    [job] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"], timeout=20)
    usage = await _usage(server, job["id"])

    assert printer.ftps is not None
    assert printer.ftps.downloads_completed == 1  # read once, from where the slicer's "send" left it
    project = read_3mf(io.BytesIO((printer.ftps.root / "cache" / "Widget.gcode.3mf").read_bytes()))
    [filament] = project.plates[0].filaments
    [line] = usage["lines"]
    assert (line["slot"], line["spool_id"], line["source"]) == ("AMS0-T0", white, "file")  # the tray seen feeding
    assert line["grams"] == filament.used_g
    assert line["confidence"] == "high"  # mapped by the printer's own report (print.mapping)
    assert (await _spool(server, white))["used_weight_g"] == pytest.approx(used_before + filament.used_g)
