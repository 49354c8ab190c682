"""Connection tests (``POST /api/v1/printers/test`` and ``/{id}/test``) against the real simulators.

The server runs the real adapters; the printers are the PrusaLink simulator (HTTP Digest) and the Bambu
simulator (mosquitto with TLS). A test must answer with the printer's first real status, store, track and
publish nothing, leave a watched printer's own connection alone, and never echo a secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from printfleet.domain.events import DomainEvent, PrinterStatusUpdated
from printfleet.domain.printer import OfflineReason
from printfleet.services.events import Subscription
from printfleet.sim.bambu import BambuFarm, SimulatedBambuPrinter
from printfleet.sim.prusalink import SimulatedPrusaLinkPrinter
from printfleet.store.printers import SqlPrinterRepository
from tests.api.conftest import RunningServer
from tests.api.test_printers_api import wait_for_state
from tests.support import free_port

PASSWORD = "pw-4471-secret"
WRONG_PASSWORD = "pw-0000-wrong"
WRONG_ACCESS_CODE = "00000000"


@pytest.fixture
async def prusa() -> AsyncIterator[SimulatedPrusaLinkPrinter]:
    async with SimulatedPrusaLinkPrinter("mk4", password=PASSWORD) as printer:
        yield printer


@pytest.fixture
async def bambu(tmp_path: Path, mosquitto_binary: str) -> AsyncIterator[SimulatedBambuPrinter]:
    async with BambuFarm(1, workdir=tmp_path / "bambu", report_interval_s=0.1, mosquitto=mosquitto_binary) as farm:
        yield farm[0]


@pytest.fixture
def bus_events(server: RunningServer) -> Iterator[Subscription]:
    """Everything the server publishes from now on (what the WebSocket would push to browsers)."""
    subscription = server.runtime.bus.subscribe()
    yield subscription
    subscription.close()


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A port that accepts TCP connections and never says a word."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client hangs up
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


def prusa_body(printer: SimulatedPrusaLinkPrinter, **changes: Any) -> dict[str, Any]:
    body = {"type": "prusalink", "host": "127.0.0.1", "port": printer.port, "username": "maker", "password": PASSWORD}
    return {**body, **changes}


def bambu_body(printer: SimulatedBambuPrinter, **changes: Any) -> dict[str, Any]:
    body = {
        "id": "x1c",
        "type": "bambu",
        "host": printer.host,
        "port": printer.port,
        "serial": printer.serial,
        "access_code": printer.access_code,
        "ca_file": str(printer.ca_file),
    }
    return {**body, **changes}


def result(response: Any) -> tuple[bool, str, str | None]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"ok", "state", "offline_reason", "detail", "seconds"}
    return body["ok"], body["state"], body["offline_reason"]


def is_unreachable(event: DomainEvent) -> bool:
    return isinstance(event, PrinterStatusUpdated) and event.status.offline_reason is OfflineReason.UNREACHABLE


async def assert_nothing_left_behind(server: RunningServer, events: Subscription, printers: list[str]) -> None:
    """Only ``printers`` exist and are watched; no job, no transition row of another id, nothing published, no
    probe task still running."""
    listed = (await server.client.get("/api/v1/printers")).json()["printers"]
    assert [p["id"] for p in listed] == printers
    assert (await server.client.get("/api/v1/jobs")).json() == {"jobs": [], "total": 0}
    assert [config.id for config, _ in server.runtime.monitoring.watched()] == printers
    recorded = await SqlPrinterRepository(server.runtime.database).last_transition_states()
    assert set(recorded) <= set(printers)
    assert events.pending() == 0
    assert not [task for task in asyncio.all_tasks() if task.get_name().startswith("probe:")]


# --- a new printer (the add form) ------------------------------------------------------------------------------


async def test_a_correct_prusalink_configuration_answers_idle(
    server: RunningServer, prusa: SimulatedPrusaLinkPrinter, bus_events: Subscription
) -> None:
    response = await server.client.post("/api/v1/printers/test", json=prusa_body(prusa))
    assert result(response) == (True, "idle", None)
    assert response.json()["detail"] is None
    assert 0 < response.json()["seconds"] < 3
    assert PASSWORD not in response.text
    await assert_nothing_left_behind(server, bus_events, [])


async def test_a_printer_mid_print_answers_printing_and_no_job_is_created(
    server: RunningServer, prusa: SimulatedPrusaLinkPrinter, bus_events: Subscription
) -> None:
    await prusa.start_print("box.bgcode", duration_s=30)
    response = await server.client.post("/api/v1/printers/test", json=prusa_body(prusa, id="mk4"))
    assert result(response) == (True, "printing", None)
    await assert_nothing_left_behind(server, bus_events, [])


async def test_a_wrong_password_is_auth_failed(
    server: RunningServer, prusa: SimulatedPrusaLinkPrinter, bus_events: Subscription
) -> None:
    response = await server.client.post("/api/v1/printers/test", json=prusa_body(prusa, password=WRONG_PASSWORD))
    assert result(response) == (False, "offline", "auth_failed")
    assert "rejected" in response.json()["detail"]
    assert response.json()["seconds"] < 3
    assert WRONG_PASSWORD not in response.text
    await assert_nothing_left_behind(server, bus_events, [])


async def test_a_closed_port_is_unreachable_at_once(server: RunningServer, bus_events: Subscription) -> None:
    body = {"type": "prusalink", "host": "127.0.0.1", "port": free_port(), "username": "maker", "password": PASSWORD}
    response = await server.client.post("/api/v1/printers/test", json=body)  # default timeout: 10 s
    assert result(response) == (False, "offline", "unreachable")
    assert response.json()["seconds"] < 2  # the adapter's answer, not the timeout
    assert PASSWORD not in response.text
    await assert_nothing_left_behind(server, bus_events, [])


async def test_a_silent_printer_is_timeout_after_the_given_seconds(
    server: RunningServer, silent_port: int, bus_events: Subscription
) -> None:
    body = {"type": "prusalink", "host": "127.0.0.1", "port": silent_port, "username": "maker", "password": PASSWORD}
    response = await server.client.post("/api/v1/printers/test", params={"timeout": 0.5}, json=body)
    assert result(response) == (False, "offline", "timeout")
    assert response.json()["detail"] == "no answer within 0.5 s"
    assert 0.5 <= response.json()["seconds"] < 2
    await assert_nothing_left_behind(server, bus_events, [])


async def test_an_unusable_configuration_is_422_with_the_reason(server: RunningServer) -> None:
    no_password = {"type": "prusalink", "host": "127.0.0.1", "username": "maker"}
    response = await server.client.post("/api/v1/printers/test", json=no_password)
    assert response.status_code == 422
    assert "password" in response.json()["detail"]

    no_serial = {"type": "bambu", "host": "127.0.0.1", "access_code": "12345678", "tls_insecure": True}
    response = await server.client.post("/api/v1/printers/test", json=no_serial)
    assert response.status_code == 422
    assert "serial" in response.json()["detail"]
    assert "12345678" not in response.text

    for timeout in (0, 61):
        body = {"type": "prusalink", "host": "127.0.0.1", "api_key": "k"}
        response = await server.client.post("/api/v1/printers/test", params={"timeout": timeout}, json=body)
        assert response.status_code == 422, timeout
    assert (await server.client.get("/api/v1/printers")).json() == {"printers": []}


# --- a stored printer (the edit form: secrets are never sent back to the browser) ------------------------------


async def test_an_existing_printer_is_tested_with_a_changed_field_and_its_stored_password(
    server: RunningServer, prusa: SimulatedPrusaLinkPrinter
) -> None:
    stale_port = free_port()
    stored = {**prusa_body(prusa, port=stale_port), "id": "mk4", "poll_interval": 0.5}
    events = server.runtime.bus.subscribe()
    assert (await server.client.post("/api/v1/printers", json=stored)).status_code == 201
    async with asyncio.timeout(5):  # the stored printer's own connection reports it unreachable (published once)
        while not is_unreachable(await events.get()):
            pass

    as_stored = await server.client.post("/api/v1/printers/mk4/test")
    assert result(as_stored) == (False, "offline", "unreachable")

    fixed = await server.client.post("/api/v1/printers/mk4/test", json={"port": prusa.port})
    assert result(fixed) == (True, "idle", None)  # the password came from the store

    wrong = await server.client.post("/api/v1/printers/mk4/test", json={"port": prusa.port, "password": WRONG_PASSWORD})
    assert result(wrong) == (False, "offline", "auth_failed")

    for response in (as_stored, fixed, wrong):
        assert PASSWORD not in response.text
        assert WRONG_PASSWORD not in response.text
    kept = (await server.client.get("/api/v1/printers/mk4")).json()
    assert (kept["port"], kept["status"]["offline_reason"]) == (stale_port, "unreachable")  # nothing saved
    await assert_nothing_left_behind(server, events, ["mk4"])
    events.close()


async def test_an_existing_printer_test_refuses_what_an_edit_refuses(server: RunningServer) -> None:
    body = {"id": "mk4", "type": "prusalink", "host": "127.0.0.1", "port": free_port(), "api_key": "k"}
    assert (await server.client.post("/api/v1/printers", json=body)).status_code == 201
    assert (await server.client.post("/api/v1/printers/nope/test")).status_code == 404
    no_host = await server.client.post("/api/v1/printers/mk4/test", json={"host": ""})
    assert no_host.status_code == 422
    assert "host" in no_host.json()["detail"]
    assert (await server.client.post("/api/v1/printers/mk4/test", json={"type": "bambu"})).status_code == 422


async def test_test_routes_and_command_routes_do_not_collide(server: RunningServer) -> None:
    for printer_id in ("test", "pause"):
        body = {"id": printer_id, "type": "prusalink", "host": "127.0.0.1", "port": free_port(), "api_key": "k"}
        assert (await server.client.post("/api/v1/printers", json=body)).status_code == 201
    tested = await server.client.post("/api/v1/printers/test/test")
    assert result(tested) == (False, "offline", "unreachable")
    tested = await server.client.post("/api/v1/printers/pause/test")
    assert result(tested) == (False, "offline", "unreachable")
    command = await server.client.post("/api/v1/printers/test/pause")
    assert command.status_code == 409  # still the command: the printer is offline
    assert "cannot pause" in command.json()["detail"]
    assert (await server.client.get("/api/v1/printers/test")).json()["id"] == "test"


# --- Bambu over MQTT/TLS -----------------------------------------------------------------------------------------


async def test_bambu_configuration_answers_and_a_wrong_access_code_is_auth_failed(
    server: RunningServer, bambu: SimulatedBambuPrinter, bus_events: Subscription
) -> None:
    good = await server.client.post("/api/v1/printers/test", json=bambu_body(bambu))
    assert result(good) == (True, "idle", None)
    wrong = await server.client.post("/api/v1/printers/test", json=bambu_body(bambu, access_code=WRONG_ACCESS_CODE))
    assert result(wrong) == (False, "offline", "auth_failed")
    for response in (good, wrong):
        assert bambu.access_code not in response.text
        assert WRONG_ACCESS_CODE not in response.text
    await assert_nothing_left_behind(server, bus_events, [])


async def test_testing_a_watched_bambu_printer_leaves_its_live_connection_alone(
    server: RunningServer, bambu: SimulatedBambuPrinter
) -> None:
    await server.runtime.printers.add(bambu.printer_config())
    await wait_for_state(server, bambu.printer_id, None)  # connected: no offline reason
    tested = await server.client.post(f"/api/v1/printers/{bambu.printer_id}/test")
    assert result(tested) == (True, "idle", None)
    await asyncio.sleep(0.5)  # a session taken over by the probe would show up as offline by now
    assert server.runtime.monitoring.status(bambu.printer_id).state.value == "idle"  # type: ignore[union-attr]
    transitions = await SqlPrinterRepository(server.runtime.database).list_transitions(bambu.printer_id)
    assert [(t.from_state, t.to_state.value) for t in transitions] == [(None, "idle")]
    assert bambu.access_code not in tested.text
