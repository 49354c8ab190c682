"""The simulated OctoPrint, as the OctoPrint adapter (and so the demo) sees it over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from printfleet.domain.printer import OfflineReason, PrinterCommandRejected, PrinterState, Secret
from printfleet.sim.base import SimPhase
from printfleet.sim.octoprint import SimulatedOctoPrintPrinter
from tests.printers.octoprint.recorder import CountingObserver, running_adapter

POLL_S = 0.1


@pytest.fixture
async def sim() -> AsyncIterator[SimulatedOctoPrintPrinter]:
    async with SimulatedOctoPrintPrinter("op-sim", remote_print_duration_s=30.0, error_recovery_s=0.5) as printer:
        yield printer


def phase_of(sim: SimulatedOctoPrintPrinter) -> SimPhase | None:
    """The simulated print's phase, None when nothing was printed."""
    return sim.current.tick() if sim.current is not None else None


async def test_a_print_shows_printing_with_progress_then_finished(sim: SimulatedOctoPrintPrinter) -> None:
    async with running_adapter(sim.printer_config(poll_interval=POLL_S)) as (_, recorder):
        await recorder.wait_for(lambda s: s.state is PrinterState.IDLE)
        await sim.start_print("benchy.gcode", duration_s=1.0)
        printing = await recorder.wait_for(lambda s: s.state is PrinterState.PRINTING and (s.progress or 0) > 0)
        finished = await recorder.wait_for(lambda s: s.state is PrinterState.FINISHED)

    assert printing.file_name == "benchy.gcode"
    assert printing.nozzle_target == 210.0
    assert printing.remaining_seconds is not None
    assert finished.file_name == "benchy.gcode"
    assert finished.progress == 100.0
    assert finished.elapsed_seconds == 1


async def test_adapter_commands_pause_resume_and_cancel_the_simulated_print(sim: SimulatedOctoPrintPrinter) -> None:
    async with running_adapter(sim.printer_config(poll_interval=POLL_S)) as (adapter, recorder):
        await recorder.wait_for(lambda s: s.state is PrinterState.IDLE)
        await sim.start_print("long.gcode", duration_s=60.0)
        await recorder.wait_for(lambda s: s.state is PrinterState.PRINTING)

        await adapter.pause()
        await recorder.wait_for(lambda s: s.state is PrinterState.PAUSED)
        assert phase_of(sim) is SimPhase.PAUSED

        await adapter.resume()
        await recorder.wait_for(lambda s: s.state is PrinterState.PRINTING, since=len(recorder.statuses))
        assert phase_of(sim) is SimPhase.PRINTING

        await adapter.stop()
        cancelled = await recorder.wait_for(lambda s: s.state is PrinterState.CANCELLED)
        assert phase_of(sim) is SimPhase.CANCELLED
        with pytest.raises(PrinterCommandRejected, match="409"):
            await adapter.pause()
    assert cancelled.file_name == "long.gcode"


async def test_start_print_selects_a_stored_file(sim: SimulatedOctoPrintPrinter) -> None:
    sim.add_file("parts/bracket.gcode")
    async with running_adapter(sim.printer_config(poll_interval=POLL_S)) as (adapter, recorder):
        await recorder.wait_for(lambda s: s.state is PrinterState.IDLE)
        with pytest.raises(PrinterCommandRejected, match="404"):
            await adapter.start_print("parts/missing.gcode")
        await adapter.start_print("parts/bracket.gcode")
        printing = await recorder.wait_for(lambda s: s.state is PrinterState.PRINTING)
    assert printing.file_name == "parts/bracket.gcode"


async def test_a_serial_failure_is_not_operational_then_failed(sim: SimulatedOctoPrintPrinter) -> None:
    async with running_adapter(sim.printer_config(poll_interval=POLL_S)) as (_, recorder):
        await recorder.wait_for(lambda s: s.state is PrinterState.IDLE)
        await sim.start_print("doomed.gcode", duration_s=60.0)
        await recorder.wait_for(lambda s: s.state is PrinterState.PRINTING)
        await sim.fail()
        down = await recorder.wait_for(lambda s: s.offline_reason is OfflineReason.NOT_OPERATIONAL)
        failed = await recorder.wait_for(lambda s: s.state is PrinterState.FAILED)
    assert down.offline_detail is not None
    assert "Offline after error" in down.offline_detail
    assert failed.file_name == "doomed.gcode"
    assert failed.error_codes == ("OCTOPRINT_LINK_LOST",)  # "Too many consecutive timeouts", as OctoPrint words it


async def test_a_cancel_on_the_printer_is_cancelled(sim: SimulatedOctoPrintPrinter) -> None:
    async with running_adapter(sim.printer_config(poll_interval=POLL_S)) as (_, recorder):
        await recorder.wait_for(lambda s: s.state is PrinterState.IDLE)
        await sim.start_print("abandoned.gcode", duration_s=60.0)
        await recorder.wait_for(lambda s: s.state is PrinterState.PRINTING and (s.progress or 0) > 0)
        await sim.cancel()
        cancelled = await recorder.wait_for(lambda s: s.state is PrinterState.CANCELLED)
    assert cancelled.progress is not None
    assert 0 < cancelled.progress < 100
    assert "finished" not in recorder.states()


async def test_network_drop_is_unreachable_and_printing_goes_on(sim: SimulatedOctoPrintPrinter) -> None:
    async with running_adapter(sim.printer_config(poll_interval=POLL_S)) as (_, recorder):
        await sim.start_print("through.gcode", duration_s=60.0)
        await recorder.wait_for(lambda s: s.state is PrinterState.PRINTING)
        await sim.disconnect(1.0)
        await recorder.wait_for(lambda s: s.offline_reason is OfflineReason.UNREACHABLE)
        mark = len(recorder.statuses)
        back = await recorder.wait_for(lambda s: s.state is not PrinterState.OFFLINE, since=mark)
    assert back.state is PrinterState.PRINTING
    assert back.file_name == "through.gcode"


async def test_restart_loses_the_print_and_comes_back_idle(sim: SimulatedOctoPrintPrinter) -> None:
    async with running_adapter(sim.printer_config(poll_interval=POLL_S)) as (_, recorder):
        await sim.start_print("lost.gcode", duration_s=60.0)
        await recorder.wait_for(lambda s: s.state is PrinterState.PRINTING)
        mark = len(recorder.statuses)
        await sim.restart()
        back = await recorder.wait_for(lambda s: s.state is PrinterState.IDLE, since=mark)
    assert back.file_name is None
    # The print was lost, not cancelled: nothing may claim to know how it ended.
    assert recorder.states(since=mark) == ["offline", "idle"]


async def test_wrong_api_key_is_auth_failed(sim: SimulatedOctoPrintPrinter) -> None:
    config = sim.printer_config(poll_interval=POLL_S).replace(api_key=Secret("wrong"))
    async with running_adapter(config) as (_, recorder):
        offline = await recorder.wait_for(lambda s: s.offline_reason is OfflineReason.AUTH_FAILED)
    assert offline.state is PrinterState.OFFLINE


async def test_one_unreadable_body_is_counted_and_polling_goes_on(sim: SimulatedOctoPrintPrinter) -> None:
    observer = CountingObserver()
    async with running_adapter(sim.printer_config(poll_interval=POLL_S), observer=observer) as (_, recorder):
        await recorder.wait_for(lambda s: s.state is PrinterState.IDLE)
        sim.set_malformed(times=1)
        await sim.start_print("after-glitch.gcode", duration_s=60.0)
        await recorder.wait_for(lambda s: s.state is PrinterState.PRINTING)
    assert observer.parse_errors == 1
    assert all(s.state is not PrinterState.OFFLINE for s in recorder.statuses[1:])


async def test_rest_api_refuses_what_octoprint_refuses(sim: SimulatedOctoPrintPrinter) -> None:
    key = sim.printer_config().api_key
    assert key is not None
    async with httpx.AsyncClient(base_url=sim.url, headers={"X-Api-Key": key.reveal()}) as client:
        assert (await client.post("/api/job", json={"command": "cancel"})).status_code == 409
        assert (await client.post("/api/job", json={"command": "pause", "action": "pause"})).status_code == 409
        assert (await client.get("/api/printer", headers={"X-Api-Key": "nope"})).status_code == 403
        assert (await client.post("/api/connection", json={"command": "disconnect"})).status_code == 204
        not_operational = await client.get("/api/printer")
        assert not_operational.status_code == 409
        assert (await client.get("/api/job")).json()["state"] == "Offline"


async def test_a_non_ascii_api_key_is_refused_with_403_not_a_server_error(sim: SimulatedOctoPrintPrinter) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as client:
        for key in ("é".encode(), "ключ".encode(), b"\xff\xfe"):
            response = await client.get("/api/printer", headers={"X-Api-Key": key})
            assert response.status_code == 403, key
        assert (await client.get("/api/printer", params={"apikey": "é"})).status_code == 403
