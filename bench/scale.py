"""A farm of 1,000 printers on three processes (issue 19): CPU, memory, a report's way to another process's
WebSocket, failover, duplicate jobs; and the same farm on one process, side by side.

Setup: a fresh PostgreSQL database beside ``PRINTFLEET_TEST_POSTGRES_URL``'s; ``BambuFarm(1000, shared_broker=True,
report_interval_s=1.0)`` in this process (one mosquitto, one certificate naming every serial), every printer on a
long print, so each sends a partial report every second; ``printfleet serve`` processes on the database, each
configured with the whole farm, logging at WARNING.

1. **One process** (as before printer ownership could share a farm): it owns and connects to every printer. Once
   ``/healthz`` counts them all online and a few seconds have passed, it is measured for ``MEASURE_S``: CPU
   (``utime + stime`` of ``/proc/<pid>/stat`` over the wall time, % of one core) and RSS (``VmRSS`` sampled every
   second; ``VmHWM`` at the end).
2. **Three processes**: two more start; the first lets go of what exceeds its fair share and the others claim it.
   Once each owns its share, every process shows every printer online and their CPU stopped falling (the printers
   taken over are taken up first: jobs, usage, slots, project files), the three are measured together the same
   way (their CPU summed; each one's RSS in the window against the target, its peak since start for context: the
   first's is from holding the whole farm alone), with a ``/ws`` client on the third showing the whole farm live (as
   a dashboard open on one of them would: that process reads every printer's telemetry; the other two read only
   state changes). PostgreSQL's own CPU (its processes that did not end within the window) is printed for context.
3. **Report → WebSocket on another process**: ``SAMPLES`` state changes (a pause, then a resume, at the printer's
   screen) of printers owned by the first two processes, each stamped when the simulator published it, and the
   ``printer_status_update`` frame showing it at a ``/ws`` client of the third.
4. **Failover**: the first process is killed (SIGKILL); the seconds until the two others own every printer again
   (the target: the lease's life, 12 s, plus 5 s).
5. **Duplicate jobs**: every print was running before printfleet first saw it, so each printer has exactly one job:
   discovered once, then tracked by whichever process owns the printer, through the rebalancing and the failover.

The simulators run in this process and share the machine's cores with everything measured: their CPU is printed.
Run alone with ``python -m bench.scale``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import os
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench import Figure, ServerProcess, percentile, printer_entry
from bench.farm import cpu_seconds, memory_mb
from bench.store_jobs import POSTGRES_URL_VARIABLE, scratch_postgres
from printfleet.sim.bambu import BambuFarm

__all__ = ["Scale", "measure", "run"]

PRINTERS = 1000
PROCESSES = 3
MEASURE_S = 20.0
SETTLE_S = 5.0
SAMPLES = 100
TTL_S = 12.0
TARGET_CPU_CORES = 1.0
TARGET_RSS_MB = 300.0
TARGET_P99_S = 1.0
TARGET_FAILOVER_S = TTL_S + 5.0


@dataclass(frozen=True, slots=True)
class Window:
    """The processes measured together: CPU summed (% of one core), each one's highest RSS sample (MB)."""

    wall_s: float
    cpu_percent: float
    rss_max_mb: list[float]
    postgres_cpu_percent: float | None
    sim_cpu_percent: float
    frames: int = 0
    """``printer_status_update`` frames the watching ``/ws`` client received in the window."""
    quiet_s: float = 0.0
    """Seconds waited before the window for the processes' CPU to settle (see ``_quiet``)."""


@dataclass(frozen=True, slots=True)
class Scale:
    """What one scale run measured."""

    printers: int
    connect_one_s: float
    one: Window
    one_hwm_mb: float
    spread_s: float
    shares: list[int]
    online_s: float | None
    three: Window
    three_hwm_mb: list[float]
    latencies_s: list[float]
    failover_s: float
    jobs: int
    duplicates: int
    missing: int


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
    return pids


def _cpu(pids: Sequence[int]) -> dict[int, float]:
    """CPU seconds used so far by each of ``pids`` that still runs."""
    used = {}
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            used[pid] = cpu_seconds(pid)
    return used


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two readings: by the processes of both, and all of one that started meanwhile (a
    PostgreSQL backend that ended meanwhile took its time with it)."""
    return sum(used - before.get(pid, 0.0) for pid, used in after.items())


async def _window(servers: Sequence[ServerProcess], seconds: float) -> Window:
    pids = [server.pid for server in servers]
    postgres = _postgres_pids()
    cpu_before, pg_before, sim_before = _cpu(pids), _cpu(postgres), time.process_time()
    began = time.monotonic()
    samples: list[list[float]] = [[] for _ in pids]
    while time.monotonic() - began < seconds:
        await asyncio.sleep(1.0)
        for index, pid in enumerate(pids):
            samples[index].append(memory_mb(pid)[0])
    wall = time.monotonic() - began
    return Window(
        wall_s=wall,
        cpu_percent=100 * _spent(cpu_before, _cpu(pids)) / wall,
        rss_max_mb=[max(sampled) for sampled in samples],
        postgres_cpu_percent=100 * _spent(pg_before, _cpu(_postgres_pids())) / wall if postgres else None,
        sim_cpu_percent=100 * (time.process_time() - sim_before) / wall,
    )


@contextlib.asynccontextmanager
async def _watching(server: ServerProcess) -> Any:
    """A ``/ws`` client of ``server`` reading every frame while entered; yields a one-item list counting the
    ``printer_status_update`` frames."""
    counted = [0]

    async def read(ws: Any) -> None:
        async for frame_text in ws:
            if json.loads(frame_text).get("type") == "printer_status_update":
                counted[0] += 1

    async with websockets.connect(server.ws_url, max_size=None, additional_headers=server.headers) as ws:
        reader = asyncio.create_task(read(ws))
        try:
            yield counted
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


async def _quiet(servers: Sequence[ServerProcess], *, window_s: float, longest_s: float = 180.0) -> float:
    """Seconds until the processes' summed CPU stopped falling: two ``window_s`` windows in a row within 10 % of
    each other (printers taken over are taken up first: their jobs, usage and slots read, their project files
    fetched). At most ``longest_s``."""
    began = time.monotonic()
    pids = [server.pid for server in servers]
    previous: float | None = None
    while time.monotonic() - began < longest_s:
        before = _cpu(pids)
        await asyncio.sleep(window_s)
        used = _spent(before, _cpu(pids))
        if previous is not None and abs(used - previous) <= 0.1 * previous:
            break
        previous = used
    return time.monotonic() - began


async def _health(client: httpx.AsyncClient, server: ServerProcess) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"{server.base_url}/healthz")).json()  # also when degraded (503)
    return body


async def _until(what: str, timeout_s: float, check: Any) -> float:
    """Seconds until ``await check()`` holds. Raises TimeoutError naming ``what``."""
    began = time.monotonic()
    while not await check():
        if time.monotonic() - began > timeout_s:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")
        await asyncio.sleep(0.25)
    return time.monotonic() - began


async def _owners(url: str, servers: Sequence[ServerProcess]) -> dict[str, ServerProcess]:
    """Each printer's owning process, from the lease table (an owner is named ``host:address:port``)."""
    by_port = {str(server.port): server for server in servers}
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(text("SELECT printer_id, owner FROM printer_leases"))).all()
    finally:
        await engine.dispose()
    return {row.printer_id: by_port[row.owner.rsplit(":", 1)[1]] for row in rows if row.owner}


async def _latencies(farm: BambuFarm, watcher: ServerProcess, owned_elsewhere: list[str], samples: int) -> list[float]:
    """Publish-to-frame seconds at ``watcher``'s /ws of pauses and resumes of printers other processes own."""
    printers = {printer.printer_id: printer for printer in farm.printers}
    wanted: dict[tuple[str, str], asyncio.Future[float]] = {}
    loop = asyncio.get_running_loop()

    async def follow(ws: Any) -> None:
        async for frame_text in ws:
            frame = json.loads(frame_text)
            if frame.get("type") != "printer_status_update":
                continue
            key = (frame["data"]["id"], frame["data"]["status"]["state"])
            waiter = wanted.get(key)
            if waiter is not None and not waiter.done():
                waiter.set_result(time.perf_counter())

    measured: list[float] = []
    async with websockets.connect(watcher.ws_url, max_size=None, additional_headers=watcher.headers) as ws:
        reader = asyncio.create_task(follow(ws))
        await asyncio.sleep(1.0)  # the snapshot read
        try:
            for n in range(samples):
                printer = printers[owned_elsewhere[(n // 2) % len(owned_elsewhere)]]
                state = "paused" if n % 2 == 0 else "printing"
                waiter = wanted[(printer.printer_id, state)] = loop.create_future()
                began = time.perf_counter()
                await (printer.pause() if state == "paused" else printer.resume())
                with contextlib.suppress(TimeoutError):
                    measured.append(await asyncio.wait_for(waiter, 5.0) - began)
                del wanted[(printer.printer_id, state)]
                await asyncio.sleep(0.1)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    return measured


async def measure(
    workdir: Path,
    server_url: str,
    *,
    printers: int = PRINTERS,
    measure_s: float = MEASURE_S,
    settle_s: float = SETTLE_S,
    samples: int = SAMPLES,
    ttl_s: float = TTL_S,
) -> Scale:
    """One scale run (see the module) with ``printers`` simulated printers; the figures. Raises TimeoutError when
    the farm does not settle."""
    connect_timeout = 60 + printers * 0.2
    async with (
        scratch_postgres(server_url) as url,
        BambuFarm(
            printers, workdir=workdir / "bambu", shared_broker=True, report_interval_s=1.0, id_prefix="scale"
        ) as farm,
    ):
        await asyncio.gather(
            *(
                printer.start_print(f"scale_part_{n}.gcode.3mf", duration_s=4 * 3600, total_layers=800, prepare_s=1.0)
                for n, printer in enumerate(farm.printers, start=1)
            )
        )
        entries = [printer_entry(printer.printer_config()) for printer in farm.printers]
        settings = {"database_url": url, "farm": {"printer_lease_ttl": ttl_s}}
        servers = []
        for index in range(PROCESSES):
            (workdir / f"p{index}").mkdir()
            servers.append(ServerProcess(workdir / f"p{index}", entries, log_level="WARNING", settings=settings))
        first, *others = servers
        async with first, httpx.AsyncClient(timeout=10.0) as client:
            connect_one_s = await first.wait_connected(printers, timeout_s=connect_timeout)
            await asyncio.sleep(settle_s)
            one = await _window([first], measure_s)
            one_hwm = memory_mb(first.pid)[1]
            for other in others:
                other.username, other.password, other.headers = first.username, first.password, first.headers
            async with contextlib.AsyncExitStack() as stack:
                for other in others:
                    await stack.enter_async_context(other)
                share = math.ceil(printers / PROCESSES)

                seen: list[str] = []

                async def spread() -> bool:
                    health = [await _health(client, server) for server in servers]
                    owned = [body["printers_owned"] for body in health]
                    online = [body["printers_connected"] for body in health]
                    seen[:] = [f"owned {owned}, shown online {online}"]
                    return bool(sum(owned) == printers and max(owned) <= share)

                try:
                    spread_s = await _until("the farm spread over three processes", connect_timeout, spread)
                except TimeoutError as error:
                    raise TimeoutError(f"{error}: {seen[0] if seen else 'no answer'}") from None
                shares = [(await _health(client, server))["printers_owned"] for server in servers]

                async def shown_online() -> bool:
                    online = [int((await _health(client, server))["printers_connected"]) for server in servers]
                    return min(online) >= printers

                try:  # every process shows every printer online, from its owner's reports
                    online_s: float | None = await _until("every printer shown online", connect_timeout, shown_online)
                except TimeoutError:
                    online_s = None
                async with _watching(servers[-1]) as frames:
                    await asyncio.sleep(settle_s)
                    quiet_s = await _quiet(servers, window_s=min(10.0, measure_s))
                    before = frames[0]
                    three = await _window(servers, measure_s)
                    three = dataclasses.replace(three, frames=frames[0] - before, quiet_s=quiet_s)
                three_hwm = [memory_mb(server.pid)[1] for server in servers]

                owners = await _owners(url, servers)
                watcher = servers[-1]
                elsewhere = sorted(printer_id for printer_id, owner in owners.items() if owner is not watcher)
                latencies = await _latencies(farm, watcher, elsewhere, samples)

                assert first.process is not None
                first.process.send_signal(signal.SIGKILL)
                await first.process.wait()
                killed_at = time.monotonic()

                async def taken_over() -> bool:
                    owned = [int((await _health(client, server))["printers_owned"]) for server in others]
                    return sum(owned) == printers

                await _until("the killed process's printers taken over", 3 * ttl_s + 30, taken_over)
                failover_s = time.monotonic() - killed_at
                await asyncio.sleep(2.0)  # the new owners' first reports handled
                per_printer: Counter[str] = Counter()
                offset = 0
                while True:
                    answer = await client.get(
                        f"{others[0].base_url}/api/v1/jobs",
                        params={"limit": 500, "offset": offset},
                        headers=others[0].headers,
                    )
                    answer.raise_for_status()
                    page = answer.json()["jobs"]
                    per_printer.update(job["printer_id"] for job in page)
                    offset += len(page)
                    if len(page) < 500:
                        break
    return Scale(
        printers=printers,
        connect_one_s=connect_one_s,
        one=one,
        one_hwm_mb=one_hwm,
        spread_s=spread_s,
        shares=shares,
        online_s=online_s,
        three=three,
        three_hwm_mb=three_hwm,
        latencies_s=latencies,
        failover_s=failover_s,
        jobs=sum(per_printer.values()),
        duplicates=sum(count - 1 for count in per_printer.values() if count > 1),
        missing=printers - len(per_printer),
    )


def figures(result: Scale, *, samples: int = SAMPLES) -> list[Figure]:
    """The printed figures of one run."""
    one, three = result.one, result.three
    ms = sorted(sample * 1000 for sample in result.latencies_s)
    p99 = percentile(ms, 0.99) if ms else math.inf
    rss = ", ".join(f"{value:.0f}" for value in three.rss_max_mb)
    hwm = ", ".join(f"{value:.0f}" for value in result.three_hwm_mb)
    return [
        Figure(
            f"scale {result.printers} bambu, 1 process CPU",
            f"{one.cpu_percent:.0f} % of one core, RSS {one.rss_max_mb[0]:.0f} MB (peak {result.one_hwm_mb:.0f} MB); "
            f"all connected {result.connect_one_s:.0f} s after start",
        ),
        Figure(
            f"scale {result.printers} bambu, {PROCESSES} processes CPU",
            f"{three.cpu_percent:.0f} % of one core in all ({three.wall_s:.0f} s once settled, "
            f"{three.quiet_s:.0f} s after all were shown online; a /ws client on the third showing "
            f"{three.frames / three.wall_s:.0f} printer updates a second; PostgreSQL "
            + (f"{three.postgres_cpu_percent:.0f} %" if three.postgres_cpu_percent is not None else "not visible here")
            + f", simulators {three.sim_cpu_percent:.0f} %)",
            f"< {TARGET_CPU_CORES * 100:.0f} %",
            three.cpu_percent < TARGET_CPU_CORES * 100,
        ),
        Figure(
            "  RSS per process",
            f"{rss} MB in the window (peaks since start {hwm} MB); shares "
            f"{'/'.join(str(n) for n in result.shares)}, spread in "
            f"{result.spread_s:.0f} s, "
            + (
                f"every printer shown online on every process {result.online_s:.0f} s later"
                if result.online_s is not None
                else "not every printer shown online on every process"
            ),
            f"< {TARGET_RSS_MB:.0f} MB",
            max(three.rss_max_mb) < TARGET_RSS_MB,
        ),
        Figure(
            "  report → /ws of another process",
            f"p50 {percentile(ms, 0.5):.0f} ms, p99 {p99:.0f} ms, max {ms[-1] if ms else math.inf:.0f} ms "
            f"({len(ms)} of {samples} state changes seen)",
            f"p99 <= {TARGET_P99_S * 1000:.0f} ms",
            bool(ms) and len(ms) == samples and p99 <= TARGET_P99_S * 1000,
        ),
        Figure(
            "  failover (SIGKILL)",
            f"{result.failover_s:.1f} s until the others owned all {result.printers}",
            f"<= {TARGET_FAILOVER_S:.0f} s",
            result.failover_s <= TARGET_FAILOVER_S,
        ),
        Figure(
            "  duplicate jobs",
            f"{result.duplicates} ({result.jobs} jobs for {result.printers} prints; "
            f"{result.missing} prints without one)",
            "0",
            result.duplicates == 0 and result.missing == 0,
        ),
    ]


def run() -> list[Figure]:
    """Measure and return the figures (skipped without PostgreSQL)."""
    server_url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not server_url:
        return [Figure(f"scale {PRINTERS} bambu", f"skipped: {POSTGRES_URL_VARIABLE} is not set")]
    with tempfile.TemporaryDirectory(prefix="printfleet-bench-scale-") as tmp:
        result = asyncio.run(measure(Path(tmp), server_url))
    return figures(result)


if __name__ == "__main__":
    for figure in run():
        print(figure)
