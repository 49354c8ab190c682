"""Spoolman, end to end: a Spoolman stand-in written from Spoolman's API description (``PUT /spool/{id}/use`` adds on
every call; a websocket change feed), a simulated Bambu printer printing a plate sent from the library, a real
printfleet server (SQLite and PostgreSQL). Spoolman's spools are mirrored into printfleet and kept current by the
feed; the one put in the black tray's slot is charged, and each print's grams reach Spoolman exactly once: also when
the answer is lost after Spoolman applied it, and again when Spoolman failed before."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from printfleet.sim.bambu import BambuFarm
from printfleet.sim.moonraker import SimulatedMoonrakerPrinter
from printfleet.sim.spoolman import SpoolmanStandIn, StandInSpool
from tests.e2e.harness import Server, running, statuses
from tests.e2e.test_dispatch_bambu import FAST
from tests.e2e.test_usage_costs import MAPPING, _slot_spools, _spool
from tests.files_samples import bambu_3mf

pytestmark = pytest.mark.usefixtures("mosquitto_binary")

PLATE_BLACK_G = 22.10  # plate 1 of the sample: black PLA on AMS0-T1 by the mapping


@pytest.fixture
async def farm(tmp_path: Path) -> AsyncIterator[BambuFarm]:
    async with BambuFarm(
        1, workdir=tmp_path / "bambu", report_interval_s=0.1, prepare_s=0.2, speed_factor=3000
    ) as bambu:
        yield bambu


@pytest.fixture
async def spoolman() -> AsyncIterator[SpoolmanStandIn]:
    async with SpoolmanStandIn() as stand_in:
        yield stand_in


@pytest.fixture
async def server(
    database_url: str, farm: BambuFarm, spoolman: SpoolmanStandIn, tmp_path: Path
) -> AsyncIterator[Server]:
    settings = {"url": spoolman.url, "timeout": 0.5, "retry_initial": 0.2, "retry_max": 0.5}
    async with running(
        Server(
            database_url,
            farm.printer_configs(),
            files={"directory": str(tmp_path / "lib")},
            dispatch_timings=FAST,
            spoolman=settings,
        )
    ) as started:
        yield started


async def _mirrored(server: Server, spoolman_id: int, *, timeout: float = 10.0, **expect: Any) -> dict[str, Any]:
    """printfleet's spool linked to Spoolman spool ``spoolman_id``, once it has the ``expect`` values."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        body = (await server.client.get("/api/v1/spools", params={"limit": 500})).json()
        archived = (await server.client.get("/api/v1/spools", params={"limit": 500, "archived": "true"})).json()
        for spool in body["spools"] + archived["spools"]:
            if spool["spoolman_id"] == spoolman_id and all(spool.get(k) == v for k, v in expect.items()):
                return dict(spool)
        assert loop.time() < deadline, f"no spool linked to {spoolman_id} with {expect}"
        await asyncio.sleep(0.05)


async def _until(server: Server, spool_id: int, ready: Any, *, timeout: float = 10.0) -> dict[str, Any]:
    """printfleet's spool ``spool_id`` once ``ready(spool)``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not ready(spool := await _spool(server, spool_id)):
        assert loop.time() < deadline, spool
        await asyncio.sleep(0.05)
    return spool


async def _linked(server: Server, farm: BambuFarm, spoolman: SpoolmanStandIn) -> tuple[int, StandInSpool]:
    """A new Spoolman spool with 100 g used, mirrored into printfleet and put in the black tray's slot."""
    await _slot_spools(server, farm[0].printer_id)
    remote = spoolman.add_spool(
        spoolman.add_filament("PLA Matte Black", "PLA", color_hex="000000", vendor="Polymaker"), used_weight=100.0
    )
    local = await _mirrored(server, remote.id)
    response = await server.client.put(
        f"/api/v1/printers/{farm[0].printer_id}/slots/AMS0-T1", json={"spool_id": local["id"]}
    )
    assert response.status_code == 200, response.text
    return int(local["id"]), remote


async def _print_plate(server: Server, farm: BambuFarm) -> None:
    file_id = await server.upload("Bracket.gcode.3mf", bambu_3mf())
    body = {"file_id": file_id, "plate": 1, "options": {"ams_mapping": MAPPING}}
    response = await server.client.post(f"/api/v1/printers/{farm[0].printer_id}/print", json=body)
    assert response.status_code == 202, response.text
    await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"], timeout=20)


async def _reports(server: Server, state: str, count: int, *, timeout: float = 15.0) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        body: dict[str, Any] = (await server.client.get("/api/v1/spoolman")).json()
        if body["reports"].get(state) == count:
            return body
        assert loop.time() < deadline, body
        await asyncio.sleep(0.05)


async def test_a_print_reports_its_grams_to_the_linked_spoolman_spool_once(
    server: Server, farm: BambuFarm, spoolman: SpoolmanStandIn
) -> None:
    _, remote = await _linked(server, farm, spoolman)

    await _print_plate(server, farm)
    status = await _reports(server, "sent", 1)

    assert status["configured"] is True
    assert status["reachable"] is True
    assert remote.used_weight == pytest.approx(100.0 + PLATE_BLACK_G)
    assert [use.body for use in spoolman.uses()] == [{"use_weight": PLATE_BLACK_G}]
    await asyncio.sleep(0.6)  # past a retry interval: nothing is sent again
    assert len(spoolman.uses()) == 1


async def test_a_use_spoolman_applied_but_whose_answer_was_lost_is_not_sent_again(
    server: Server, farm: BambuFarm, spoolman: SpoolmanStandIn
) -> None:
    _, remote = await _linked(server, farm, spoolman)
    spoolman.fail_next_use(mode="slow", slow_s=1.5)  # applied, answered after printfleet's 0.5 s timeout

    await _print_plate(server, farm)
    await _reports(server, "sent", 1)

    assert len(spoolman.uses()) == 1  # read back, found applied: never charged twice
    assert remote.used_weight == pytest.approx(100.0 + PLATE_BLACK_G)


async def test_a_use_spoolman_failed_is_sent_again_until_it_is_there(
    server: Server, farm: BambuFarm, spoolman: SpoolmanStandIn
) -> None:
    _, remote = await _linked(server, farm, spoolman)
    spoolman.fail_next_use(2, mode="error")  # 500, not applied, twice

    await _print_plate(server, farm)
    await _reports(server, "sent", 1)

    assert [use.status for use in spoolman.uses()] == [500, 500, 200]
    assert remote.used_weight == pytest.approx(100.0 + PLATE_BLACK_G)


async def test_a_report_to_a_spool_spoolman_no_longer_has_is_gone_and_the_spool_is_unlinked(
    server: Server, farm: BambuFarm, spoolman: SpoolmanStandIn
) -> None:
    local, remote = await _linked(server, farm, spoolman)
    spoolman.delete_spool(remote.id, announce=False)  # the feed did not say so

    await _print_plate(server, farm)
    await _reports(server, "gone", 1)

    assert (await _spool(server, local))["spoolman_id"] is None
    assert spoolman.uses() == []
    slots = (await server.client.get(f"/api/v1/printers/{farm[0].printer_id}/slots")).json()["slots"]
    assert next(slot for slot in slots if slot["slot"] == "AMS0-T1")["spool"] is None  # the slot is unassigned


async def test_spoolmans_spools_are_mirrored_at_start_and_kept_current_by_its_feed(
    database_url: str, farm: BambuFarm, spoolman: SpoolmanStandIn, tmp_path: Path
) -> None:
    petg = spoolman.add_filament("PETG HF", "PETG", density=1.27, price=24.0, color_hex="FF6A13", vendor="Bambu Lab")
    first = spoolman.add_spool(petg, used_weight=250.0, location="shelf 3")
    settings = {"url": spoolman.url, "timeout": 0.5, "retry_initial": 0.2, "retry_max": 0.5}
    server = Server(database_url, farm.printer_configs(), spoolman=settings)
    async with running(server):
        mirrored = await _mirrored(server, first.id, used_weight_g=250.0)
        assert mirrored["location"] == "shelf 3"
        assert (mirrored["filament"]["material"], mirrored["filament"]["density_g_cm3"]) == ("PETG", 1.27)
        assert mirrored["filament"]["price_per_spool"] == 24.0
        assert mirrored["filament"]["vendor"]["name"] == "Bambu Lab"

        spoolman.change_spool(first.id, used_weight=400.0)  # weighed in Spoolman
        await _mirrored(server, first.id, used_weight_g=400.0)
        second = spoolman.add_spool(petg)
        again = await _mirrored(server, second.id, used_weight_g=0.0)
        assert again["filament"]["id"] == mirrored["filament"]["id"]  # the same filament, not a copy
        spoolman.delete_spool(second.id)
        deleted = await _until(server, again["id"], lambda spool: spool["archived"])
        assert deleted["spoolman_id"] is None

        await spoolman.stop()  # Spoolman goes away; a change made meanwhile is read when it is back
        spoolman.change_spool(first.id, used_weight=500.0)
        await spoolman.start()
        await _mirrored(server, first.id, used_weight_g=500.0, timeout=15.0)


@pytest.mark.parametrize("own_link", [False, True], ids=["moonraker-alone", "moonraker-with-spoolman"])
async def test_a_klipper_print_is_reported_unless_moonraker_reports_it_itself(
    database_url: str, spoolman: SpoolmanStandIn, own_link: bool
) -> None:
    remote = spoolman.add_spool(spoolman.add_filament("PLA Basic", "PLA", vendor="Bambu Lab"))
    async with SimulatedMoonrakerPrinter("voron", remote_print_duration_s=1.0, reboot_s=0.1) as voron:
        voron.spoolman_linked = own_link
        settings = {"url": spoolman.url, "timeout": 0.5, "retry_initial": 0.2, "retry_max": 0.5}
        async with running(Server(database_url, [voron.printer_config()], spoolman=settings)) as server:
            local = await _mirrored(server, remote.id)
            response = await server.client.put("/api/v1/printers/voron/slots/T0", json={"spool_id": local["id"]})
            assert response.status_code == 200, response.text
            await voron.start_print("hook.gcode", duration_s=1.5, total_layers=10)
            [job] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"], timeout=20)
            usage = (await server.client.get(f"/api/v1/jobs/{job['id']}/usage")).json()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while usage["cost"] is None:
                assert loop.time() < deadline
                await asyncio.sleep(0.05)
                usage = (await server.client.get(f"/api/v1/jobs/{job['id']}/usage")).json()
            [line] = usage["lines"]
            assert (line["slot"], line["spool_id"], line["source"]) == ("T0", local["id"], "printer")  # measured
            if own_link:
                await asyncio.sleep(0.8)
                assert (await server.client.get("/api/v1/spoolman")).json()["reports"]["pending"] == 0
                assert spoolman.uses() == []  # Moonraker reports it: never twice
            else:
                await _reports(server, "sent", 1)
                assert [use.body for use in spoolman.uses()] == [{"use_weight": line["grams"]}]


async def test_a_spoolman_spool_tagged_with_an_rfid_id_is_the_spool_in_the_ams_tray_that_reads_it(
    database_url: str, farm: BambuFarm, spoolman: SpoolmanStandIn
) -> None:
    printer = farm[0]
    tag = {"tag": json.dumps(printer.ams.tray_uuid(0))}  # extra values are JSON-encoded strings
    remote = spoolman.add_spool(spoolman.add_filament("PLA Basic", "PLA", vendor="Bambu Lab"), extra=tag)
    settings = {"url": spoolman.url, "timeout": 0.5, "retry_initial": 0.2, "retry_max": 0.5}
    async with running(Server(database_url, farm.printer_configs(), spoolman=settings)) as server:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            slots = (await server.client.get(f"/api/v1/printers/{printer.printer_id}/slots")).json()["slots"]
            first = next(slot for slot in slots if slot["slot"] == "AMS0-T0")
            if first["spool"] is not None and first["spool"]["spoolman_id"] == remote.id:
                break
            assert loop.time() < deadline, first
            await asyncio.sleep(0.05)
        assert first["spool"]["tray_uuid"] == printer.ams.tray_uuid(0)
        tagged = [s for s in (await server.client.get("/api/v1/spools")).json()["spools"] if s["tray_uuid"]]
        assert sorted(s["tray_uuid"] for s in tagged) == sorted({printer.ams.tray_uuid(0), printer.ams.tray_uuid(1)}), (
            tagged
        )
