"""``python -m bench [ingest|latency|farm ...]``: run the benchmarks (all by default) and print their figures.

Each figure is printed with its target and PASS or MISS. A miss does not change the exit status; a benchmark
that crashes is reported with its traceback, the others still run, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from collections.abc import Callable, Sequence

from bench import Figure
from printfleet.observability.logging import configure_logging

BENCHMARKS: dict[str, tuple[str, str]] = {
    "ingest": ("bench.ingest:run", "Bambu report parse + merge + normalise rate, one core"),
    "latency": ("bench.latency:run", "printer state change → /ws frame, Bambu (push) and PrusaLink (poll)"),
    "farm": ("bench.farm:run", "one server, 200 Bambu printers reporting every second: CPU and RSS"),
    "store": ("bench.store_jobs:figures", "jobs store create / active-job lookup with 1,000,000 jobs"),
    "queue": ("bench.queue:run", "queue join / claim with 10,000 entries queued; claim deadline → expiry lateness"),
    "detection": ("bench.detection:run", "print start → job committed → job_auto_created frame, Bambu and PrusaLink"),
    "chaos": ("bench.chaos:run", "500 prints on 20 printers with pauses, disconnects and server kills: job counts"),
    "accounts": ("bench.accounts:run", "authenticated request overhead (session lookup); sign-in with argon2id"),
    "ftps": ("bench.ftps:run", "Bambu FTPS upload of a 50 MB file: printfleet against bare ftplib, same server"),
    "files": ("bench.files:run", "file library: server RSS growth during a 200 MB upload"),
    "schedule": ("bench.schedule:run", "scheduler decision and timeline with 10,000 scheduled prints, 200 printers"),
    "web": ("bench.web:run", "web UI: /jobs server time with 10,000 jobs; WebSocket frame → DOM in Chromium"),
    "orders": ("bench.orders:run", "Etsy: 10,000 receipts imported from the stand-in, polled again; duplicates"),
    "costs": ("bench.costs:run", "costs report over 1,000,000 costed jobs on PostgreSQL, each grouping"),
    "notifications": ("bench.notifications:run", "event → signed webhook at 100 events/s, 3 channels: latency, losses"),
    "farm_events": (
        "bench.farm_events:run",
        "two processes on PostgreSQL: a job changed on one → /ws frame on the other",
    ),
    "notify_ingest": (
        "bench.notify_ingest:run",
        "Bambu ingest with notifications on (3 channels) against off, side by side",
    ),
    "scale": ("bench.scale:run", "1,000 Bambu printers on 3 processes on PostgreSQL: CPU, RSS, /ws latency, failover"),
    "statistics": ("bench.statistics:run", "Statistics figures over 1,000,000 jobs on PostgreSQL: 30 days, all"),
}
"""name → (``module:function`` returning the figures, what it measures). Imported only when run, so one
benchmark's import error is reported as its crash and does not stop the others."""


def _load(target: str) -> Callable[[], list[Figure]]:
    module_name, _, function = target.partition(":")
    run: Callable[[], list[Figure]] = getattr(importlib.import_module(module_name), function)
    return run


def _judged(figure: Figure) -> bool:
    return bool(figure.target) or figure.passed is not None


def format_table(figures: Sequence[Figure]) -> str:
    """The figures as aligned columns: benchmark, measured, target, verdict.

    Context lines (no target) are not padded, so a long one does not widen the columns of the others.
    """
    header = Figure("benchmark", "measured", "target")
    judged = [header, *(row for row in figures if _judged(row))]
    name_w = max(len(row.name) for row in (header, *figures))
    measured_w = max(len(row.measured) for row in judged)
    target_w = max(len(row.target) for row in judged)
    lines = []
    for row in (header, *figures):
        if row is header or _judged(row):
            line = f"{row.name:<{name_w}}  {row.measured:<{measured_w}}  {row.target:<{target_w}}  {row.verdict}"
        else:
            line = f"{row.name:<{name_w}}  {row.measured}"
        lines.append(line.rstrip())
        if row is header:
            lines.append("-" * (name_w + measured_w + target_w + 10))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen benchmarks; return the process exit status (1 only when one crashed)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"{', '.join(BENCHMARKS)} (default: all)")
    names = parser.parse_args(argv).names or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    # The simulators log every print they start; only problems belong in the benchmark's output.
    configure_logging(level="WARNING")
    figures: list[Figure] = []
    crashed: list[str] = []
    started = time.monotonic()
    for name in dict.fromkeys(names):
        target, what = BENCHMARKS[name]
        print(f"running {name}: {what} ...", file=sys.stderr, flush=True)
        began = time.monotonic()
        try:
            figures.extend(_load(target)())
        except Exception:
            traceback.print_exc()
            crashed.append(name)
            figures.append(Figure(name, "CRASHED (traceback above)", "", False))
        print(f"  {name} took {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
    print()
    print(format_table(figures))
    missed = sum(1 for figure in figures if figure.passed is False)
    print(f"\n{len(figures)} figures, {missed} missed, in {time.monotonic() - started:.0f} s")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
