"""The simulated Bambu printer, observed the way a slicer would: a raw MQTT client on its broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from printfleet.domain.printer import PrinterState, PrinterStatus
from printfleet.printers.bambu.client import BambuConnection
from printfleet.printers.bambu.protocol import CANCELLED_PRINT_ERROR, report_topic, request_topic
from printfleet.sim.bambu import BambuFarm, SimulatedBambuPrinter
from tests.files_samples import bambu_3mf, cura_gcode

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(60)]


class Slicer:
    """A bare MQTT client on the printer's report topic; ``next()`` returns the next ``print`` object."""

    def __init__(self, client: aiomqtt.Client, printer: SimulatedBambuPrinter) -> None:
        self.client = client
        self.printer = printer
        self.sequence = 100

    async def next(self, kind: str = "print", *, timeout: float = 5.0) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            async for message in self.client.messages:
                assert isinstance(message.payload, bytes)
                payload = json.loads(message.payload)
                if kind in payload:
                    return dict(payload[kind])
            raise AssertionError("disconnected")

        return await asyncio.wait_for(read(), timeout)

    async def request(self, kind: str, command: str, **fields: Any) -> str:
        self.sequence += 1
        body = {"sequence_id": str(self.sequence), "command": command, **fields}
        await self.client.publish(request_topic(self.printer.serial), json.dumps({kind: body}), qos=1)
        return str(self.sequence)

    async def reply_to(self, sequence_id: str) -> dict[str, Any]:
        while True:
            body = await self.next()
            if body.get("sequence_id") == sequence_id and body.get("command") != "push_status":
                return body


@contextlib.asynccontextmanager
async def slicer(printer: SimulatedBambuPrinter) -> AsyncIterator[Slicer]:
    context = ssl.create_default_context(cafile=str(printer.ca_file))
    context.check_hostname = False  # dialled by IP; the client tests cover the serial check
    async with aiomqtt.Client(
        printer.host, printer.port, username="bblp", password=printer.access_code, tls_context=context
    ) as client:
        await client.subscribe(report_topic(printer.serial))
        yield Slicer(client, printer)


@pytest.fixture
async def printer(mosquitto_binary: str, tmp_path: Path) -> AsyncIterator[SimulatedBambuPrinter]:
    async with BambuFarm(1, workdir=tmp_path, report_interval_s=0.1, mosquitto=mosquitto_binary) as farm:
        yield farm[0]


async def test_pushall_answer_is_a_full_push_status(printer: SimulatedBambuPrinter) -> None:
    await printer.start_print("benchy.gcode.3mf", duration_s=600, prepare_s=0)
    async with slicer(printer) as client:
        await client.request("pushing", "pushall")
        full = await client.next()
        while "gcode_state" not in full or "ams" not in full:
            full = await client.next()
    assert full["command"] == "push_status"
    assert full["gcode_state"] == "RUNNING"
    assert (full["gcode_file"], full["subtask_name"]) == ("benchy.gcode.3mf", "benchy")
    assert full["mc_remaining_time"] == 10  # minutes, not seconds
    assert (full["task_id"], full["subtask_id"], full["print_error"], full["hms"]) == ("0", "0", 0, [])
    assert full["stg_cur"] == 0
    assert full["total_layer_num"] == 100
    for field in ("mc_percent", "layer_num", "nozzle_temper", "bed_temper", "bed_target_temper", "chamber_temper"):
        assert field in full
    trays = full["ams"]["ams"][0]["tray"]
    assert [t["id"] for t in trays] == ["0", "1", "2", "3"]
    assert trays[0]["tray_color"] == "FFFFFFFF"
    assert trays[3] == {"id": "3"}
    assert "gcode_start_time" not in full  # absent on current firmware


async def test_reports_between_pushes_carry_only_what_changed(printer: SimulatedBambuPrinter) -> None:
    async with slicer(printer) as client:
        await printer.start_print("cube.3mf", duration_s=5, prepare_s=0)
        first = await client.next()
        partials = [await client.next() for _ in range(5)]
    assert first["gcode_state"] == "RUNNING"
    assert first["gcode_file"] == "cube.3mf"
    sequence = [int(first["sequence_id"])] + [int(p["sequence_id"]) for p in partials]
    assert sequence == sorted(sequence)
    assert len(set(sequence)) == len(sequence)
    for partial in partials:
        assert "gcode_file" not in partial
        assert "gcode_state" not in partial
        assert "subtask_name" not in partial
        assert set(partial) - {"command", "msg", "sequence_id"}  # but something did change


async def test_ams_change_names_only_that_tray(printer: SimulatedBambuPrinter) -> None:
    async with slicer(printer) as client:
        await printer.set_ams_tray(1, remain=33)
        report = await client.next()
    assert report["ams"] == {"ams": [{"id": "0", "tray": [{"id": "1", "remain": 33}]}]}


async def test_stop_replies_success_and_shows_failed_with_the_cancel_code(printer: SimulatedBambuPrinter) -> None:
    await printer.start_print("cube.3mf", duration_s=60, prepare_s=0)
    async with slicer(printer) as client:
        sequence_id = await client.request("print", "stop", param="")
        reply = await client.reply_to(sequence_id)
        report = await client.next()
        while "gcode_state" not in report:
            report = await client.next()
        refused = await client.reply_to(await client.request("print", "pause", param=""))
    assert reply["result"].lower() == "success"
    assert (report["gcode_state"], report["print_error"]) == ("FAILED", CANCELLED_PRINT_ERROR)
    assert refused["result"].lower() != "success"


def _sd(printer: SimulatedBambuPrinter) -> Path:
    assert printer.ftps is not None
    return printer.ftps.root


async def _full(client: Slicer) -> dict[str, Any]:
    await client.request("pushing", "pushall")
    full = await client.next()
    while "gcode_state" not in full:
        full = await client.next()
    return full


async def test_project_file_prints_the_uploaded_plate_for_its_predicted_time(printer: SimulatedBambuPrinter) -> None:
    (_sd(printer) / "bracket.gcode.3mf").write_bytes(bambu_3mf())  # plate 2: prediction 1210 s, 200 layers
    printer.speed_factor = 1210 / 0.6  # plate 2 then prints in 0.6 s
    printer.min_print_s = 0.1
    printer.prepare_s = 0.2
    states: list[str] = []
    async with slicer(printer) as client:
        sequence_id = await client.request(
            "print",
            "project_file",
            param="Metadata/plate_2.gcode",
            url="ftp:///bracket.gcode.3mf",
            subtask_name="Bracket for Ann",
            task_id="417",
            subtask_id="417",
            project_id="417",
        )
        assert (await client.reply_to(sequence_id))["result"] == "success"
        running = await _full(client)
        while "FINISH" not in states:
            report = await client.next()
            if "gcode_state" in report:
                states.append(report["gcode_state"])
        finished = await _full(client)
    assert printer.print is not None
    assert printer.print.duration_s == pytest.approx(0.6)
    assert running["subtask_name"] == "Bracket for Ann"
    assert running["gcode_file"] == "bracket.gcode.3mf"  # a P1 in LAN mode names the 3MF
    assert (running["task_id"], running["subtask_id"], running["project_id"]) == ("417", "417", "417")
    assert running["total_layer_num"] == 200
    assert states[-2:] == ["RUNNING", "FINISH"]
    assert (finished["gcode_state"], finished["mc_percent"]) == ("FINISH", 100)


async def test_gcode_file_prints_plain_gcode_from_the_sd_card(printer: SimulatedBambuPrinter) -> None:
    (_sd(printer) / "cube.gcode").write_bytes(cura_gcode())  # ;TIME:3723
    printer.speed_factor = 3723 / 30
    async with slicer(printer) as client:
        sequence_id = await client.request("print", "gcode_file", param="/sdcard/cube.gcode")
        assert (await client.reply_to(sequence_id))["result"] == "success"
        full = await _full(client)
    assert printer.print is not None
    assert printer.print.duration_s == pytest.approx(30)
    assert (full["gcode_file"], full["subtask_name"]) == ("cube.gcode", "cube")
    assert full["gcode_state"] in ("PREPARE", "RUNNING")


async def test_starts_for_a_missing_file_or_plate_are_ignored(printer: SimulatedBambuPrinter) -> None:
    (_sd(printer) / "one-plate.gcode.3mf").write_bytes(bambu_3mf(plates=(1,)))
    async with slicer(printer) as client:
        await client.request("print", "project_file", param="Metadata/plate_1.gcode", url="ftp:///nowhere.3mf")
        await client.request("print", "project_file", param="Metadata/plate_2.gcode", url="ftp:///one-plate.gcode.3mf")
        await client.request("print", "gcode_file", param="/sdcard/../../etc/passwd")
        full = await _full(client)
    assert full["gcode_state"] == "IDLE"
    assert printer.print is None
    assert len(printer.start_commands) == 3


async def test_a_busy_printer_ignores_a_start_and_keeps_printing(printer: SimulatedBambuPrinter) -> None:
    (_sd(printer) / "second.gcode.3mf").write_bytes(bambu_3mf())
    await printer.start_print("first.gcode.3mf", duration_s=60, prepare_s=0)
    async with slicer(printer) as client:
        await client.request("print", "project_file", param="Metadata/plate_1.gcode", url="ftp:///second.gcode.3mf")
        full = await _full(client)
    assert (full["gcode_state"], full["gcode_file"], full["print_error"]) == ("RUNNING", "first.gcode.3mf", 0)
    assert [body["url"] for body in printer.start_commands] == ["ftp:///second.gcode.3mf"]


async def test_dropped_starts_are_never_acted_on_and_the_next_one_is(printer: SimulatedBambuPrinter) -> None:
    (_sd(printer) / "plate.gcode.3mf").write_bytes(bambu_3mf())
    printer.drop_starts = 1
    async with slicer(printer) as client:
        await client.request("print", "project_file", param="Metadata/plate_1.gcode", url="ftp:///plate.gcode.3mf")
        assert (await _full(client))["gcode_state"] == "IDLE"
        sequence_id = await client.request(
            "print", "project_file", param="Metadata/plate_1.gcode", url="ftp:///plate.gcode.3mf"
        )
        assert (await client.reply_to(sequence_id))["result"] == "success"
    assert printer.print is not None
    assert printer.print.active
    assert len(printer.start_commands) == 2


async def test_restart_loses_the_print_and_comes_back_idle(printer: SimulatedBambuPrinter) -> None:
    await printer.start_print("cube.3mf", duration_s=60, prepare_s=0)
    await printer.restart()
    async with slicer(printer) as client:
        await client.request("pushing", "pushall")
        full = await client.next()
    assert full["gcode_state"] == "IDLE"
    assert full["gcode_file"] == ""


async def test_shared_broker_serves_many_printers_through_the_strict_client(
    mosquitto_binary: str, tmp_path: Path
) -> None:
    latest: dict[str, PrinterStatus] = {}

    async def sink(printer_id: str, status: PrinterStatus) -> None:
        latest[printer_id] = status

    async with BambuFarm(
        5, workdir=tmp_path, shared_broker=True, report_interval_s=0.1, mosquitto=mosquitto_binary
    ) as farm:
        configs = farm.printer_configs()
        assert len({c.port for c in configs}) == 1
        assert len({c.serial for c in configs}) == 5
        await farm[3].start_print("only-three.3mf", duration_s=30, prepare_s=0)
        tasks = [asyncio.create_task(BambuConnection(c, sink=sink).run()) for c in configs]
        try:
            for _ in range(100):
                if len(latest) == 5 and latest[farm[3].printer_id].state is PrinterState.PRINTING:
                    break
                await asyncio.sleep(0.05)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=5.0)  # bounded: a client may wait on the broker to say goodbye
    assert [latest[c.id].state for c in configs] == [PrinterState.IDLE] * 3 + [PrinterState.PRINTING, PrinterState.IDLE]
    assert latest[farm[3].printer_id].file_name == "only-three.3mf"
