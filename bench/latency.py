"""Latency from a printer's state change to the ``printer_status_update`` frame a WebSocket client receives.

Setup: printfleet runs as a separate process (``printfleet serve`` on a loopback port, SQLite in a temporary
directory, see :class:`bench.ServerProcess`) watching two simulated printers that run in this process: one Bambu
Lab printer (``BambuFarm(1)``: its own mosquitto, TLS verified against the simulator's CA, a partial report
every second like a P1) and one PrusaLink printer polled every second. A ``websockets`` client in this process
reads ``/ws``; a reader task stamps every frame with ``time.perf_counter()`` the moment ``recv()`` returns.

Bambu: with a long print running, the benchmark alternately pauses and resumes the printer through the
simulator's public ``pause()``/``resume()`` (the same as pressing the button on the printer's screen, which
publishes the changed fields at once). ``t0`` is taken right before that call; the sample is the first frame
after ``t0`` for that printer showing the new state (``paused`` / ``printing``). The path measured: simulator
publish → mosquitto → the adapter's MQTT client → parse, merge, normalise → monitoring (the state transition is
written to SQLite first) → event bus → ``/ws`` → client. 200 samples, a random 20-80 ms gap between them so they
do not line up with the simulator's once-a-second report. Figures: p50, p95, p99, max.

PrusaLink: the same with the simulator's ``pause()``/``resume()`` (its HTTP API shows the new state at once);
the server learns it at its next poll, so the expected latency is up to one poll interval (1 s) plus the request.
A random 0-1 s wait before each change spreads the samples over the poll phase. 20 samples; p50, p99, max.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import websockets

from bench import Figure, ServerProcess, percentile, printer_entry
from printfleet.sim.bambu import BambuFarm
from printfleet.sim.prusalink import SimulatedPrusaLinkPrinter

__all__ = ["BAMBU_SAMPLES", "PRUSALINK_SAMPLES", "FrameClock", "run"]

BAMBU_SAMPLES = 200
BAMBU_TARGET_P99_S = 0.250
PRUSALINK_SAMPLES = 20
PRUSALINK_POLL_S = 1.0
PRUSALINK_TARGET_S = PRUSALINK_POLL_S + 0.250
SAMPLE_TIMEOUT_S = 5.0
"""A frame that has not arrived after this long is counted as lost (and as a 5 s sample)."""


class FrameClock:
    """Reads ``/ws`` frames in a task and keeps, per printer, the receipt time and state of each status frame."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._frames: defaultdict[str, list[tuple[float, str]]] = defaultdict(list)
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        while True:
            text = await self._ws.recv()
            received = time.perf_counter()
            frame = json.loads(text)
            if frame.get("type") != "printer_status_update":
                continue
            data = frame["data"]
            self._frames[data["id"]].append((received, data["status"]["state"]))
            self._arrived.set()

    def start(self) -> None:
        """Start reading."""
        self._task = asyncio.create_task(self._read(), name="bench-ws-reader")

    async def stop(self) -> None:
        """Stop reading."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await self._task

    async def first(self, printer_id: str, state: str, *, after: float, timeout_s: float = SAMPLE_TIMEOUT_S) -> float:
        """Receipt time of the first frame for ``printer_id`` in ``state`` received after ``after``.

        Raises TimeoutError when none arrives within ``timeout_s``; re-raises the reader's error if it died.
        """
        deadline = time.perf_counter() + timeout_s
        while True:
            for received, seen in self._frames[printer_id]:
                if received > after and seen == state:
                    return received
            if self._task is not None and self._task.done():
                self._task.result()
                raise RuntimeError("the /ws reader stopped")
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"no {state!r} frame for {printer_id} within {timeout_s} s")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    def forget(self, printer_id: str) -> None:
        """Drop the frames kept for ``printer_id`` (they are only needed until their sample is taken)."""
        self._frames[printer_id].clear()


async def _sample(
    clock: FrameClock,
    printer_id: str,
    actions: tuple[tuple[Callable[[], Awaitable[None]], str], tuple[Callable[[], Awaitable[None]], str]],
    *,
    count: int,
    gap_s: tuple[float, float],
    rng: random.Random,
) -> tuple[list[float], int]:
    """``count`` samples alternating the two (action, expected state) pairs; returns (seconds, lost count)."""
    samples: list[float] = []
    lost = 0
    for index in range(count):
        await asyncio.sleep(rng.uniform(*gap_s))
        act, state = actions[index % 2]
        clock.forget(printer_id)
        started = time.perf_counter()
        await act()
        try:
            samples.append(await clock.first(printer_id, state, after=started) - started)
        except TimeoutError:
            lost += 1
            samples.append(SAMPLE_TIMEOUT_S)
            # Resynchronise: wait for whatever the printer shows before the next change.
            await asyncio.sleep(1.0)
    return samples, lost


def _ms(seconds: float) -> str:
    millis = seconds * 1000
    return f"{millis:.1f}" if millis < 100 else f"{millis:,.0f}"


async def _measure(workdir: Path) -> list[Figure]:
    rng = random.Random(7)
    async with (
        BambuFarm(1, workdir=workdir / "bambu", report_interval_s=1.0, id_prefix="bench-bambu") as farm,
        SimulatedPrusaLinkPrinter("bench-mk4", poll_interval=PRUSALINK_POLL_S) as prusa,
    ):
        bambu = farm[0]
        await bambu.start_print("latency_probe.gcode.3mf", duration_s=3600, prepare_s=0.2)
        await prusa.start_print("latency_probe.bgcode", duration_s=3600)
        entries = [printer_entry(bambu.printer_config()), printer_entry(prusa.printer_config())]
        async with ServerProcess(workdir, entries) as server:
            await server.wait_connected(2, timeout_s=30)
            async with websockets.connect(server.ws_url, max_size=None, additional_headers=server.headers) as ws:
                clock = FrameClock(ws)
                clock.start()
                try:
                    await clock.first(bambu.printer_id, "printing", after=0.0, timeout_s=15)
                    await clock.first(prusa.printer_id, "printing", after=0.0, timeout_s=15)
                    bambu_samples, bambu_lost = await _sample(
                        clock,
                        bambu.printer_id,
                        ((bambu.pause, "paused"), (bambu.resume, "printing")),
                        count=BAMBU_SAMPLES,
                        gap_s=(0.02, 0.08),
                        rng=rng,
                    )
                    prusa_samples, prusa_lost = await _sample(
                        clock,
                        prusa.printer_id,
                        ((prusa.pause, "paused"), (prusa.resume, "printing")),
                        count=PRUSALINK_SAMPLES,
                        gap_s=(0.0, PRUSALINK_POLL_S),
                        rng=rng,
                    )
                finally:
                    await clock.stop()

    b50, b95, b99 = (percentile(bambu_samples, q) for q in (0.50, 0.95, 0.99))
    p50, p99 = percentile(prusa_samples, 0.50), percentile(prusa_samples, 0.99)
    lost_b = f", {bambu_lost} lost" if bambu_lost else ""
    lost_p = f", {prusa_lost} lost" if prusa_lost else ""
    return [
        Figure(
            "bambu → /ws",
            f"p50 {_ms(b50)} ms  p95 {_ms(b95)} ms  p99 {_ms(b99)} ms  max {_ms(max(bambu_samples))} ms  "
            f"({len(bambu_samples)} samples{lost_b})",
            f"p99 ≤ {_ms(BAMBU_TARGET_P99_S)} ms",
            b99 <= BAMBU_TARGET_P99_S and not bambu_lost,
        ),
        Figure(
            "prusalink → /ws",
            f"p50 {_ms(p50)} ms  p99 {_ms(p99)} ms  max {_ms(max(prusa_samples))} ms  "
            f"({len(prusa_samples)} samples, poll {PRUSALINK_POLL_S:g} s{lost_p})",
            f"≤ poll + 250 = {_ms(PRUSALINK_TARGET_S)} ms",
            p99 <= PRUSALINK_TARGET_S and not prusa_lost,
        ),
    ]


def run() -> list[Figure]:
    """Measure and return the latency figures."""
    with tempfile.TemporaryDirectory(prefix="printfleet-bench-latency-") as tmp:
        return asyncio.run(_measure(Path(tmp)))
