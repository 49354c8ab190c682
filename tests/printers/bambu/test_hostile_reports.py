"""BambuConnection against hostile reports published through a real mosquitto broker (TLS, loopback).

The payloads are the ones the reliability probe saw crash the session or keep a printer offline: JSON nested too
deep, a 400-digit ``mc_percent``, a ``gcode_start_time`` past year 9999, NaN and Infinity readings.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from printfleet.domain.printer import PrinterState
from printfleet.sim.bambu import BambuFarm, SimulatedBambuPrinter
from tests.printers.bambu.test_client import CountingObserver, Recorder, connect, running

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(60)]

HOSTILE = {
    "array nested 100,000 deep": b'{"print":{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
    "object nested 3,000 deep": b'{"print":' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}",
    "400-digit mc_percent": b'{"print":{"command":"push_status","mc_percent":1' + b"0" * 400 + b"}}",
    "gcode_start_time past year 9999": b'{"print":{"command":"push_status","gcode_start_time":"99999999999999"}}',
    "NaN and Infinity readings": b'{"print":{"command":"push_status","mc_percent":NaN,"nozzle_temper":Infinity,'
    b'"bed_temper":-Infinity}}',
    "Infinity layer and tray remain": b'{"print":{"command":"push_status","layer_num":Infinity,'
    b'"ams":{"ams":[{"id":"0","tray":[{"id":"0","remain":Infinity}]}]}}}',
}


@pytest.fixture
async def printer(mosquitto_binary: str, tmp_path: Path) -> AsyncIterator[SimulatedBambuPrinter]:
    async with BambuFarm(1, workdir=tmp_path, report_interval_s=0.1, mosquitto=mosquitto_binary) as farm:
        yield farm[0]


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_a_hostile_report_is_one_parse_error_and_the_printer_stays_online(
    printer: SimulatedBambuPrinter, case: str
) -> None:
    recorder = Recorder()
    observer = CountingObserver()
    async with running(connect(printer.printer_config(), recorder, observer)):
        await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.IDLE)
        await printer.send_raw(HOSTILE[case])
        await printer.send_raw(b'{"print":{"command":"push_status","nozzle_temper":181.5}}')
        first = await recorder.wait_for(printer.printer_id, lambda s: s.nozzle_temp == 181.5)
        # Later reports are shown too: nothing of the hostile one stayed in the kept state to fail them.
        await printer.start_print("after.gcode.3mf", duration_s=30, prepare_s=0)
        later = await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.PRINTING)

    assert observer.parse_errors == 1
    assert observer.reconnects == 0
    statuses = recorder.of(printer.printer_id)
    assert all(status.state is not PrinterState.OFFLINE for status in statuses)
    assert later.file_name == "after.gcode.3mf"
    assert later.print_start_time is None or later.print_start_time.year < 9999
    for status in statuses:
        readings = (status.progress, status.nozzle_temp, status.bed_temp)
        assert all(value is None or math.isfinite(value) for value in readings)
    assert first.state is PrinterState.IDLE


async def test_an_out_of_range_start_time_is_dropped_from_the_kept_state(printer: SimulatedBambuPrinter) -> None:
    # The probe: one such report kept the printer offline for at least 60 s, failing every later report.
    recorder = Recorder()
    observer = CountingObserver()
    await printer.start_print("long.gcode.3mf", duration_s=30, prepare_s=0)
    async with running(connect(printer.printer_config(), recorder, observer)):
        before = await recorder.wait_for(printer.printer_id, lambda s: s.state is PrinterState.PRINTING)
        await printer.send_raw(b'{"print":{"command":"push_status","gcode_start_time":"99999999999999"}}')
        mark = len(recorder.of(printer.printer_id))
        later = await recorder.wait_for(
            printer.printer_id,
            lambda s: s.state is PrinterState.PRINTING and (s.progress or 0) > (before.progress or 0) + 2,
            after=mark,
        )

    assert observer.parse_errors == 1
    assert observer.reconnects == 0
    assert all(s.state is PrinterState.PRINTING for s in recorder.of(printer.printer_id))
    assert later.file_name == "long.gcode.3mf"
