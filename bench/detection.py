"""Detection latency: a print starts on a printer → its job is committed → the ``job_auto_created`` frame arrives.

Setup: printfleet runs as a separate process (``printfleet serve`` on a loopback port, SQLite in a temporary
directory, see :class:`bench.ServerProcess`) watching five simulated Bambu Lab printers (``BambuFarm(5)``: one
mosquitto each, TLS verified against the simulator's CA, a partial report every second like a P1, 0.2 s PREPARE)
and two PrusaLink printers polled every second. A ``websockets`` client in this process reads ``/ws``; a reader
task stamps every job frame with ``time.perf_counter()`` the moment ``recv()`` returns.

Bambu: ``t0`` is taken right before the simulator's public ``start_print()`` (the same as starting a print on the
printer's screen, which publishes the changed fields at once); ``t1`` is the receipt of the first
``job_auto_created`` frame for that printer after ``t0``. The path measured: simulator publish → mosquitto → the
adapter's MQTT client → parse, merge, normalise → monitoring → tracking → the job row committed to SQLite → event
bus → ``/ws`` → client. 100 samples, round-robin over the five printers, a random 20-80 ms gap between them; each
print lasts 0.3 s and a printer is reused only after the ``job_updated`` frame saying its previous job completed.
Figures: p50, p95, p99, max against p99 ≤ 1 s.

PrusaLink: the same with the simulator's ``start_print()``; the server learns of the print at its next poll, so
the expected latency is up to one poll interval (1 s) plus the request and the commit. A random 0-1 s wait before
each start spreads the samples over the poll phase. Each print is cancelled on the printer once its job is
announced (its ``cancelled`` frame is awaited before the printer is reused). 10 samples over two printers;
p50, p99, max against ≤ poll + 1 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import websockets

from bench import Figure, ServerProcess, percentile, printer_entry
from printfleet.sim.bambu import BambuFarm
from printfleet.sim.prusalink import SimulatedPrusaLinkPrinter

__all__ = ["BAMBU_SAMPLES", "PRUSALINK_SAMPLES", "JobFrames", "run"]

BAMBU_PRINTERS = 5
BAMBU_SAMPLES = 100
BAMBU_PRINT_S = 0.3
BAMBU_TARGET_P99_S = 1.0
PRUSALINK_PRINTERS = 2
PRUSALINK_SAMPLES = 10
PRUSALINK_POLL_S = 1.0
PRUSALINK_TARGET_S = PRUSALINK_POLL_S + 1.0
SAMPLE_TIMEOUT_S = 10.0
"""A frame that has not arrived after this long is counted as lost (and as a 10 s sample)."""
END_TIMEOUT_S = 15.0
"""How long a printer may take to show its previous job ended before it is reused anyway."""


class JobFrames:
    """Reads ``/ws`` in a task and keeps, per printer, ``(receipt time, frame type, job status)`` of job frames."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._frames: defaultdict[str, list[tuple[float, str, str]]] = defaultdict(list)
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        while True:
            text = await self._ws.recv()
            received = time.perf_counter()
            frame = json.loads(text)
            if frame.get("type") not in ("job_auto_created", "job_updated"):
                continue
            data = frame["data"]
            self._frames[data["printer_id"]].append((received, frame["type"], data["status"]))
            self._arrived.set()

    def start(self) -> None:
        """Start reading."""
        self._task = asyncio.create_task(self._read(), name="bench-ws-job-reader")

    async def stop(self) -> None:
        """Stop reading."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await self._task

    async def first(
        self, printer_id: str, kind: str, statuses: Sequence[str], *, after: float, timeout_s: float
    ) -> float:
        """Receipt time of the first ``kind`` frame for ``printer_id`` with a status in ``statuses`` after ``after``.

        Raises TimeoutError when none arrives within ``timeout_s``; re-raises the reader's error if it died.
        """
        deadline = time.perf_counter() + timeout_s
        while True:
            for received, seen_kind, status in self._frames[printer_id]:
                if received > after and seen_kind == kind and status in statuses:
                    return received
            if self._task is not None and self._task.done():
                self._task.result()
                raise RuntimeError("the /ws reader stopped")
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"no {kind} {'/'.join(statuses)} frame for {printer_id} within {timeout_s} s")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    def forget(self, printer_id: str) -> None:
        """Drop the frames kept for ``printer_id`` (they are only needed until their sample is taken)."""
        self._frames[printer_id].clear()


async def _sample(
    frames: JobFrames,
    printers: Sequence[tuple[str, Callable[[int], Awaitable[None]], Callable[[], Awaitable[None]] | None]],
    *,
    count: int,
    gap_s: tuple[float, float],
    rng: random.Random,
) -> tuple[list[float], int, int]:
    """``count`` samples round-robin over ``printers`` = (id, start the n-th print, end it or None to let it end).

    Before a printer is reused, the frame announcing its previous job's end is awaited. Returns (seconds, lost,
    printers reused without their end frame).
    """
    samples: list[float] = []
    lost = unended = 0
    pending_end: dict[str, float] = {}  # printer → t0 of its print whose end frame is still due
    for index in range(count):
        printer_id, start, end = printers[index % len(printers)]
        if printer_id in pending_end:
            try:
                await frames.first(
                    printer_id,
                    "job_updated",
                    ("completed", "cancelled", "failed", "unknown"),
                    after=pending_end.pop(printer_id),
                    timeout_s=END_TIMEOUT_S,
                )
            except TimeoutError:
                unended += 1
        frames.forget(printer_id)
        await asyncio.sleep(rng.uniform(*gap_s))
        started = time.perf_counter()
        await start(index)
        pending_end[printer_id] = started
        try:
            received = await frames.first(
                printer_id, "job_auto_created", ("running", "paused"), after=started, timeout_s=SAMPLE_TIMEOUT_S
            )
            samples.append(received - started)
        except TimeoutError:
            lost += 1
            samples.append(SAMPLE_TIMEOUT_S)
        if end is not None:
            await end()
    return samples, lost, unended


def _starter(
    start_print: Callable[..., Awaitable[None]], suffix: str, seconds: float
) -> Callable[[int], Awaitable[None]]:
    """Start the n-th sample's print, ``detect_<n><suffix>`` of ``seconds``."""

    def start(n: int) -> Awaitable[None]:
        return start_print(f"detect_{n:03d}{suffix}", duration_s=seconds)

    return start


def _ms(seconds: float) -> str:
    millis = seconds * 1000
    return f"{millis:.1f}" if millis < 100 else f"{millis:,.0f}"


async def _measure(workdir: Path) -> list[Figure]:
    rng = random.Random(11)
    async with (
        BambuFarm(
            BAMBU_PRINTERS, workdir=workdir / "bambu", report_interval_s=1.0, prepare_s=0.2, id_prefix="detect-bambu"
        ) as farm,
        contextlib.AsyncExitStack() as stack,
    ):
        prusas = [
            await stack.enter_async_context(
                SimulatedPrusaLinkPrinter(f"detect-mk4-{n}", poll_interval=PRUSALINK_POLL_S)
            )
            for n in range(1, PRUSALINK_PRINTERS + 1)
        ]
        entries = [printer_entry(config) for config in farm.printer_configs()]
        entries += [printer_entry(prusa.printer_config()) for prusa in prusas]
        async with ServerProcess(workdir, entries) as server:
            await server.wait_connected(len(entries), timeout_s=30)
            await asyncio.sleep(1.5)  # every printer's first report in, so the first print is seen starting
            async with websockets.connect(server.ws_url, max_size=None, additional_headers=server.headers) as ws:
                frames = JobFrames(ws)
                frames.start()
                try:
                    bambu_samples, bambu_lost, bambu_unended = await _sample(
                        frames,
                        [
                            (
                                printer.printer_id,
                                _starter(printer.start_print, ".gcode.3mf", BAMBU_PRINT_S),
                                None,
                            )
                            for printer in farm.printers
                        ],
                        count=BAMBU_SAMPLES,
                        gap_s=(0.02, 0.08),
                        rng=rng,
                    )
                    prusa_samples, prusa_lost, prusa_unended = await _sample(
                        frames,
                        [
                            (
                                prusa.printer_id,
                                _starter(prusa.start_print, ".bgcode", 60.0),
                                prusa.cancel,
                            )
                            for prusa in prusas
                        ],
                        count=PRUSALINK_SAMPLES,
                        gap_s=(0.0, PRUSALINK_POLL_S),
                        rng=rng,
                    )
                finally:
                    await frames.stop()

    b50, b95, b99 = (percentile(bambu_samples, q) for q in (0.50, 0.95, 0.99))
    p50, p99 = percentile(prusa_samples, 0.50), percentile(prusa_samples, 0.99)
    notes_b = "".join(f", {n} {what}" for n, what in ((bambu_lost, "lost"), (bambu_unended, "end frames missing")) if n)
    notes_p = "".join(f", {n} {what}" for n, what in ((prusa_lost, "lost"), (prusa_unended, "end frames missing")) if n)
    return [
        Figure(
            "bambu print → job_auto_created",
            f"p50 {_ms(b50)} ms  p95 {_ms(b95)} ms  p99 {_ms(b99)} ms  max {_ms(max(bambu_samples))} ms  "
            f"({len(bambu_samples)} samples{notes_b})",
            f"p99 ≤ {_ms(BAMBU_TARGET_P99_S)} ms",
            b99 <= BAMBU_TARGET_P99_S and not bambu_lost,
        ),
        Figure(
            "prusalink print → job_auto_created",
            f"p50 {_ms(p50)} ms  p99 {_ms(p99)} ms  max {_ms(max(prusa_samples))} ms  "
            f"({len(prusa_samples)} samples, poll {PRUSALINK_POLL_S:g} s{notes_p})",
            f"≤ poll + 1 s = {_ms(PRUSALINK_TARGET_S)} ms",
            p99 <= PRUSALINK_TARGET_S and not prusa_lost,
        ),
    ]


def run() -> list[Figure]:
    """Measure and return the detection latency figures."""
    with tempfile.TemporaryDirectory(prefix="printfleet-bench-detection-") as tmp:
        return asyncio.run(_measure(Path(tmp)))
