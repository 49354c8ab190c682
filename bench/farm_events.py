"""A farm's processes see each other's changes: a job changed through one process reaches a WebSocket client of
another (issue 19: "a job event committed by one process reaches a WebSocket client of another ≤ 1 s").

Setup: a fresh PostgreSQL database beside ``PRINTFLEET_TEST_POSTGRES_URL``'s; two ``printfleet serve`` processes on
it (each its own port, one PrusaLink printer configured that nobody answers, so no printer traffic weighs on it);
one manual job made through process A; a ``/ws`` client on process B.

The benchmark changes the job's notes through process A's REST API 200 times, 20 a second, and stamps each change
when A answered (the change is committed then). Process B hears it as a hint (PostgreSQL ``LISTEN``/``NOTIFY``),
re-reads the job and sends ``job_updated`` to its WebSocket clients; a sample is the frame's arrival minus the
answer of the first frame that shows the change or a later one (the announcements coalesce changes of 0.2 s into one
hint, so one frame may show several changes). Figures: p50, p99 and max over the 200 changes, and how many frames
B's client got.

Run alone with ``python -m bench.farm_events``.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

import httpx
import websockets

from bench import Figure, ServerProcess, percentile
from bench.store_jobs import POSTGRES_URL_VARIABLE, scratch_postgres

CHANGES = 200
RATE = 20
"""Changes per second."""
TARGET_P99_S = 1.0
PRINTER = {
    "id": "mk4-quiet",
    "name": "MK4 (nobody home)",
    "type": "prusalink",
    "host": "127.0.0.1",
    "port": 9,
    "api_key": "bench-unused",
}


async def _follow(url: str, headers: dict[str, str], job_id: int, seen: dict[str, float], ready: asyncio.Event) -> None:
    """Stamp the arrival of each ``job_updated`` frame of ``job_id`` by its notes."""
    async with websockets.connect(url, max_size=None, additional_headers=headers) as ws:
        ready.set()
        async for text in ws:
            frame = json.loads(text)
            data = frame.get("data", {})
            job = data.get("job", data) if isinstance(data, dict) else {}
            if frame.get("type") == "job_updated" and job.get("id") == job_id and job.get("notes"):
                seen.setdefault(job["notes"], time.perf_counter())


async def _measure(workdir: Path, server_url: str) -> tuple[list[float], int]:
    async with scratch_postgres(server_url) as url:
        settings = {"database_url": url}
        first = ServerProcess(workdir / "a", [PRINTER], log_level="WARNING", settings=settings)
        second = ServerProcess(workdir / "b", [PRINTER], log_level="WARNING", settings=settings)
        async with first:
            second.username, second.password, second.headers = first.username, first.password, first.headers
            async with second, httpx.AsyncClient(base_url=first.base_url, headers=first.headers, timeout=10) as api:
                made = await api.post("/api/v1/jobs", json={"printer_id": PRINTER["id"], "job_name": "notes"})
                made.raise_for_status()
                job_id = made.json()["id"]
                seen: dict[str, float] = {}
                ready = asyncio.Event()
                follower = asyncio.create_task(_follow(second.ws_url, second.headers, job_id, seen, ready))
                await asyncio.wait_for(ready.wait(), 10)
                await asyncio.sleep(1.0)  # B's snapshot sent and its job creation frame passed
                answered: dict[str, float] = {}
                for n in range(CHANGES):
                    began = time.perf_counter()
                    notes = f"change {n}"
                    (await api.patch(f"/api/v1/jobs/{job_id}", json={"notes": notes})).raise_for_status()
                    answered[notes] = time.perf_counter()
                    await asyncio.sleep(max(0.0, 1 / RATE - (time.perf_counter() - began)))
                await asyncio.sleep(2.0)  # the last hints
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)
    # A change is shown by the first frame that carries it or a later one (the hints of 0.2 s are coalesced).
    arrivals = sorted((int(notes.split()[-1]), at) for notes, at in seen.items())
    samples: list[float] = []
    for notes, at in answered.items():
        index = int(notes.split()[-1])
        shown = [arrived for seen_index, arrived in arrivals if seen_index >= index]
        if shown:
            samples.append(min(shown) - at)
    return samples, len(seen)


def run() -> list[Figure]:
    """Measure and return the figures (skipped without PostgreSQL)."""
    server_url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not server_url:
        return [Figure("farm: job change → other process's /ws", f"skipped: {POSTGRES_URL_VARIABLE} is not set")]
    with tempfile.TemporaryDirectory(prefix="printfleet-bench-farm-events-") as tmp:
        for side in ("a", "b"):
            (Path(tmp) / side).mkdir()
        samples, count = asyncio.run(_measure(Path(tmp), server_url))
    if not samples:
        return [Figure("farm: job change → other process's /ws", "no frame arrived", f"p99 <= {TARGET_P99_S} s", False)]
    ms = sorted(sample * 1000 for sample in samples)
    p99 = percentile(ms, 0.99)
    return [
        Figure(
            "farm: job change → other process's /ws",
            f"p50 {percentile(ms, 0.5):.0f} ms, p99 {p99:.0f} ms, max {ms[-1]:.0f} ms  ({CHANGES} changes at {RATE}/s "
            "through process A, frames at a client of process B, PostgreSQL LISTEN/NOTIFY)",
            f"p99 <= {TARGET_P99_S * 1000:.0f} ms",
            p99 <= TARGET_P99_S * 1000,
        ),
        Figure(
            "  frames at the other process",
            f"{count} frames for {CHANGES} changes (changes within 0.2 s are announced together)",
        ),
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure)
