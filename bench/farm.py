"""Farm scale: CPU and memory of one printfleet process watching 200 Bambu printers that report every second.

Setup: ``BambuFarm(200, shared_broker=True, report_interval_s=1.0)`` in this process — one mosquitto for all
(one certificate naming every serial, so the server verifies each printer's serial as it would a real one), 200
simulated firmware clients, every printer on a long print so each sends a partial report every second
(temperatures, line number, now and then progress and layer). printfleet runs as a separate process,
``printfleet serve --config <tmp yaml>`` with the 200 printers (TLS verified against the farm's CA), SQLite in a
temporary directory, a free loopback port, logging at its default INFO.

Once ``/healthz`` counts 200 connected printers and a few seconds have passed (the first full reports and the
state transitions they cause are written at start-up), the server process is measured for 30 s:

- CPU: ``utime + stime`` of ``/proc/<pid>/stat`` before and after, in clock ticks, over the wall time: % of one core.
- Memory: ``VmRSS`` of ``/proc/<pid>/status`` sampled every second (the last and the highest sample), and ``VmHWM``
  (the kernel's peak RSS since the process started, start-up included).
- The same for 15 s more with one ``/ws`` client attached (a dashboard reading every frame: about one
  telemetry frame per printer per second), so the fan-out's cost shows too.
- Load actually offered: a separate MQTT client subscribed to ``device/+/report`` on the shared broker counts
  what the simulators publish (msg/s); the server's ``printfleet_printer_reports_total`` counter shows what it
  took in. Both are printed, so a light load cannot pass for a light server. This process's own CPU (the
  simulators) is printed too, for context: the machine's cores are shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import websockets

from bench import Figure, ServerProcess, printer_entry
from printfleet.sim.bambu import BambuFarm

__all__ = ["MEASURE_S", "PRINTERS", "run"]

PRINTERS = 200
MEASURE_S = 30.0
MEASURE_WATCHED_S = 15.0
SETTLE_S = 5.0
CONNECT_TIMEOUT_S = 90.0
TARGET_CPU_PERCENT = 25.0
TARGET_RSS_MB = 250.0
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (``/proc/<pid>/stat`` fields 14 and 15)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()  # the command name may contain spaces: cut after it
    return (int(fields[11]) + int(fields[12])) / _TICKS


def memory_mb(pid: int) -> tuple[float, float]:
    """``(VmRSS, VmHWM)`` of ``pid`` in MB (MiB, as the kernel counts kB)."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


class ReportCounter:
    """Counts every report the simulators publish, from a client subscribed to ``device/+/report``."""

    def __init__(self, *, port: int, password: str) -> None:
        self.count = 0
        self._port = port
        self._password = password
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _listen(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # a loopback counter: nothing to verify
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        async with aiomqtt.Client(
            "127.0.0.1", self._port, username="bblp", password=self._password, tls_context=context
        ) as client:
            await client.subscribe("device/+/report", qos=0)
            self._connected.set()
            async for _ in client.messages:
                self.count += 1

    async def __aenter__(self) -> ReportCounter:
        self._task = asyncio.create_task(self._listen(), name="bench-report-counter")
        waiter = asyncio.ensure_future(self._connected.wait())
        await asyncio.wait({waiter, self._task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if self._task.done():
            waiter.cancel()
            self._task.result()
        if not self._connected.is_set():
            waiter.cancel()
            raise TimeoutError("report counter did not connect to the shared broker")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task


@dataclass(frozen=True, slots=True)
class Window:
    """One measurement window of the server process."""

    wall_s: float
    cpu_percent: float
    rss_max_mb: float
    published_per_s: float
    ingested_per_s: float
    frames_per_s: float
    sim_cpu_percent: float


@dataclass(frozen=True, slots=True)
class FarmFigures:
    """What one farm run measured."""

    startup_s: float
    connect_s: float
    headless: Window
    watched: Window
    rss_mb: float
    hwm_mb: float


class FrameCounter:
    """A dashboard: one ``/ws`` client reading (and decoding) every frame, counting them."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.count = 0
        self._url = url
        self._headers = headers
        self._task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        async with websockets.connect(self._url, max_size=None, additional_headers=self._headers) as ws:
            async for text in ws:
                json.loads(text)
                self.count += 1

    async def __aenter__(self) -> FrameCounter:
        self._task = asyncio.create_task(self._read(), name="bench-frame-counter")
        await asyncio.sleep(1.0)  # connected, and the on-connect snapshot of 200 printers read
        if self._task.done():
            self._task.result()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await self._task


async def _window(server: ServerProcess, counter: ReportCounter, frames: FrameCounter | None, seconds: float) -> Window:
    pid = server.pid
    reports_before = await server.metric("printfleet_printer_reports_total", 'kind="bambu"')
    published_before = counter.count
    frames_before = frames.count if frames is not None else 0
    sim_before = time.process_time()
    cpu_before = cpu_seconds(pid)
    wall_before = time.monotonic()
    rss_samples: list[float] = []
    while time.monotonic() - wall_before < seconds:
        await asyncio.sleep(1.0)
        rss_samples.append(memory_mb(pid)[0])
    cpu_after = cpu_seconds(pid)
    wall_s = time.monotonic() - wall_before
    sim_cpu = time.process_time() - sim_before
    published = counter.count - published_before
    frames_seen = (frames.count - frames_before) if frames is not None else 0
    reports = await server.metric("printfleet_printer_reports_total", 'kind="bambu"') - reports_before
    return Window(
        wall_s=wall_s,
        cpu_percent=100 * (cpu_after - cpu_before) / wall_s,
        rss_max_mb=max(rss_samples),
        published_per_s=published / wall_s,
        ingested_per_s=reports / wall_s,
        frames_per_s=frames_seen / wall_s,
        sim_cpu_percent=100 * sim_cpu / wall_s,
    )


async def _measure(workdir: Path) -> FarmFigures:
    started = time.monotonic()
    async with BambuFarm(
        PRINTERS,
        workdir=workdir / "bambu",
        shared_broker=True,
        report_interval_s=1.0,
        id_prefix="farm",
    ) as farm:
        assert farm.shared is not None
        await asyncio.gather(
            *(
                printer.start_print(f"farm_part_{n}.gcode.3mf", duration_s=4 * 3600, total_layers=800, prepare_s=1.0)
                for n, printer in enumerate(farm.printers, start=1)
            )
        )
        startup_s = time.monotonic() - started
        entries = [printer_entry(printer.printer_config()) for printer in farm.printers]
        async with (
            ReportCounter(port=farm.shared.port, password=farm.printers[0].access_code) as counter,
            ServerProcess(workdir, entries) as server,
        ):
            connect_s = await server.wait_connected(PRINTERS, timeout_s=CONNECT_TIMEOUT_S)
            await asyncio.sleep(SETTLE_S)
            headless = await _window(server, counter, None, MEASURE_S)
            async with FrameCounter(server.ws_url, server.headers) as frames:
                watched = await _window(server, counter, frames, MEASURE_WATCHED_S)
            rss_mb, hwm_mb = memory_mb(server.pid)
            health = await server.health()
            if health["printers_connected"] < PRINTERS:
                raise RuntimeError(f"only {health['printers_connected']}/{PRINTERS} connected at the end")
    return FarmFigures(
        startup_s=startup_s, connect_s=connect_s, headless=headless, watched=watched, rss_mb=rss_mb, hwm_mb=hwm_mb
    )


def run() -> list[Figure]:
    """Measure and return the farm figures."""
    with tempfile.TemporaryDirectory(prefix="printfleet-bench-farm-") as tmp:
        result = asyncio.run(_measure(Path(tmp)))
    headless, watched = result.headless, result.watched
    rss_max = max(headless.rss_max_mb, watched.rss_max_mb)
    return [
        Figure(
            f"farm {PRINTERS} bambu CPU",
            f"{headless.cpu_percent:.1f} % of one core  (server process, no /ws client, {headless.wall_s:.0f} s)",
            f"< {TARGET_CPU_PERCENT:.0f} %",
            headless.cpu_percent < TARGET_CPU_PERCENT,
        ),
        Figure(
            "  with a /ws client",
            f"{watched.cpu_percent:.1f} % of one core  ({watched.frames_per_s:,.0f} frames/s to one dashboard, "
            f"{watched.wall_s:.0f} s)",
            f"< {TARGET_CPU_PERCENT:.0f} %",
            watched.cpu_percent < TARGET_CPU_PERCENT,
        ),
        Figure(
            f"farm {PRINTERS} bambu RSS",
            f"{result.rss_mb:.0f} MB  (max sampled {rss_max:.0f} MB, peak VmHWM {result.hwm_mb:.0f} MB)",
            f"< {TARGET_RSS_MB:.0f} MB (peak)",
            result.hwm_mb < TARGET_RSS_MB,
        ),
        Figure(
            "  load offered",
            f"simulators published {headless.published_per_s:,.0f} msg/s, server ingested "
            f"{headless.ingested_per_s:,.0f} reports/s",
        ),
        Figure(
            "  set-up",
            f"{PRINTERS} simulators up in {result.startup_s:.1f} s, all connected to printfleet "
            f"{result.connect_s:.1f} s after /healthz answered; simulator process CPU "
            f"{headless.sim_cpu_percent:.0f} % of one core",
        ),
    ]
