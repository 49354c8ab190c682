"""Scheduled prints started by the scheduler, end to end.

Simulated Bambu Lab printers (MQTT over TLS through mosquitto, implicit FTPS) and a simulated PrusaLink printer
print each uploaded file for its predicted time, sped up (about 2 s); a real printfleet server on SQLite and on
PostgreSQL schedules them. Offsets are 0 minutes here (a minute is too long for a test); offsets in minutes are
covered by the pure rules in tests/domain/test_schedule.py. Assertions read the public API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from printfleet.domain.printer import PrinterConfig, QueueMode
from printfleet.domain.schedule.model import PrintPlan, expand_copies
from printfleet.services.dispatch.steps import DispatchTimings
from printfleet.sim.bambu import BambuFarm
from printfleet.sim.prusalink import SimulatedPrusaLinkPrinter
from printfleet.store.database import Database
from printfleet.store.schedule import SqlScheduleRepository
from tests.e2e.harness import Server, printer_owner, running
from tests.files_samples import bambu_3mf, prusa_bgcode

pytestmark = pytest.mark.usefixtures("mosquitto_binary")

FAST = DispatchTimings(confirm_window_s=3.0, confirm_extension_s=1.0, poll_s=0.05, reconcile_wait_s=10)
QUICK = {"stagger": 0, "interval": 0.5}

Print = dict[str, Any]


def scheduled(config: PrinterConfig) -> PrinterConfig:
    return config.replace(queue_mode=QueueMode.SCHEDULED)


@pytest.fixture
async def farm(tmp_path: Path) -> AsyncIterator[BambuFarm]:
    # Plate 1 of the sample 3MF is predicted at 5,935 s: about 2 s at 3,000 times the speed.
    async with BambuFarm(
        3, workdir=tmp_path / "bambu", report_interval_s=0.1, prepare_s=0.2, speed_factor=3000
    ) as bambu:
        yield bambu


def _server(
    database_url: str, printers: list[PrinterConfig], tmp_path: Path, *, plate_gate: bool = False, **schedule: Any
) -> Server:
    return Server(
        database_url,
        printers,
        files={"directory": str(tmp_path / "lib")},
        dispatch={"require_plate_clear": plate_gate},
        schedule={**QUICK, **schedule},
        dispatch_timings=FAST,
    )


async def schedule(server: Server, file_id: int, **fields: Any) -> Print:
    response = await server.client.post("/api/v1/scheduled-prints", json={"file_id": file_id, **fields})
    assert response.status_code == 201, response.text
    [created] = response.json()
    return dict(created)


async def get(server: Server, print_id: int) -> Print:
    response = await server.client.get(f"/api/v1/scheduled-prints/{print_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def wait_status(server: Server, print_id: int, status: str, *, timeout: float = 30.0) -> Print:
    """Poll a scheduled print until it is ``status``; fail at once when it ends otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        body = await get(server, print_id)
        if body["status"] == status:
            return body
        final = body["status"] in ("completed", "failed", "cancelled", "skipped")
        if final or loop.time() > deadline:
            raise AssertionError(f"scheduled print {print_id} never became {status}: {body}")
        await asyncio.sleep(0.1)


async def dispatches(server: Server, **params: Any) -> list[dict[str, Any]]:
    body = (await server.client.get("/api/v1/dispatches", params={"limit": 500, **params})).json()
    return list(body["dispatches"])


def at(body: Print, field: str) -> datetime:
    return datetime.fromisoformat(body[field])


async def hold(seconds: float, check: Callable[[], Any]) -> None:
    """Assert ``check()`` stays true for ``seconds``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        assert await check()
        await asyncio.sleep(0.2)


async def test_a_chain_of_three_runs_in_order_on_bambu_printers_and_never_on_a_member_queue_printer(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    first_printer, second_printer, member_printer = farm.printer_configs()
    printers = [scheduled(first_printer), scheduled(second_printer), member_printer]
    async with running(_server(database_url, printers, tmp_path)) as server:
        file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
        a = await schedule(server, file_id, printer_id=first_printer.id, job_name="A")
        b = await schedule(server, file_id, printer_id=first_printer.id, job_name="B", depends_on=a["id"])
        # C may start as soon as B has started, on any scheduled printer: the other one is free.
        c = await schedule(server, file_id, job_name="C", depends_on=b["id"], offset_from="start")
        assert b["status"] == "waiting"

        done_a = await wait_status(server, a["id"], "completed")
        started_c = await wait_status(server, c["id"], "started")
        done_b = await wait_status(server, b["id"], "completed")
        done_c = await wait_status(server, c["id"], "completed")

        assert at(done_b, "started_at") >= at(done_a, "completed_at")
        assert at(started_c, "started_at") >= at(done_b, "started_at")
        assert at(started_c, "started_at") < at(done_b, "completed_at")  # C ran beside B, not after it
        assert done_c["assigned_printer_id"] == second_printer.id
        assert {d["printer_id"] for d in await dispatches(server)} == {first_printer.id, second_printer.id}
        assert await dispatches(server, printer_id=member_printer.id) == []
        queue = (await server.client.get("/api/v1/queue")).json()
        assert [p["id"] for p in queue["printers"]] == [member_printer.id]  # the member queue offers only its own
        jobs = await server.jobs()
        assert sorted(job["job_name"] for job in jobs) == ["A", "B", "C"]
        assert all(job["status"] == "completed" for job in jobs)


async def test_a_chain_of_three_runs_in_order_on_a_prusalink_printer(database_url: str, tmp_path: Path) -> None:
    # The sample .bgcode predicts 7,510 s: about 2.5 s at 3,000 times the speed.
    async with SimulatedPrusaLinkPrinter("mk4", speed_factor=3_000, poll_interval=0.5) as mk4:
        config = scheduled(mk4.printer_config(poll_interval=0.5))
        async with running(_server(database_url, [config], tmp_path)) as server:
            file_id = await server.upload("part.bgcode", prusa_bgcode())
            a = await schedule(server, file_id, printer_id="mk4", job_name="A")
            assert a["estimated_duration_minutes"] == 126  # 2 h 5 min 10 s from the file, rounded up
            b = await schedule(server, file_id, printer_id="mk4", job_name="B", depends_on=a["id"])
            c = await schedule(server, file_id, printer_id="mk4", job_name="C", depends_on=b["id"])
            ended = [await wait_status(server, p["id"], "completed") for p in (a, b, c)]
            starts = [at(p, "started_at") for p in ended]
            ends = [at(p, "completed_at") for p in ended]
            assert starts[1] >= ends[0]
            assert starts[2] >= ends[1]
            assert len(await dispatches(server)) == 3


async def test_a_failed_first_print_skips_the_print_that_needed_it_and_not_the_one_that_did_not(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    printer = farm.printer_configs()[0]
    async with running(_server(database_url, [scheduled(printer)], tmp_path)) as server:
        file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
        a = await schedule(server, file_id, job_name="A")
        needs_success = await schedule(server, file_id, job_name="B", depends_on=a["id"])
        anyway = await schedule(server, file_id, job_name="C", depends_on=a["id"], only_if_succeeded=False)
        await wait_status(server, a["id"], "started")
        await farm[0].fail()

        failed = await wait_status(server, a["id"], "failed")
        assert failed["failed_reason"]
        skipped = await wait_status(server, needs_success["id"], "skipped")
        assert f"print {a['id']} failed" in skipped["failed_reason"]
        await wait_status(server, anyway["id"], "completed")
        assert [d["job_name"] for d in reversed(await dispatches(server))] == ["A", "C"]


async def test_a_high_priority_print_jumps_the_line(database_url: str, farm: BambuFarm, tmp_path: Path) -> None:
    printer = farm.printer_configs()[0]
    async with running(_server(database_url, [scheduled(printer)], tmp_path)) as server:
        await farm[0].start_print("by-hand.gcode.3mf", duration_s=3)  # someone printing at the printer
        await server.wait_printer(printer.id, "printing")
        file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
        old = await schedule(server, file_id, job_name="old")
        newer = await schedule(server, file_id, job_name="newer")
        urgent = await schedule(server, file_id, job_name="urgent", priority=5)
        await wait_status(server, old["id"], "completed", timeout=40)
        await wait_status(server, newer["id"], "completed", timeout=40)
        order = [d["job_name"] for d in reversed(await dispatches(server))]
        assert order == ["urgent", "old", "newer"]
        assert (await get(server, urgent["id"]))["status"] == "completed"


async def test_the_plate_gate_holds_the_next_print_until_the_plate_is_cleared(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    printer = farm.printer_configs()[0]
    async with running(_server(database_url, [scheduled(printer)], tmp_path, plate_gate=True)) as server:
        file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
        first = await schedule(server, file_id, job_name="first")
        second = await schedule(server, file_id, job_name="second")
        await wait_status(server, first["id"], "completed")

        async def still_queued() -> bool:
            return (await get(server, second["id"]))["status"] == "queued"

        await hold(2.0, still_queued)
        cleared = await server.client.post(f"/api/v1/printers/{printer.id}/plate-cleared", json={"outcome": "good"})
        assert cleared.status_code == 200, cleared.text
        done = await wait_status(server, second["id"], "completed")
        # The scheduler never raced the gate: nothing was sent before the plate was flagged, nothing failed.
        assert done["attempts"] == 1
        assert [d["state"] for d in await dispatches(server)] == ["started", "started"]


async def test_a_server_stopped_mid_chain_resumes_after_restart_without_a_duplicate(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    printer = scheduled(farm.printer_configs()[0])
    server = _server(database_url, [printer], tmp_path)
    await server.start()
    try:
        await server.wait_online()
        file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
        a = await schedule(server, file_id, job_name="A")
        b = await schedule(server, file_id, job_name="B", depends_on=a["id"])
        c = await schedule(server, file_id, job_name="C", depends_on=b["id"])
        await wait_status(server, b["id"], "started")
    finally:
        await server.stop()

    again = _server(database_url, [printer], tmp_path)
    async with running(again):
        for p in (a, b, c):
            await wait_status(again, p["id"], "completed")
        assert [d["job_name"] for d in reversed(await dispatches(again))] == ["A", "B", "C"]
        jobs = await again.jobs()
        assert sorted(job["job_name"] for job in jobs) == ["A", "B", "C"]


async def test_scheduling_is_for_operators_unless_members_may_schedule(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    from printfleet.domain.accounts.roles import Role
    from tests.support_accounts import bearer_headers

    printer = farm.printer_configs()[0]
    async with running(_server(database_url, [printer], tmp_path)) as server:
        file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
        member = await bearer_headers(server.runtime.accounts, username="mia", role=Role.MEMBER)
        refused = await server.client.post("/api/v1/scheduled-prints", json={"file_id": file_id}, headers=member)
        assert refused.status_code == 403
        mine = await schedule(server, file_id, job_name="operator's")
        cancel = await server.client.post(f"/api/v1/scheduled-prints/{mine['id']}/cancel", headers=member)
        assert cancel.status_code == 403
        listed = await server.client.get(f"/api/bambu/scheduled-prints/{printer.id}", headers=member)
        assert listed.status_code == 200
        # The printer is a member-queue printer: nothing was sent to it.
        await asyncio.sleep(1.0)
        assert (await get(server, mine["id"]))["status"] == "queued"
        deleted = await server.client.delete(f"/api/bambu/scheduled-prints/{mine['id']}")
        assert deleted.json()["status"] == "cancelled"
        audit = (await server.client.get("/api/v1/audit", params={"action": "scheduled_print_cancelled"})).json()
        assert audit["records"][0]["target"] == f"scheduled_print:{mine['id']}"


async def test_a_print_due_by_a_deadline_starts_before_older_ones(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    printer = farm.printer_configs()[0]
    async with running(_server(database_url, [scheduled(printer)], tmp_path)) as server:
        # Busy long enough that both prints are queued before it is free, however loaded the machine (3 s was not).
        await farm[0].start_print("by-hand.gcode.3mf", duration_s=10)
        await server.wait_printer(printer.id, "printing")
        file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
        old = await schedule(server, file_id, job_name="old", priority=3)
        # Predicted at 99 minutes (the file says 5,935 s): due in 2 hours, it has no time to wait for the others.
        soon = datetime.now(UTC) + timedelta(hours=2)
        due = await schedule(server, file_id, job_name="due", finish_by=soon.isoformat())
        assert (await get(server, old["id"]))["status"] == "queued", "the printer was free before both were queued"
        timeline = (await server.client.get("/api/v1/schedule/timeline")).json()["entries"]
        assert [e["job_name"] for e in timeline] == ["due", "old"]
        assert timeline[0]["at_risk"] is True
        await wait_status(server, old["id"], "completed", timeout=40)
        assert (await get(server, due["id"]))["status"] == "completed"
        assert [d["job_name"] for d in reversed(await dispatches(server))] == ["due", "old"]


async def test_a_print_claimed_by_a_process_that_died_before_sending_it_is_printed_once(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    printer = scheduled(farm.printer_configs()[0])
    server = _server(database_url, [printer], tmp_path)
    async with running(server):
        file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
    # Another process chose the print and claimed it a minute ago, then died before making the dispatch.
    async with Database(database_url) as database:
        repository = SqlScheduleRepository(database)
        plan = PrintPlan(job_name="orphan", file_id=file_id, printer_id=printer.id)
        [orphan] = await repository.add_many(expand_copies(plan, created_by=None, created_at=datetime.now(UTC)))
        claimed = await repository.claim(orphan.id, printer_id=printer.id, now=datetime.now(UTC) - timedelta(minutes=1))
        assert claimed is not None
    again = _server(database_url, [printer], tmp_path)
    async with running(again):
        done = await wait_status(again, orphan.id, "completed")
        assert done["attempts"] == 1
        assert [d["job_name"] for d in await dispatches(again)] == ["orphan"]


async def test_a_print_waits_for_its_material_to_be_loaded(database_url: str, farm: BambuFarm, tmp_path: Path) -> None:
    printer = farm.printer_configs()[0]
    async with running(_server(database_url, [scheduled(printer)], tmp_path)) as server:
        file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
        asa = await schedule(server, file_id, job_name="asa", material_type="ASA", material_color="#102030")

        async def still_queued() -> bool:
            return (await get(server, asa["id"]))["status"] == "queued"

        await hold(1.5, still_queued)
        await farm[0].set_ams_tray(2, tray_type="ASA", color="102030FF")
        await wait_status(server, asa["id"], "completed")


async def test_a_print_waits_until_its_material_slot_holds_the_grams_its_plate_needs(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    printer = farm.printer_configs()[0]
    await farm[0].set_ams_tray(1, remain=1)  # the black PLA spool: 10 g of its 1 kg left
    async with running(_server(database_url, [scheduled(printer)], tmp_path)) as server:
        file_id = await server.upload("cube.gcode.3mf", bambu_3mf())  # plate 1: 22.10 g of black PLA
        black = await schedule(server, file_id, job_name="black", material_type="PLA", material_color="#000000")

        async def still_queued() -> bool:
            return (await get(server, black["id"]))["status"] == "queued"

        await hold(1.5, still_queued)
        await farm[0].set_ams_tray(1, remain=40)  # a fresh weighing: 400 g
        await wait_status(server, black["id"], "completed")


async def test_a_print_asking_for_a_material_slot_is_sent_with_the_ams_mapping_that_feeds_it(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    printer = farm.printer_configs()[0]
    async with running(_server(database_url, [scheduled(printer)], tmp_path)) as server:
        file_id = await server.upload("cube.gcode.3mf", bambu_3mf())  # plate 2 uses filament 1 only (black PLA)
        black = await schedule(server, file_id, plate=2, job_name="black", material_type="PLA", material_slot=1)
        await wait_status(server, black["id"], "started")

    [command] = farm[0].start_commands
    assert command["ams_mapping"] == [1]  # filament 1 from AMS 0, tray 1 (the black PLA)
    assert command["use_ams"] is True


async def test_a_print_speed_is_set_on_the_bambu_printer_once_the_print_started(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    printer = farm.printer_configs()[0]
    farm[0].speed_factor = 300  # about 20 s: time to see the level the printer reports
    async with running(_server(database_url, [scheduled(printer)], tmp_path)) as server:
        file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
        fast = await schedule(server, file_id, job_name="fast", print_speed="sport")
        await wait_status(server, fast["id"], "started")

        async def sport() -> bool:
            return farm[0].speed_level == 3

        await hold_until(sport)
        assert [command["command"] for command in farm[0].start_commands] == ["project_file"]


async def hold_until(check: Callable[[], Any], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, "never held"
        await asyncio.sleep(0.05)


async def test_the_farm_starts_one_scheduled_print_per_stagger(
    database_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    first_printer, second_printer, _ = farm.printer_configs()
    printers = [scheduled(first_printer), scheduled(second_printer)]
    async with running(_server(database_url, printers, tmp_path, stagger=2)) as server:
        file_id = await server.upload("cube.gcode.3mf", bambu_3mf())
        created = (await server.client.post("/api/v1/scheduled-prints", json={"file_id": file_id, "copies": 2})).json()
        for p in created:
            await wait_status(server, p["id"], "started")
        sent = sorted(datetime.fromisoformat(d["created_at"]) for d in await dispatches(server))
        assert len(sent) == 2
        assert sent[1] - sent[0] >= timedelta(seconds=1.9)  # both printers were ready at once


@pytest.mark.parametrize("max_attempts", [1, 3])
async def test_a_failed_dispatch_goes_back_to_the_queue_with_its_reason_until_max_attempts(
    database_url: str, tmp_path: Path, max_attempts: int
) -> None:
    async with SimulatedPrusaLinkPrinter("mk4", speed_factor=3_000, poll_interval=0.5) as mk4:
        config = scheduled(mk4.printer_config(poll_interval=0.5))
        server = _server(database_url, [config], tmp_path, max_attempts=max_attempts)
        async with running(server):
            file_id = await server.upload("part.bgcode", prusa_bgcode())
            mk4.start_during_next_upload("by-hand.bgcode", duration_s=2)  # someone starts a print meanwhile
            p = await schedule(server, file_id, printer_id="mk4")
            if max_attempts == 1:
                failed = await wait_status(server, p["id"], "failed")
                assert failed["attempts"] == 1
                assert "did not start it" in failed["failed_reason"]  # PrusaLink stored the file, answered 409
                return
            done = await wait_status(server, p["id"], "completed")
            assert done["attempts"] == 2
            assert done["failed_reason"] is None  # the reason of the failed first dispatch went with its success
            assert [d["state"] for d in reversed(await dispatches(server))] == ["failed", "started"]


async def test_two_processes_on_one_postgresql_send_each_scheduled_print_once(
    empty_postgres_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    """A scheduled print is sent by the process that owns its printer (each process schedules for the printers it
    owns): the other process takes the schedule and sends nothing; when the owner stops, the other takes the printer
    over and sends the next one."""
    printer = scheduled(farm.printer_configs()[0])
    first = _server(empty_postgres_url, [printer], tmp_path)
    second = _server(empty_postgres_url, [printer], tmp_path)
    async with running(first), running(second):
        holder = await printer_owner([first, second], printer.id)
        other = second if holder is first else first
        file_id = await other.upload("cube.gcode.3mf", bambu_3mf())
        one = await schedule(other, file_id, printer_id=printer.id, job_name="one")
        await wait_status(other, one["id"], "completed")
        sent = await dispatches(other)
        assert [d["job_name"] for d in sent] == ["one"]
        await holder.stop()
        assert await printer_owner([other], printer.id, timeout=30) is other
        two = await schedule(other, file_id, printer_id=printer.id, job_name="two")
        await wait_status(other, two["id"], "completed")
        assert sorted(d["job_name"] for d in await dispatches(other)) == ["one", "two"]


async def test_a_plate_cleared_in_another_process_lets_the_scheduler_send_the_next_print(
    empty_postgres_url: str, farm: BambuFarm, tmp_path: Path
) -> None:
    printer = scheduled(farm.printer_configs()[0])
    first = _server(empty_postgres_url, [printer], tmp_path, plate_gate=True)
    second = _server(empty_postgres_url, [printer], tmp_path, plate_gate=True)
    async with running(first), running(second):
        holder = await printer_owner([first, second], printer.id)
        other = second if holder is first else first
        file_id = await other.upload("cube.gcode.3mf", bambu_3mf())
        one = await schedule(other, file_id, printer_id=printer.id, job_name="one")
        two = await schedule(other, file_id, printer_id=printer.id, job_name="two")
        await wait_status(other, one["id"], "completed")

        async def still_queued() -> bool:
            return (await get(other, two["id"]))["status"] == "queued"

        await hold(1.5, still_queued)
        # The operator confirms the plate on the page served by the process that does not schedule.
        cleared = await other.client.post(f"/api/v1/printers/{printer.id}/plate-cleared", json={"outcome": "good"})
        assert cleared.status_code == 200, cleared.text
        done = await wait_status(other, two["id"], "completed")
        assert done["attempts"] == 1
