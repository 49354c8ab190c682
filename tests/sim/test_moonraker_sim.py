"""The simulated Klipper printer (Moonraker), as the Moonraker adapter (and so the demo) sees it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from printfleet.domain.dispatch.sending import PrinterBusy
from printfleet.domain.printer import OfflineReason, PrinterKind, PrinterState
from printfleet.sim.farm import SimulatedFarm
from printfleet.sim.moonraker import SimulatedMoonrakerPrinter
from tests.printers.moonraker.test_moonraker_connection import running
from tests.printers.print_requests import dwell_gcode, print_request


@pytest.fixture
async def sim() -> AsyncIterator[SimulatedMoonrakerPrinter]:
    async with SimulatedMoonrakerPrinter("voron-sim", remote_print_duration_s=30.0, reboot_s=0.1) as printer:
        yield printer


async def test_a_print_shows_printing_with_layers_then_finished(sim: SimulatedMoonrakerPrinter) -> None:
    async with running(sim.url) as (_, recorder):
        await recorder.wait_for(lambda s: s.state is PrinterState.IDLE)
        await sim.start_print("benchy.gcode", duration_s=1.0, total_layers=40)
        printing = await recorder.wait_for(lambda s: s.state is PrinterState.PRINTING and s.native_job_id is not None)
        finished = await recorder.wait_for(lambda s: s.state is PrinterState.FINISHED)
    assert (printing.file_name, printing.total_layers, printing.nozzle_target) == ("benchy.gcode", 40, 215.0)
    assert str(printing.native_job_id).startswith("000001@")
    assert (finished.file_name, finished.progress) == ("benchy.gcode", 100.0)


async def test_commands_sending_and_a_second_agent_behave_as_on_moonraker(
    sim: SimulatedMoonrakerPrinter, tmp_path: Path
) -> None:
    async with running(sim.url) as (connection, recorder):
        await recorder.wait_for(lambda s: s.state is PrinterState.IDLE)
        sent = await connection.upload(print_request(tmp_path, "hook.gcode", dwell_gcode(20.0)), start=True)
        assert sent.started
        await recorder.wait_for(lambda s: s.state is PrinterState.PRINTING and s.file_name == "hook.gcode")
        await connection.pause()
        await recorder.wait_for(lambda s: s.state is PrinterState.PAUSED)
        with pytest.raises(PrinterBusy):
            await connection.upload(print_request(tmp_path, "other.gcode", dwell_gcode(5.0)), start=True)
        async with running(sim.url) as (_, second):
            await second.wait_for(lambda s: s.offline_reason is OfflineReason.OWNED_ELSEWHERE)
        await connection.resume()
        await recorder.wait_for(lambda s: s.state is PrinterState.PRINTING and s.file_name == "hook.gcode")
        await connection.stop()
        await recorder.wait_for(lambda s: s.state is PrinterState.CANCELLED)
        await sim.restart()
        recorder.statuses.clear()
        back = await recorder.wait_for(lambda s: s.state is not PrinterState.OFFLINE)
        assert back.state is PrinterState.IDLE


async def test_the_farm_keeps_its_klipper_printer_printing(tmp_path: Path) -> None:
    farm = SimulatedFarm(
        bambu=0, prusalink=0, octoprint=0, moonraker=1, idle_s=0, min_print_s=1, max_print_s=2, workdir=tmp_path
    )
    async with farm:
        assert [c.kind for c in farm.printer_configs()] == [PrinterKind.MOONRAKER]
        async with running(farm.moonraker[0].url) as (_, recorder):
            printing = await recorder.wait_for(lambda s: s.state is PrinterState.PRINTING, timeout=10)
    assert str(printing.file_name).endswith(".gcode")


async def test_a_moonraker_with_its_own_spoolman_link_says_it_reports_usage_itself(
    sim: SimulatedMoonrakerPrinter,
) -> None:
    async with running(sim.url) as (_, recorder):
        plain = await recorder.wait_for(lambda s: s.state is PrinterState.IDLE)
    assert plain.reports_spool_usage is False
    sim.spoolman_linked = True
    async with running(sim.url) as (_, recorder):
        linked = await recorder.wait_for(lambda s: s.state is PrinterState.IDLE and s.reports_spool_usage)
    assert linked.reports_spool_usage is True
