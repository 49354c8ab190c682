"""Scheduler decisions and the timeline with 10,000 queued prints on 200 printers (pure rules, in memory).

- **Decision**: one ready printer picks its next print: the due prints it may take (target and chain rules,
  :func:`printfleet.domain.schedule.rules.target_matches`, :func:`~printfleet.domain.schedule.rules.is_due`) and
  the best of them (:func:`printfleet.domain.schedule.ordering.choose`, with staffed hours on). Each of the 200
  printers decides in turn; target p99 ≤ 20 ms.
- **Plate cleared → next print sent**: ``printfleet serve`` as its own process with one simulated Bambu Lab printer
  in ``queue_mode: scheduled`` (stagger off), a queue of calibration cubes (about 2 s each at 3,000 times the
  speed); after each print the plate is confirmed clear with ``POST /api/v1/printers/{id}/plate-cleared`` and the
  sample is the time until the next dispatch is listed (``GET /api/v1/dispatches``, polled every 5 ms; the clear
  request's own round trip included). Target ≤ 1 s.
- **Timeline**: :func:`printfleet.domain.schedule.timeline.predict` for all 10,000 prints; target ≤ 300 ms (p99
  of a few runs).

The prints: a third name a printer, a third a model (4 models), a third any printer; one in ten follows the one
before it; one in five has a deadline; priorities 0-3. Reading the prints from the store is not part of the
figures (one indexed query of the unfinished prints per look).
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import httpx

from bench import Figure, ServerProcess, percentile, printer_entry
from printfleet.domain.printer import PrinterConfig, PrinterKind
from printfleet.domain.schedule.model import OffsetFrom, ScheduledPrint, Target
from printfleet.domain.schedule.ordering import StaffedHours, choose
from printfleet.domain.schedule.rules import is_due, target_matches
from printfleet.domain.schedule.timeline import predict
from printfleet.sim.bambu import BambuFarm
from printfleet.sim.samples import demo_samples

PRINTS = 10_000
PRINTERS = 200
DECISION_TARGET_MS = 20.0
TIMELINE_TARGET_MS = 300.0
PLATE_TARGET_MS = 1000.0
PLATE_SAMPLES = 10
MODELS = ("X1C", "P1S", "A1", "MK4S")


def farm(
    prints: int = PRINTS, printers: int = PRINTERS, *, seed: int = 15
) -> tuple[list[ScheduledPrint], list[PrinterConfig], datetime]:
    """Synthetic prints and printers as described above, and the moment they are looked at."""
    rng = random.Random(seed)
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    configs = [
        PrinterConfig(id=f"p{i:03d}", name=f"p{i:03d}", kind=PrinterKind.BAMBU, model=MODELS[i % len(MODELS)])
        for i in range(printers)
    ]
    found: list[ScheduledPrint] = []
    for i in range(1, prints + 1):
        kind = i % 3
        found.append(
            ScheduledPrint(
                id=i,
                job_name=f"print {i}",
                file_id=1 + i % 50,
                printer_id=configs[rng.randrange(printers)].id if kind == 0 else None,
                target=Target(model=rng.choice(MODELS)) if kind == 1 else Target(),
                priority=rng.randrange(4),
                estimated_duration_minutes=rng.randrange(20, 600),
                finish_by=now + timedelta(hours=rng.randrange(1, 72)) if i % 5 == 0 else None,
                depends_on=i - 1 if i % 10 == 0 else None,
                offset_from=OffsetFrom.FINISH,
                created_by=1,
                created_at=now - timedelta(minutes=prints - i),
                updated_at=now,
            )
        )
    return found, configs, now


def due_ms(prints: list[ScheduledPrint], now: datetime) -> tuple[list[ScheduledPrint], float]:
    """The due prints (time and chain), found once per look as the scheduler does, and the milliseconds it took."""
    started = time.perf_counter()
    by_id = {p.id: p for p in prints}
    due = [p for p in prints if is_due(p, by_id.get(p.depends_on) if p.depends_on else None, now)]
    return due, (time.perf_counter() - started) * 1000


def decision_times_ms(due: list[ScheduledPrint], printers: list[PrinterConfig], now: datetime) -> list[float]:
    """Milliseconds each printer takes to pick its next print from the due ones (its targets, then the order with
    staffed hours)."""
    hours = StaffedHours(days=frozenset(range(5)), start=clock_time(8), end=clock_time(18), zone=UTC)
    times: list[float] = []
    for config in printers:
        started = time.perf_counter()
        choose([p for p in due if target_matches(p, config)], now, staffed_hours=hours)
        times.append((time.perf_counter() - started) * 1000)
    return times


def timeline_times_ms(
    prints: list[ScheduledPrint], printers: list[PrinterConfig], now: datetime, *, runs: int = 5
) -> list[float]:
    """Milliseconds of ``runs`` timeline predictions."""
    free = [(config, now) for config in printers]
    times: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        predict(prints, free, now, eligible=target_matches)
        times.append((time.perf_counter() - started) * 1000)
    return times


async def _wait_for(check: Any, *, timeout_s: float = 30.0, every_s: float = 0.05) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        if loop.time() > deadline:
            raise RuntimeError("timed out waiting for the simulated print")
        await asyncio.sleep(every_s)


async def plate_to_dispatch_ms(workdir: Path, samples: int = PLATE_SAMPLES) -> list[float]:
    """Milliseconds from a plate confirmed clear to the next scheduled print's dispatch, ``samples`` times."""
    name, content = next(iter(demo_samples()))  # the calibration cube, 95 min predicted
    async with BambuFarm(1, workdir=workdir / "bambu", report_interval_s=0.5, speed_factor=3000) as farm:
        printer = farm[0].printer_config()
        entry = printer_entry(printer) | {"queue_mode": "scheduled", "ftp_port": printer.ftp_port}
        settings = {"schedule": {"stagger": 0}, "files": {"directory": str(workdir / "files")}}
        async with ServerProcess(workdir, [entry], settings=settings) as server:
            await server.wait_connected(1, timeout_s=30)
            async with httpx.AsyncClient(base_url=server.base_url, headers=server.headers, timeout=10) as client:
                upload = await client.post("/api/v1/files", files={"file": (name, content)})
                file_id = upload.json()["id"]

                async def sent() -> int:
                    body = (await client.get("/api/v1/dispatches", params={"limit": 1})).json()
                    return int(body["total"])

                async def plate_raised() -> bool:
                    status = (await client.get(f"/api/v1/printers/{printer.id}")).json()["status"]
                    return bool(status["plate_needs_clearing"]) and status["state"] == "finished"

                await client.post("/api/v1/scheduled-prints", json={"file_id": file_id, "copies": samples + 1})
                times: list[float] = []
                for done in range(1, samples + 1):
                    try:
                        await _wait_for(plate_raised)
                    except RuntimeError:
                        status = (await client.get(f"/api/v1/printers/{printer.id}")).json()["status"]
                        sent_list = (await client.get("/api/v1/dispatches")).json()
                        raise RuntimeError(f"no print ended: {status} {sent_list} {server.log_tail()}") from None
                    before = await sent()
                    assert before == done
                    started = time.perf_counter()
                    await client.post(f"/api/v1/printers/{printer.id}/plate-cleared", json={"outcome": "good"})

                    async def next_sent(before: int = before) -> bool:
                        return await sent() > before

                    await _wait_for(next_sent, timeout_s=10, every_s=0.005)
                    times.append((time.perf_counter() - started) * 1000)
                return times


def run(prints: int = PRINTS, printers: int = PRINTERS, *, plate_samples: int = PLATE_SAMPLES) -> list[Figure]:
    """The decision, timeline and plate-to-dispatch figures (``plate_samples`` 0: without the last)."""
    found, configs, now = farm(prints, printers)
    due, due_time = due_ms(found, now)
    decisions = decision_times_ms(due, configs, now)
    timeline = timeline_times_ms(found, configs, now)
    decision_p99 = percentile(decisions, 0.99)
    timeline_p99 = percentile(timeline, 0.99)
    figures = [
        Figure(
            f"schedule due prints ({prints:,} queued)", f"{len(due):,} due, found in {due_time:.1f} ms once per look"
        ),
        Figure(
            f"schedule decision ({prints:,} queued, {printers} printers)",
            f"p50 {percentile(decisions, 0.5):.1f} ms  p99 {decision_p99:.1f} ms  ({len(decisions)} decisions)",
            f"p99 ≤ {DECISION_TARGET_MS:g} ms",
            decision_p99 <= DECISION_TARGET_MS,
        ),
        Figure(
            f"schedule timeline ({prints:,} queued, {printers} printers)",
            f"p50 {percentile(timeline, 0.5):.0f} ms  max {max(timeline):.0f} ms  ({len(timeline)} runs)",
            f"≤ {TIMELINE_TARGET_MS:g} ms",
            timeline_p99 <= TIMELINE_TARGET_MS,
        ),
    ]
    if plate_samples:
        with tempfile.TemporaryDirectory(prefix="printfleet-bench-schedule-") as tmp:
            plate = asyncio.run(plate_to_dispatch_ms(Path(tmp), plate_samples))
        plate_p99 = percentile(plate, 0.99)
        figures.append(
            Figure(
                "schedule plate cleared → next print sent (Bambu, stagger off)",
                f"p50 {percentile(plate, 0.5):.0f} ms  max {max(plate):.0f} ms  ({len(plate)} prints)",
                f"≤ {PLATE_TARGET_MS:g} ms",
                plate_p99 <= PLATE_TARGET_MS,
            )
        )
    return figures
