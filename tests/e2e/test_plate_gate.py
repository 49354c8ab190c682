"""The plate-clear gate and the preconditions of sending a print, end to end.

Simulated Bambu Lab printers (MQTT over TLS through mosquitto) and a simulated PrusaLink printer report to a real
printfleet server on SQLite and on PostgreSQL; the assertions read the public API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from printfleet.domain.accounts.roles import Role
from printfleet.sim.bambu import BambuFarm
from printfleet.sim.prusalink import SimulatedPrusaLinkPrinter
from tests.e2e.harness import Server, running, statuses
from tests.files_samples import bambu_3mf, prusa_bgcode, prusa_gcode
from tests.support_accounts import bearer_headers

pytestmark = pytest.mark.usefixtures("mosquitto_binary")


@pytest.fixture
async def farm(tmp_path: Path) -> AsyncIterator[BambuFarm]:
    async with BambuFarm(2, workdir=tmp_path / "bambu", report_interval_s=0.1, prepare_s=0.2) as bambu:
        yield bambu


def _server(database_url: str, farm: BambuFarm, tmp_path: Path, *extra: Any, **settings: Any) -> Server:
    return Server(
        database_url, [*farm.printer_configs(), *extra], files={"directory": str(tmp_path / "lib")}, **settings
    )


@pytest.fixture
async def server(database_url: str, farm: BambuFarm, tmp_path: Path) -> AsyncIterator[Server]:
    async with running(_server(database_url, farm, tmp_path)) as started:
        yield started


async def _printer(server: Server, printer_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await server.client.get(f"/api/v1/printers/{printer_id}")).json()
    return body


async def _finish_one_print(server: Server, farm: BambuFarm) -> str:
    printer = farm[0]
    await printer.start_print("benchy.gcode.3mf", duration_s=0.5)
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"])
    await server.wait_printer(printer.printer_id, "finished")
    return printer.printer_id


async def _wait_plate(server: Server, printer_id: str, needs_clearing: bool) -> dict[str, Any]:
    for _ in range(100):
        body = await _printer(server, printer_id)
        if body["status"]["plate_needs_clearing"] is needs_clearing:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"plate_needs_clearing never became {needs_clearing}: {body['status']}")


async def test_an_ended_print_needs_its_plate_cleared_before_printfleet_sends_another(
    server: Server, farm: BambuFarm
) -> None:
    printer_id = await _finish_one_print(server, farm)
    await _wait_plate(server, printer_id, True)
    file_id = await server.upload("cube.gcode.3mf", bambu_3mf())

    refused = await server.client.post(f"/api/v1/printers/{printer_id}/print", json={"file_id": file_id})
    assert refused.status_code == 409, refused.text
    assert refused.json()["reason"] == "plate_not_clear"
    assert (await server.client.get("/api/v1/dispatches")).json()["total"] == 0  # nothing was sent

    targets = (await server.client.get(f"/api/v1/files/{file_id}/targets")).json()
    reasons = {target["printer_id"]: target["reason"] for target in targets}
    assert reasons[printer_id] == "plate_not_clear"
    assert reasons[farm[1].printer_id] is None  # the other printer can take it
    assert targets[0]["available"] is True  # available printers first

    member = await bearer_headers(server.runtime.accounts, username="mia", role=Role.MEMBER)
    denied = await server.client.post(
        f"/api/v1/printers/{printer_id}/plate-cleared", json={"outcome": "good"}, headers=member
    )
    assert denied.status_code == 403

    cleared = await server.client.post(f"/api/v1/printers/{printer_id}/plate-cleared", json={"outcome": "bad"})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["needs_clearing"] is False
    assert cleared.json()["outcome"] == "bad"
    await _wait_plate(server, printer_id, False)
    [job] = await server.jobs()
    assert job["plate_outcome"] == "bad"
    audit = (await server.client.get("/api/v1/audit", params={"action": "plate_cleared"})).json()
    assert audit["records"][0]["target"] == f"printer:{printer_id}"


async def test_the_gate_survives_a_restart_and_a_print_started_at_the_printer_clears_it(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    server = _server(database_url, farm, tmp_path)
    await server.start()
    await server.wait_online()
    printer_id = await _finish_one_print(server, farm)
    await _wait_plate(server, printer_id, True)
    await server.stop()

    again = _server(database_url, farm, tmp_path)
    await again.start()
    try:
        await again.wait_online()
        await _wait_plate(again, printer_id, True)
        # Someone cleared the plate by hand and started a print at the printer: the gate opens by itself.
        await farm[0].start_print("second.gcode.3mf", duration_s=30)
        await _wait_plate(again, printer_id, False)
    finally:
        await again.stop()


async def test_refused_preconditions_send_nothing(database_url: str, farm: BambuFarm, tmp_path: Path) -> None:
    async with SimulatedPrusaLinkPrinter(printer_id="mk4") as mk4:
        server = _server(database_url, farm, tmp_path, mk4.printer_config())
        await server.start()
        try:
            await server.wait_online()
            three_mf = await server.upload("cube.gcode.3mf", bambu_3mf(printer_model="Bambu Lab P1S"))
            bgcode = await server.upload("part.bgcode", prusa_bgcode())

            async def refusal(printer_id: str, file_id: int, **body: Any) -> str:
                response = await server.client.post(
                    f"/api/v1/printers/{printer_id}/print", json={"file_id": file_id, **body}
                )
                assert response.status_code == 409, response.text
                reason: str = response.json()["reason"]
                return reason

            assert await refusal("mk4", three_mf) == "incompatible"  # a Bambu file on a Prusa
            assert await refusal(farm[0].printer_id, bgcode) == "incompatible"  # binary G-code on a Bambu
            assert await refusal(farm[0].printer_id, three_mf, plate=7) == "incompatible"  # no such plate

            await farm[1].start_print("long.gcode.3mf", duration_s=60)
            await server.wait_printer(farm[1].printer_id, "printing")
            assert await refusal(farm[1].printer_id, three_mf) == "printer_busy"

            member = await bearer_headers(server.runtime.accounts, username="max", role=Role.MEMBER)
            response = await server.client.post(
                f"/api/v1/printers/{farm[0].printer_id}/print", json={"file_id": three_mf}, headers=member
            )
            assert response.status_code == 409
            assert response.json()["reason"] == "reserved"  # members print on what the queue reserved for them

            gcode = await server.upload("part.gcode", prusa_gcode())
            unknown = await server.client.post("/api/v1/printers/nope/print", json={"file_id": gcode})
            assert unknown.status_code == 404
            missing = await server.client.post(f"/api/v1/printers/{farm[0].printer_id}/print", json={"file_id": 999})
            assert missing.status_code == 404

            assert (await server.client.get("/api/v1/dispatches")).json()["total"] == 0
            assert all(job["status"] != "pending" for job in await server.jobs())  # no job waits for a print
        finally:
            await server.stop()
