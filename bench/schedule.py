"""Scheduler decisions and the timeline with 10,000 queued prints on 200 printers (pure rules, in memory).

- **Decision**: one ready printer picks its next print: the due prints it may take (target and chain rules,
  :func:`printfleet.domain.schedule.rules.target_matches`, :func:`~printfleet.domain.schedule.rules.is_due`) and
  the best of them (:func:`printfleet.domain.schedule.ordering.choose`, with staffed hours on). Each of the 200
  printers decides in turn; target p99 ≤ 20 ms.
- **Timeline**: :func:`printfleet.domain.schedule.timeline.predict` for all 10,000 prints; target ≤ 300 ms (p99
  of a few runs).

The prints: a third name a printer, a third a model (4 models), a third any printer; one in ten follows the one
before it; one in five has a deadline; priorities 0-3. Reading the prints from the store is not part of the
figures (one indexed query of the unfinished prints per look).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time

from bench import Figure, percentile
from printfleet.domain.printer import PrinterConfig, PrinterKind
from printfleet.domain.schedule.model import OffsetFrom, ScheduledPrint, Target
from printfleet.domain.schedule.ordering import StaffedHours, choose
from printfleet.domain.schedule.rules import is_due, target_matches
from printfleet.domain.schedule.timeline import predict

PRINTS = 10_000
PRINTERS = 200
DECISION_TARGET_MS = 20.0
TIMELINE_TARGET_MS = 300.0
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


def run(prints: int = PRINTS, printers: int = PRINTERS) -> list[Figure]:
    """The decision and timeline figures."""
    found, configs, now = farm(prints, printers)
    due, due_time = due_ms(found, now)
    decisions = decision_times_ms(due, configs, now)
    timeline = timeline_times_ms(found, configs, now)
    decision_p99 = percentile(decisions, 0.99)
    timeline_p99 = percentile(timeline, 0.99)
    return [
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
