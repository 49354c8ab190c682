"""Faults the real Moonraker does not produce on demand: unreadable frames (counted and skipped, the connection
and its state go on), a call never answered (the client's own deadline), and state that changed without a delta
(the periodic full re-query).

The peer is a minimal JSON-RPC websocket that answers the start-up sequence like Moonraker 0.11.0 and then sends
what a broken or hostile device might.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

import websockets

from printfleet.domain.printer import OfflineReason, PrinterConfig, PrinterKind, PrinterState, PrinterStatus
from printfleet.printers.base import Backoff
from printfleet.printers.moonraker.client import MoonrakerConnection

HOSTILE_FRAMES = [
    "not json at all",
    "[1, 2, 3]",
    '{"jsonrpc": "2.0", "method": "notify_status_update", "params": "nope"}',
    '{"jsonrpc": "2.0", "method": "notify_status_update", "params": [{"print_stats": 7}, 1.0]}',
    '{"jsonrpc": "2.0", "method": "notify_status_update", "params": [' * 3000 + "]" * 3000 + "}",
    '{"jsonrpc": "2.0", "method": "notify_status_update", "params": [{"print_stats": {"print_duration": 1'
    + "0" * 5000
    + "}}, 1.0]}",
]

FULL_STATUS = {
    "print_stats": {"filename": "cube.gcode", "state": "printing", "print_duration": 5.0, "total_duration": 6.0},
    "virtual_sdcard": {"progress": 0.1, "is_active": True},
    "webhooks": {"state": "ready"},
}


class Counter:
    def __init__(self) -> None:
        self.parse_errors = 0

    def report_received(self, kind: PrinterKind) -> None:
        pass

    def parse_error(self, kind: PrinterKind) -> None:
        self.parse_errors += 1

    def reconnect(self, kind: PrinterKind) -> None:
        raise AssertionError("the connection was dropped")


async def _peer(socket: websockets.ServerConnection) -> None:
    async for frame in socket:
        request = json.loads(frame)
        method = request["method"]
        result: object = {"connection_id": 1}
        if method == "server.info":
            result = {"klippy_connected": True, "klippy_state": "ready"}
        elif method in ("printer.objects.subscribe", "printer.objects.query"):
            result = {"eventtime": 1.0, "status": FULL_STATUS}
        elif method == "server.history.list":
            result = {"count": 0, "jobs": []}
        await socket.send(json.dumps({"jsonrpc": "2.0", "result": result, "id": request["id"]}))
        if method == "printer.objects.subscribe":
            for hostile in HOSTILE_FRAMES:
                await socket.send(hostile)
            delta = {"print_stats": {"total_duration": 9.0}, "virtual_sdcard": {"progress": 0.5}}
            await socket.send(json.dumps({"jsonrpc": "2.0", "method": "notify_status_update", "params": [delta, 2.0]}))


async def _wait(check: Callable[[], bool]) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError("condition not met within 5 s")


async def test_unreadable_frames_are_counted_and_the_next_delta_still_applies() -> None:
    statuses: list[PrinterStatus] = []

    async def sink(printer_id: str, status: PrinterStatus) -> None:
        statuses.append(status)

    counter = Counter()
    async with websockets.serve(_peer, "127.0.0.1", 0) as peer:
        port = next(iter(peer.sockets)).getsockname()[1]
        config = PrinterConfig(id="odd", name="Odd", kind=PrinterKind.MOONRAKER, url=f"http://127.0.0.1:{port}")
        connection = MoonrakerConnection(config, sink=sink, observer=counter, backoff=Backoff(initial=5.0))
        task = asyncio.create_task(connection.run())
        try:
            await _wait(lambda: any(s.progress == 50.0 for s in statuses))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert counter.parse_errors == len(HOSTILE_FRAMES)
    last = statuses[-1]
    assert (last.state, last.file_name, last.elapsed_seconds) == (PrinterState.PRINTING, "cube.gcode", 5)
    assert all(s.state is not PrinterState.OFFLINE for s in statuses)


async def test_a_call_never_answered_is_a_timeout_and_a_missed_change_is_found_by_the_drift_check() -> None:
    statuses: list[PrinterStatus] = []
    queries = 0

    async def sink(printer_id: str, status: PrinterStatus) -> None:
        statuses.append(status)

    async def peer(socket: websockets.ServerConnection) -> None:
        nonlocal queries
        async for frame in socket:
            request = json.loads(frame)
            method = request["method"]
            if method == "server.info" and queries >= 2:
                continue  # hangs, like Moonraker waiting on a stuck Klippy
            result: object = {"connection_id": 1}
            if method == "server.info":
                result = {"klippy_connected": True, "klippy_state": "ready"}
            elif method == "printer.objects.subscribe":
                result = {"eventtime": 1.0, "status": FULL_STATUS}
            elif method == "printer.objects.query":
                queries += 1
                paused = {**FULL_STATUS, "print_stats": {**FULL_STATUS["print_stats"], "state": "paused"}}
                result = {"eventtime": 2.0, "status": paused}
            elif method == "server.history.list":
                result = {"count": 0, "jobs": []}
            await socket.send(json.dumps({"jsonrpc": "2.0", "result": result, "id": request["id"]}))
            if method == "printer.objects.query" and queries >= 2:
                await socket.close()  # the next session's server.info then hangs

    async with websockets.serve(peer, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        config = PrinterConfig(id="slow", name="Slow", kind=PrinterKind.MOONRAKER, url=f"http://127.0.0.1:{port}")
        connection = MoonrakerConnection(
            config, sink=sink, backoff=Backoff(initial=0.05, maximum=0.05), call_timeout_s=0.3, drift_check_s=0.2
        )
        task = asyncio.create_task(connection.run())
        try:
            # No delta says so: only the full re-query shows the print paused.
            await _wait(lambda: any(s.state is PrinterState.PAUSED for s in statuses))
            await _wait(lambda: any(s.offline_reason is OfflineReason.TIMEOUT for s in statuses))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    [timed_out, *_] = [s for s in statuses if s.offline_reason is OfflineReason.TIMEOUT]
    assert timed_out.offline_detail == "server.info: no answer in 0.3 s"
