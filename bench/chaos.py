"""The chaos run: 500 simulated prints on 20 printers while the server is killed and restarted; every job checked.

Setup: 16 simulated Bambu Lab printers (``BambuFarm(16)``: one mosquitto each, TLS verified, a partial report every
0.2 s, 0.2 s PREPARE) and 4 PrusaLink printers polled every 0.5 s, all in this process; printfleet runs as a
separate process (:class:`bench.ServerProcess`, SQLite in a temporary directory). One driver task per printer
starts prints one after the other until 500 prints have started, each with a plan drawn from a seeded random
generator (``CHAOS_SEED`` in the environment replays a run's plans; the seed is printed):

- a print of 1-4 s (Bambu) or 3-5 s (PrusaLink: a print shorter than two polls may be missed by design),
  file names unique per print;
- the intended end: completed (60 %), cancelled (20 %) or failed (20 %) at a random moment of the print;
- now and then one or two pauses of 0.3-1.5 s on the printer's screen, and a network disconnect of 1-3 s (the
  Bambu printer's broker goes down, cutting the server's connection; the PrusaLink printer's HTTP server stops);
- 0.2-1 s on the end screen before the next print.

Meanwhile the server process is killed with SIGKILL every 20-40 s and restarted at once on the same database
(same port). The run records each outage: the kill, when the API answered again, and when the API first showed
each printer online again (from then on the server watches that printer).

What a print's end state should be: the simulator's own end phase (finished → ``completed``, cancelled, failed).
A print whose end and the start of the printer's next print both fell in one outage (killed → printer seen again)
cannot have its end observed; it may end ``unknown`` (DESIGN.md invariant 3) and is counted apart. The driver
keeps the rest observable, as a real farm's minutes-long end screens and prints do: before the next print starts
it waits until the server has closed the previous print's job (unless that print ended in an outage), and a
print the server has not seen yet (started during an outage) is paused on the printer just before it would end
until its job exists (a print wholly inside an outage could not have a job). Both waits give up after 15-20 s and
are counted, so a server that never closes or never creates a job still shows as a wrong count.

At the end the jobs are read from ``GET /api/v1/jobs`` (pages of 500) and matched to prints by printer and
identity (the Bambu file name, the PrusaLink job id), then checked against the print order on each printer.
Printed: prints, jobs, duplicates (more than one job for one print), jobs left running or paused, right end
states, unknown-while-down, wrong (missing jobs, stray jobs, out-of-order jobs and wrong end states), with the
details of every unknown and every wrong one. On a wrong count the working directory (server logs, database) is
kept and its path printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import Figure, ServerProcess, printer_entry
from printfleet.sim.bambu import BambuFarm, SimulatedBambuPrinter
from printfleet.sim.base import SimPhase, SimPrint
from printfleet.sim.prusalink import SimulatedPrusaLinkPrinter

__all__ = ["PRINTS", "SEED_ENV", "run"]

SEED_ENV = "CHAOS_SEED"
PRINTS = 500
BAMBU_PRINTERS = 16
PRUSALINK_PRINTERS = 4
BAMBU_REPORT_S = 0.2
BAMBU_PREPARE_S = 0.2
PRUSALINK_POLL_S = 0.5
BAMBU_PRINT_S = (1.0, 4.0)
PRUSALINK_PRINT_S = (3.0, 5.0)
END_SCREEN_S = (0.2, 1.0)
PAUSE_S = (0.3, 1.5)
DISCONNECT_S = (1.0, 3.0)
KILL_EVERY_S = (20.0, 40.0)
OUTCOMES = (("completed", 0.6), ("cancelled", 0.2), ("failed", 0.2))
PAUSE_CHANCE = 0.35
SECOND_PAUSE_CHANCE = 0.3
DISCONNECT_CHANCE = 0.12
HOLD_BEFORE_END_S = 0.5
"""A print the server has not seen yet is paused when it has less than this left (seconds)."""
SEEN_TIMEOUT_S = 20.0
CLOSED_TIMEOUT_S = 15.0
SETTLE_TIMEOUT_S = 30.0
ACTIVE = ("running", "paused")
_END_STATUS = {SimPhase.FINISHED: "completed", SimPhase.CANCELLED: "cancelled", SimPhase.FAILED: "failed"}


@dataclass
class SimRun:
    """One simulated print and what happened to it, times in ``time.monotonic()`` seconds."""

    index: int
    printer_id: str
    seq: int
    file_name: str
    duration_s: float
    planned: str
    started_at: float
    key: str = ""
    """How its job is recognised: the Bambu file name, the PrusaLink job id."""
    ended_at: float | None = None
    outcome: str | None = None
    next_started_at: float | None = None
    seen: bool = False
    held_s: float = 0.0
    events: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class Outage:
    """One server kill: when, when the API answered again, when each printer showed online again."""

    killed_at: float
    api_up_at: float | None = None
    seen_at: dict[str, float] = field(default_factory=dict)


@dataclass
class Counters:
    """What the drivers had to do besides their plans."""

    pauses: int = 0
    disconnects: int = 0
    cancels: int = 0
    fails: int = 0
    holds: int = 0
    hold_timeouts: int = 0
    close_timeouts: int = 0
    slow_closes: int = 0
    """Next prints that waited more than 2 s for the server to close the previous print's job."""
    longest_close_wait_s: float = 0.0


def _sim_print(sim: SimulatedBambuPrinter | SimulatedPrusaLinkPrinter) -> SimPrint | None:
    return sim.print if isinstance(sim, SimulatedBambuPrinter) else sim.current


def _job_key(job: dict[str, Any]) -> str:
    return str(job["native_job_id"] if job["printer_type"] == "prusalink" else job["filename"])


class Chaos:
    """The drivers, the killer, and what they recorded."""

    def __init__(self, server: ServerProcess, workdir: Path, seed: int, printer_ids: Sequence[str]) -> None:
        self.server = server
        self.workdir = workdir
        self.seed = seed
        self.printer_ids = list(printer_ids)
        self.client = httpx.AsyncClient(base_url=server.base_url, timeout=3.0, headers=server.headers)
        self.runs: list[SimRun] = []
        self.outages: list[Outage] = []
        self.counters = Counters()
        self.t0 = time.monotonic()
        self._restarts = 0

    def at(self, moment: float | None) -> str:
        """A moment as seconds since the start of the run."""
        return "-" if moment is None else f"{moment - self.t0:7.2f}"

    # --- the server -----------------------------------------------------------------------------------------

    async def jobs_of(self, printer_id: str, limit: int = 5) -> list[dict[str, Any]] | None:
        """The printer's newest jobs, None when the server does not answer."""
        try:
            response = await self.client.get("/api/v1/jobs", params={"printer_id": printer_id, "limit": limit})
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        jobs: list[dict[str, Any]] = response.json()["jobs"]
        return jobs

    def blind_since(self, printer_id: str) -> float | None:
        """The kill time of an outage after which the server has not shown ``printer_id`` online yet, else None."""
        for outage in self.outages:
            if printer_id not in outage.seen_at:
                return outage.killed_at
        return None

    async def wait_all_seen(self, outage: Outage | None) -> None:
        """Poll ``/api/v1/printers`` until every printer shows a state other than offline; record when."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        seen = outage.seen_at if outage is not None else {}
        while len(seen) < len(self.printer_ids):
            with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                response = await self.client.get("/api/v1/printers")
                now = time.monotonic()
                for printer in response.json()["printers"]:
                    if printer["status"]["state"] != "offline":
                        seen.setdefault(printer["id"], now)
            if time.monotonic() > deadline:
                missing = sorted(set(self.printer_ids) - set(seen))
                print(f"chaos: printers not online {SETTLE_TIMEOUT_S:.0f} s after a restart: {missing}", flush=True)
                for printer_id in missing:
                    seen[printer_id] = time.monotonic()
                return
            await asyncio.sleep(0.1)

    async def kill_and_restart(self) -> None:
        """SIGKILL the server, restart it on the same database and port, wait until it shows every printer."""
        process = self.server.process
        assert process is not None
        outage = Outage(killed_at=time.monotonic())
        self.outages.append(outage)
        process.kill()
        await process.wait()
        self._restarts += 1
        self.server.log_file.rename(self.workdir / f"server-{self._restarts}.log")
        await self.server.start()
        outage.api_up_at = time.monotonic()
        await self.wait_all_seen(outage)
        last = max(outage.seen_at.values())
        print(
            f"chaos: kill {self._restarts} at {self.at(outage.killed_at)} s, API up after "
            f"{outage.api_up_at - outage.killed_at:.2f} s, all printers online after {last - outage.killed_at:.2f} s",
            file=sys.stderr,
            flush=True,
        )

    async def killer(self, stop: asyncio.Event, rng: random.Random) -> None:
        """Kill and restart the server every 20-40 s until ``stop`` is set."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), rng.uniform(*KILL_EVERY_S))
                return
            await self.kill_and_restart()

    # --- the printers ---------------------------------------------------------------------------------------

    def claim(self, printer_id: str, seq: int, rng: random.Random, kind: str) -> SimRun | None:
        """The next print of the run, or None when all have started."""
        if len(self.runs) >= PRINTS:
            return None
        index = len(self.runs)
        planned = rng.choices([name for name, _ in OUTCOMES], [weight for _, weight in OUTCOMES])[0]
        bambu = kind == "bambu"
        duration = round(rng.uniform(*(BAMBU_PRINT_S if bambu else PRUSALINK_PRINT_S)), 2)
        file_name = f"chaos_{index:03d}.gcode.3mf" if bambu else f"chaos_{index:03d}.bgcode"
        run = SimRun(index, printer_id, seq, file_name, duration, planned, started_at=time.monotonic())
        self.runs.append(run)
        return run

    async def is_seen(self, run: SimRun) -> bool:
        """True once the server holds a job for ``run``."""
        if not run.seen:
            jobs = await self.jobs_of(run.printer_id)
            run.seen = jobs is not None and any(_job_key(job) == run.key for job in jobs)
        return run.seen

    async def proceed(
        self, sim: SimulatedBambuPrinter | SimulatedPrusaLinkPrinter, run: SimRun, until: float, *, seen: bool = False
    ) -> bool:
        """Let the print go on until ``until`` (and, with ``seen``, until the server holds its job).

        A print the server has not seen is paused on the printer just before it would end, and resumed once its
        job exists. Returns False when the print has ended.
        """
        # The server is asked in a task of its own: a slow answer (a server starting up) must not keep this loop
        # from pausing the print in time.
        watcher = None if run.seen else asyncio.create_task(self._watch_seen(run), name="chaos-seen")
        try:
            return await self._proceed(sim, run, until, seen=seen)
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    async def _watch_seen(self, run: SimRun) -> None:
        while True:
            if await self.is_seen(run):
                return
            await asyncio.sleep(0.2)

    async def _proceed(
        self, sim: SimulatedBambuPrinter | SimulatedPrusaLinkPrinter, run: SimRun, until: float, *, seen: bool
    ) -> bool:
        hold_started: float | None = None
        while True:
            job = _sim_print(sim)
            assert job is not None
            job.tick()
            if not job.active:
                return False
            now = time.monotonic()
            gave_up = hold_started is not None and now - hold_started > SEEN_TIMEOUT_S
            if hold_started is not None and (run.seen or gave_up):
                if gave_up:
                    self.counters.hold_timeouts += 1
                    run.events.append((now, "hold gave up"))
                    run.seen = True  # stop holding; the check at the end shows what the server made of it
                await sim.resume()
                run.held_s += now - hold_started
                run.events.append((now, "hold resumed"))
                hold_started = None
            if (
                hold_started is None
                and not run.seen
                and job.phase is not SimPhase.PAUSED
                and job.remaining_s() < HOLD_BEFORE_END_S
            ):
                await sim.pause()
                hold_started = now
                self.counters.holds += 1
                run.events.append((now, "hold paused (job not seen yet)"))
            if hold_started is None and now >= until and (run.seen or not seen):
                return True
            if seen and not run.seen and now - run.started_at > SEEN_TIMEOUT_S + 30:
                return True  # no job after a long hold: let the plan go on
            await asyncio.sleep(0.05)

    async def wait_closed(self, printer_id: str, previous: SimRun | None) -> None:
        """Wait until the server has closed ``previous``'s job, unless ``previous`` ended in an outage."""
        if previous is None:
            return
        assert previous.ended_at is not None
        began = time.monotonic()
        deadline = began + CLOSED_TIMEOUT_S
        while time.monotonic() < deadline:
            blind = self.blind_since(printer_id)
            if blind is not None and previous.ended_at >= blind:
                return  # ended while the server was down: the next print may start, its end is unobservable
            jobs = await self.jobs_of(printer_id)
            if jobs is not None:
                mine = [job for job in jobs if _job_key(job) == previous.key]
                if mine and all(job["status"] not in ACTIVE for job in mine):
                    waited = time.monotonic() - began
                    self.counters.longest_close_wait_s = max(self.counters.longest_close_wait_s, waited)
                    if waited > 2.0:
                        self.counters.slow_closes += 1
                        previous.events.append((time.monotonic(), f"job closed after a {waited:.1f} s wait"))
                    return
            await asyncio.sleep(0.1)
        self.counters.close_timeouts += 1
        previous.events.append((time.monotonic(), f"job not closed after {CLOSED_TIMEOUT_S:.0f} s"))

    async def disconnect(self, sim: SimulatedBambuPrinter | SimulatedPrusaLinkPrinter, seconds: float) -> None:
        """Take the printer off the network for ``seconds``; return when it is back."""
        await sim.disconnect(seconds)
        if isinstance(sim, SimulatedPrusaLinkPrinter):
            await asyncio.sleep(seconds)  # its disconnect returns at once and comes back in the background
            for _ in range(100):
                if sim.online:
                    break
                await asyncio.sleep(0.05)

    async def play(
        self, sim: SimulatedBambuPrinter | SimulatedPrusaLinkPrinter, run: SimRun, rng: random.Random
    ) -> None:
        """Run one print's plan to its end."""
        bambu = isinstance(sim, SimulatedBambuPrinter)
        length = run.duration_s + (BAMBU_PREPARE_S if bambu else 0.0)
        plan: list[tuple[float, str, float]] = []
        if rng.random() < PAUSE_CHANCE:
            plan.append((rng.uniform(0.1, 0.8) * length, "pause", rng.uniform(*PAUSE_S)))
            if rng.random() < SECOND_PAUSE_CHANCE:
                plan.append((rng.uniform(0.1, 0.8) * length, "pause", rng.uniform(*PAUSE_S)))
        if rng.random() < DISCONNECT_CHANCE:
            plan.append((rng.uniform(0.1, 0.7) * length, "disconnect", rng.uniform(*DISCONNECT_S)))
        if run.planned != "completed":
            plan.append((rng.uniform(0.3, 0.9) * length, run.planned, 0.0))
        plan.sort()
        for offset, action, seconds in plan:
            ending = action in ("cancelled", "failed")
            if not await self.proceed(sim, run, run.started_at + offset, seen=ending or action == "disconnect"):
                break
            now = time.monotonic()
            if action == "pause":
                self.counters.pauses += 1
                run.events.append((now, f"pause {seconds:.1f} s"))
                await sim.pause()
                await asyncio.sleep(seconds)
                await sim.resume()
                run.events.append((time.monotonic(), "resume"))
            elif action == "disconnect":
                self.counters.disconnects += 1
                run.events.append((now, f"disconnect {seconds:.1f} s"))
                await self.disconnect(sim, seconds)
                run.events.append((time.monotonic(), "back on the network"))
            else:
                run.events.append((now, "cancel" if action == "cancelled" else "fail"))
                if action == "cancelled":
                    self.counters.cancels += 1
                    await sim.cancel()
                else:
                    self.counters.fails += 1
                    await sim.fail()
                break
        await self.proceed(sim, run, math.inf)
        job = _sim_print(sim)
        assert job is not None
        assert job.ended_at is not None
        run.ended_at = job.ended_at
        run.outcome = _END_STATUS[job.phase]
        run.events.append((run.ended_at, f"ended {run.outcome}"))

    async def drive(self, sim: SimulatedBambuPrinter | SimulatedPrusaLinkPrinter) -> None:
        """Print on ``sim`` until the run's prints have all started; then wait for the last one's job to close."""
        rng = random.Random(f"{self.seed}-{sim.printer_id}")
        bambu = isinstance(sim, SimulatedBambuPrinter)
        previous: SimRun | None = None
        for seq in range(PRINTS):
            await self.wait_closed(sim.printer_id, previous)
            run = self.claim(sim.printer_id, seq, rng, "bambu" if bambu else "prusalink")
            if run is None:
                break
            if previous is not None:
                previous.next_started_at = run.started_at
            if isinstance(sim, SimulatedBambuPrinter):
                run.key = run.file_name
                await sim.start_print(run.file_name, duration_s=run.duration_s)
            else:
                await sim.start_print(run.file_name, duration_s=run.duration_s)
                assert sim.current is not None
                run.key = str(sim.current.job_id)
            run.events.append((run.started_at, f"start {run.file_name} ({run.duration_s:.1f} s, {run.planned})"))
            await self.play(sim, run, rng)
            previous = run
            await asyncio.sleep(rng.uniform(*END_SCREEN_S))

    # --- the check ------------------------------------------------------------------------------------------

    async def all_jobs(self) -> list[dict[str, Any]]:
        """Every job, read in pages of 500."""
        jobs: list[dict[str, Any]] = []
        while True:
            response = await self.client.get("/api/v1/jobs", params={"limit": 500, "offset": len(jobs)})
            response.raise_for_status()
            page = response.json()["jobs"]
            jobs.extend(page)
            if len(page) < 500:
                return jobs

    async def settle(self) -> int:
        """Wait until no job is running or paused (at most 30 s); return how many still are."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while True:
            active = 0
            for status in ACTIVE:
                response = await self.client.get("/api/v1/jobs", params={"status": status, "limit": 1})
                active += int(response.json()["total"])
            if active == 0 or time.monotonic() > deadline:
                return active
            await asyncio.sleep(0.25)

    def legit_unknown(self, run: SimRun) -> Outage | None:
        """The outage during which both ``run``'s end and the start of the next print on its printer fell."""
        if run.ended_at is None or run.next_started_at is None:
            return None
        for outage in self.outages:
            seen = outage.seen_at.get(run.printer_id, math.inf)
            if outage.killed_at <= run.ended_at and run.next_started_at <= seen:
                return outage
        return None

    def describe(self, run: SimRun, jobs: Sequence[dict[str, Any]]) -> str:
        """A print's timeline and its jobs, for the report."""
        lines = [
            f"  {run.printer_id} print {run.seq} ({run.file_name}, key {run.key}): intended {run.outcome}, "
            f"start {self.at(run.started_at)} s, end {self.at(run.ended_at)} s, "
            f"next start {self.at(run.next_started_at)} s"
        ]
        lines += [f"      {self.at(moment)} s  {what}" for moment, what in run.events]
        for job in jobs:
            lines.append(
                f"      job {job['id']}: {job['status']} (end_reason {job['end_reason']!r}, "
                f"created {job['created_at']}, ended {job['end_time']})"
            )
        near = [
            o
            for o in self.outages
            if run.ended_at is not None and o.killed_at - 5 <= run.ended_at <= max(o.seen_at.values(), default=0) + 5
        ]
        for outage in near:
            lines.append(
                f"      outage: killed {self.at(outage.killed_at)} s, API up {self.at(outage.api_up_at)} s, "
                f"{run.printer_id} online again {self.at(outage.seen_at.get(run.printer_id))} s"
            )
        return "\n".join(lines)

    def check(self, jobs: list[dict[str, Any]]) -> dict[str, Any]:
        """Match jobs to prints and count."""
        by_key = {(run.printer_id, run.key): run for run in self.runs}
        jobs_of_run: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
        stray: list[dict[str, Any]] = []
        for job in sorted(jobs, key=lambda j: int(j["id"])):
            found = by_key.get((job["printer_id"], _job_key(job)))
            if found is None:
                stray.append(job)
            else:
                jobs_of_run[found.index].append(job)
        # Order: on each printer, jobs by id follow the prints in the order they started.
        out_of_order = 0
        last_seq: dict[str, int] = {}
        for job in sorted(jobs, key=lambda j: int(j["id"])):
            found = by_key.get((job["printer_id"], _job_key(job)))
            if found is None:
                continue
            if found.seq < last_seq.get(found.printer_id, -1):
                out_of_order += 1
            last_seq[found.printer_id] = max(found.seq, last_seq.get(found.printer_id, -1))
        duplicates = sum(len(several) - 1 for several in jobs_of_run.values() if len(several) > 1)
        left_running = [job for job in jobs if job["status"] in ACTIVE]
        right: list[SimRun] = []
        unknown_down: list[tuple[SimRun, Outage]] = []
        wrong: list[SimRun] = []
        missing: list[SimRun] = []
        for run in self.runs:
            its_jobs = jobs_of_run.get(run.index, [])
            if not its_jobs:
                missing.append(run)
                continue
            status = its_jobs[0]["status"]
            outage = self.legit_unknown(run) if status == "unknown" else None
            if status == run.outcome and len(its_jobs) == 1:
                right.append(run)
            elif outage is not None and len(its_jobs) == 1:
                unknown_down.append((run, outage))
            else:
                wrong.append(run)
        return {
            "jobs_of_run": jobs_of_run,
            "stray": stray,
            "out_of_order": out_of_order,
            "duplicates": duplicates,
            "left_running": left_running,
            "right": right,
            "unknown_down": unknown_down,
            "wrong": wrong,
            "missing": missing,
        }


def _seed() -> int:
    text = os.environ.get(SEED_ENV, "").strip()
    return int(text) if text else random.SystemRandom().randrange(1, 1_000_000)


async def _chaos(workdir: Path, seed: int) -> tuple[list[Figure], bool]:
    print(f"chaos: seed {seed} (replay the plans with {SEED_ENV}={seed} python -m bench chaos)", flush=True)
    async with (
        BambuFarm(
            BAMBU_PRINTERS,
            workdir=workdir / "bambu",
            report_interval_s=BAMBU_REPORT_S,
            prepare_s=BAMBU_PREPARE_S,
            id_prefix="chaos-bambu",
        ) as farm,
        contextlib.AsyncExitStack() as stack,
    ):
        prusas = [
            await stack.enter_async_context(SimulatedPrusaLinkPrinter(f"chaos-mk4-{n}", poll_interval=PRUSALINK_POLL_S))
            for n in range(1, PRUSALINK_PRINTERS + 1)
        ]
        sims: list[SimulatedBambuPrinter | SimulatedPrusaLinkPrinter] = [*farm.printers, *prusas]
        entries = [printer_entry(sim.printer_config()) for sim in sims]
        server = ServerProcess(workdir, entries)
        try:
            await server.start()
            await server.wait_connected(len(entries), timeout_s=60)
            chaos = Chaos(server, workdir, seed, [sim.printer_id for sim in sims])
            await chaos.wait_all_seen(None)
            chaos.t0 = began = time.monotonic()
            stop = asyncio.Event()
            killer = asyncio.create_task(chaos.killer(stop, random.Random(f"{seed}-kills")), name="chaos-killer")
            try:
                await asyncio.gather(*(chaos.drive(sim) for sim in sims))
            finally:
                stop.set()
                await killer
            # The last prints' jobs: the drivers waited for them unless their end fell in an outage.
            for sim, previous in _last_runs(chaos, sims):
                await chaos.wait_closed(sim.printer_id, previous)
            still_active = await chaos.settle()
            driven_s = time.monotonic() - began
            jobs = await chaos.all_jobs()
        finally:
            await server.stop()
    return _report(chaos, jobs, still_active, driven_s)


def _last_runs(
    chaos: Chaos, sims: Sequence[SimulatedBambuPrinter | SimulatedPrusaLinkPrinter]
) -> list[tuple[SimulatedBambuPrinter | SimulatedPrusaLinkPrinter, SimRun | None]]:
    last: dict[str, SimRun] = {}
    for run in chaos.runs:
        last[run.printer_id] = run
    return [(sim, last.get(sim.printer_id)) for sim in sims]


def _report(chaos: Chaos, jobs: list[dict[str, Any]], still_active: int, driven_s: float) -> tuple[list[Figure], bool]:
    result = chaos.check(jobs)
    counters = chaos.counters
    prints = len(chaos.runs)
    outcomes: defaultdict[str, int] = defaultdict(int)
    for run in chaos.runs:
        outcomes[run.outcome or "?"] += 1
    wrong_runs: list[SimRun] = result["wrong"]
    missing: list[SimRun] = result["missing"]
    stray: list[dict[str, Any]] = result["stray"]
    unknown_down: list[tuple[SimRun, Outage]] = result["unknown_down"]
    wrong_total = len(wrong_runs) + len(missing) + len(stray) + result["out_of_order"]
    if unknown_down:
        print(f"chaos: {len(unknown_down)} print(s) ended unknown, their end and the next start in an outage:")
        for run, outage in unknown_down:
            print(
                f"  {run.printer_id} print {run.seq} ({run.file_name}): intended {run.outcome}, ended "
                f"{chaos.at(run.ended_at)} s, next start {chaos.at(run.next_started_at)} s; server killed "
                f"{chaos.at(outage.killed_at)} s, {run.printer_id} online again "
                f"{chaos.at(outage.seen_at.get(run.printer_id))} s"
            )
    for title, runs in (("wrong end state or duplicate", wrong_runs), ("no job", missing)):
        if runs:
            print(f"chaos: {len(runs)} print(s) with {title}:")
            for run in runs:
                print(chaos.describe(run, result["jobs_of_run"].get(run.index, [])))
    if stray:
        print(f"chaos: {len(stray)} job(s) matching no print:")
        for job in stray:
            print(f"  job {job['id']} on {job['printer_id']}: {job['filename']} {job['status']} {job['end_reason']!r}")
    slow = [run for run in chaos.runs if any(what.startswith("job closed after") for _, what in run.events)]
    if slow:
        after_disconnect = [run for run in slow if any(what.startswith("disconnect") for _, what in run.events)]
        near_outage = [
            run
            for run in slow
            if run not in after_disconnect
            and any(o.killed_at - 1 <= (run.ended_at or 0) <= max(o.seen_at.values(), default=0) for o in chaos.outages)
        ]
        by_kind: defaultdict[str, int] = defaultdict(int)
        for run in after_disconnect:
            by_kind[run.printer_id.rsplit("-", 1)[0]] += 1
        print(
            f"chaos: {len(slow)} print(s) whose job the server closed > 2 s after the end: {len(after_disconnect)} "
            f"had a network disconnect ({dict(by_kind)}), {len(near_outage)} ended around a server kill, "
            f"{len(slow) - len(after_disconnect) - len(near_outage)} other"
        )
    sys.stdout.flush()
    plan = (
        f"seed {chaos.seed}, {driven_s:.0f} s, {len(chaos.outages)} server kills, {counters.pauses} pauses, "
        f"{counters.disconnects} disconnects, {counters.cancels} cancels, {counters.fails} fails; "
        f"ends {outcomes['completed']} completed / {outcomes['cancelled']} cancelled / {outcomes['failed']} failed; "
        f"{counters.holds} holds until seen ({counters.hold_timeouts} gave up), "
        f"{counters.close_timeouts} next prints started before the job closed, {counters.slow_closes} waited > 2 s "
        f"for it (longest {counters.longest_close_wait_s:.1f} s)"
    )
    left = len(result["left_running"])
    figures = [
        Figure("chaos run", plan),
        Figure("chaos prints → jobs", f"{prints} prints, {len(jobs)} jobs", f"{PRINTS} jobs", len(jobs) == PRINTS),
        Figure("chaos duplicates", str(result["duplicates"]), "0", result["duplicates"] == 0),
        Figure(
            "chaos left running/paused",
            f"{left}" + (f" (still {still_active} after {SETTLE_TIMEOUT_S:.0f} s)" if still_active else ""),
            "0",
            left == 0,
        ),
        Figure(
            "chaos end states",
            f"{len(result['right'])} right, {len(unknown_down)} unknown while the server was down",
            f"{prints} right or unknown-while-down",
            len(result["right"]) + len(unknown_down) == prints,
        ),
        Figure(
            "chaos wrong",
            f"{wrong_total} ({len(wrong_runs)} wrong end state, {len(missing)} without job, {len(stray)} stray jobs, "
            f"{result['out_of_order']} out of order)",
            "0",
            wrong_total == 0,
        ),
    ]
    clean = all(figure.passed is not False for figure in figures)
    return figures, clean


def run() -> list[Figure]:
    """Run the chaos scenario and return its counts as figures."""
    seed = _seed()
    workdir = Path(tempfile.mkdtemp(prefix="printfleet-bench-chaos-"))
    clean = False
    try:
        figures, clean = asyncio.run(_chaos(workdir, seed))
    finally:
        if clean:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"chaos: server logs and database kept in {workdir}", flush=True)
    return figures
