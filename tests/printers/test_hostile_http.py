"""PrusaLink and OctoPrint against a printer that sends hostile answers, over real loopback sockets.

Each case is one the reliability probe saw crash or freeze a connection: JSON nested 50,000 deep, integers of 400
and 5,000 digits, ``"printTime": 1e999``, an answer trickling in one byte at a time, and a 64 MiB answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from printfleet.domain.printer import OfflineReason, PrinterKind, PrinterState, PrinterStatus
from printfleet.printers.base import Backoff
from printfleet.printers.octoprint.client import OctoPrintConnection
from printfleet.printers.polling import PolledConnectionBase
from printfleet.printers.prusalink.client import PrusaLinkConnection
from tests.printers.hostile_http import (
    STATUS_PATH,
    CountingObserver,
    Handler,
    HostilePrinter,
    Recorder,
    Reply,
    config_for,
    octoprint_bodies,
    prusalink_bodies,
    running_task,
)

pytestmark = pytest.mark.timeout(30)

POLL = 0.1
KINDS = [PrinterKind.PRUSALINK, PrinterKind.OCTOPRINT]


def healthy(kind: PrinterKind, nozzle: float) -> Handler:
    return prusalink_bodies(nozzle) if kind is PrinterKind.PRUSALINK else octoprint_bodies(nozzle)


def connection(
    kind: PrinterKind, port: int, recorder: Recorder, observer: CountingObserver, *, timeout_s: float
) -> PolledConnectionBase:
    config = config_for(kind, port, poll_interval=POLL)
    backoff = Backoff(initial=0.05, maximum=0.2)
    if kind is PrinterKind.PRUSALINK:
        return PrusaLinkConnection(config, sink=recorder, observer=observer, backoff=backoff, timeout_s=timeout_s)
    return OctoPrintConnection(
        config, sink=recorder, observer=observer, backoff=backoff, timeout_s=timeout_s, push=False
    )


def nozzle_is(value: float) -> Callable[[PrinterStatus], bool]:
    return lambda status: status.state is PrinterState.IDLE and status.nozzle_temp == value


def deep_json() -> bytes:
    return b'{"printer": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"


def with_number(kind: PrinterKind, digits: int) -> bytes:
    """A healthy status body whose nozzle temperature is an integer of ``digits`` digits."""
    body = healthy(kind, 210.5)(STATUS_PATH[kind]).body
    return body.replace(b"210.5", b"1" + b"0" * (digits - 1))


BAD_STATUS_BODIES = {
    "nested 50,000 deep": lambda kind: deep_json(),
    "400-digit integer": lambda kind: with_number(kind, 400),
    "5,000-digit integer": lambda kind: with_number(kind, 5000),
}


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.value)
@pytest.mark.parametrize("case", list(BAD_STATUS_BODIES))
async def test_an_unreadable_body_is_one_parse_error_and_the_connection_goes_on(kind: PrinterKind, case: str) -> None:
    bad = BAD_STATUS_BODIES[case](kind)
    served = {"bad": 0}
    phase = {"now": "before"}

    def handler(path: str) -> Reply:
        if phase["now"] == "bad" and path == STATUS_PATH[kind]:
            served["bad"] += 1
            phase["now"] = "after"
            return Reply(body=bad)
        return healthy(kind, 200.0 if phase["now"] == "before" else 215.0)(path)

    recorder, observer = Recorder(), CountingObserver()
    async with HostilePrinter(handler) as fake:
        adapter = connection(kind, fake.port, recorder, observer, timeout_s=2.0)
        async with running_task(adapter.run()):
            await recorder.wait_for(nozzle_is(200.0))
            phase["now"] = "bad"
            after = await recorder.wait_for(nozzle_is(215.0))

    assert served["bad"] == 1
    assert after.state is PrinterState.IDLE
    assert observer.parse_errors == 1
    assert observer.reconnects == 0
    assert all(status.state is not PrinterState.OFFLINE for status in recorder.statuses)


async def test_octoprint_infinite_print_time_is_one_parse_error_and_the_connection_goes_on() -> None:
    kind = PrinterKind.OCTOPRINT
    phase = {"now": "before"}
    infinite = (
        b'{"job": {"file": {"name": "a.gcode", "path": "a.gcode", "origin": "local"}},'
        b' "progress": {"completion": 5.0, "printTime": 1e999, "printTimeLeft": 60}, "state": "Operational"}'
    )

    def handler(path: str) -> Reply:
        if phase["now"] == "bad" and path == "/api/job":
            phase["now"] = "after"
            return Reply(body=infinite)
        return healthy(kind, 200.0 if phase["now"] == "before" else 215.0)(path)

    recorder, observer = Recorder(), CountingObserver()
    async with HostilePrinter(handler) as fake:
        adapter = connection(kind, fake.port, recorder, observer, timeout_s=2.0)
        async with running_task(adapter.run()):
            await recorder.wait_for(nozzle_is(200.0))
            phase["now"] = "bad"
            await recorder.wait_for(nozzle_is(215.0))

    assert observer.parse_errors == 1
    assert observer.reconnects == 0
    assert all(status.state is not PrinterState.OFFLINE for status in recorder.statuses)


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.value)
async def test_a_trickling_answer_goes_offline_timeout_within_the_deadline(kind: PrinterKind) -> None:
    # Headers at once, then one byte every 0.1 s: no single read ever waits long, the whole answer never comes.
    trickle = {"on": False}

    def handler(path: str) -> Reply:
        if trickle["on"] and path == STATUS_PATH[kind]:
            return Reply(mode="trickle", size=1_000_000, interval_s=0.1)
        return healthy(kind, 200.0)(path)

    recorder, observer = Recorder(), CountingObserver()
    async with HostilePrinter(handler) as fake:
        adapter = connection(kind, fake.port, recorder, observer, timeout_s=0.6)
        async with running_task(adapter.run()):
            await recorder.wait_for(nozzle_is(200.0))
            trickle["on"] = True
            offline = await recorder.wait_for(lambda s: s.state is PrinterState.OFFLINE, timeout_s=3.0)

    assert offline.offline_reason is OfflineReason.TIMEOUT
    assert fake.body_bytes_sent < 40  # the poll was given up after about 0.6 s, not read to its end


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.value)
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "until-close"])
async def test_a_huge_answer_is_refused_as_protocol_error_without_reading_it(kind: PrinterKind, declared: bool) -> None:
    size = 64 * 1024 * 1024
    huge = {"on": False}

    def handler(path: str) -> Reply:
        if huge["on"] and path == STATUS_PATH[kind]:
            return Reply(mode="huge", size=size, declared=declared)
        return healthy(kind, 200.0)(path)

    recorder, observer = Recorder(), CountingObserver()
    async with HostilePrinter(handler) as fake:
        adapter = connection(kind, fake.port, recorder, observer, timeout_s=10.0)
        async with running_task(adapter.run()):
            await recorder.wait_for(nozzle_is(200.0))
            huge["on"] = True
            offline = await recorder.wait_for(lambda s: s.state is PrinterState.OFFLINE, timeout_s=10.0)
            await asyncio.sleep(0.2)  # let the server notice the closed connection

    assert offline.offline_reason is OfflineReason.PROTOCOL_ERROR
    assert offline.offline_detail is not None
    assert "larger than" in offline.offline_detail
    # 2 MiB cap, plus what the loopback socket buffers hold: far from the 64 MiB the server wanted to send.
    assert fake.body_bytes_sent < 24 * 1024 * 1024
