"""Accounts: what signing in costs, and what every authenticated request pays for its session lookup.

Setup: ``printfleet serve`` as its own process (:class:`bench.ServerProcess`, SQLite in a temporary directory, no
printers), its admin made with ``printfleet users`` and the production argon2id cost.

- **Authenticated request overhead**: ``GET /api/v1/me`` with the session cookie (the session's digest is looked up
  in the store, the user joined in the same query) against ``GET /healthz`` (public, no lookup), sequentially, the
  server's own time from ``Server-Timing``; the target is on the difference of their p99.
- **Sign-in**: ``POST /api/v1/auth/sign-in`` with the right password, the server's time (argon2id verification
  dominates it); target 50–500 ms.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path

import httpx

from bench import Figure, ServerProcess, percentile

REQUESTS = 2000
WARM_UP = 100
SIGN_INS = 20
OVERHEAD_TARGET_MS = 1.0
SIGN_IN_RANGE_MS = (50.0, 500.0)

_SERVER_TIMING = re.compile(r"app;dur=([0-9.]+)")


def _server_ms(response: httpx.Response) -> float:
    match = _SERVER_TIMING.search(response.headers.get("server-timing", ""))
    if response.status_code not in (200, 204) or match is None:
        raise RuntimeError(f"{response.request.url.path}: status {response.status_code}, {response.text[:200]!r}")
    return float(match.group(1))


async def _times(client: httpx.AsyncClient, path: str, *, requests: int, warm_up: int) -> list[float]:
    times = []
    for number in range(warm_up + requests):
        elapsed = _server_ms(await client.get(path))
        if number >= warm_up:
            times.append(elapsed)
    return times


async def measure(*, requests: int = REQUESTS, warm_up: int = WARM_UP, sign_ins: int = SIGN_INS) -> list[Figure]:
    """The accounts figures at the given sizes (the smoke test uses small ones)."""
    with tempfile.TemporaryDirectory(prefix="printfleet-bench-accounts-") as directory:
        async with ServerProcess(Path(directory), [], log_level="WARNING") as server:
            name, value = await server.session_cookie()
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0, cookies={name: value}) as client:
                # Interleaved in rounds, so a slow moment of the machine hits both routes alike.
                public: list[float] = []
                signed: list[float] = []
                rounds = 10
                for _ in range(rounds):
                    public += await _times(client, "/healthz", requests=requests // rounds, warm_up=warm_up // rounds)
                    signed += await _times(client, "/api/v1/me", requests=requests // rounds, warm_up=warm_up // rounds)
            sign_in_ms = []
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as anonymous:
                for _ in range(sign_ins):
                    response = await anonymous.post(
                        "/api/v1/auth/sign-in", json={"username": server.username, "password": server.password}
                    )
                    sign_in_ms.append(_server_ms(response))
    p99_public, p99_signed = percentile(public, 0.99), percentile(signed, 0.99)
    overhead = p99_signed - p99_public
    low, high = SIGN_IN_RANGE_MS
    median_sign_in = percentile(sign_in_ms, 0.5)
    return [
        Figure(
            "accounts: GET /healthz (public) server time",
            f"p50 {percentile(public, 0.5):.2f} ms  p99 {p99_public:.2f} ms  ({len(public)} requests)",
        ),
        Figure(
            "accounts: GET /api/v1/me (session cookie) server time",
            f"p50 {percentile(signed, 0.5):.2f} ms  p99 {p99_signed:.2f} ms  ({len(signed)} requests)",
        ),
        Figure(
            "accounts: authenticated request overhead (p99 difference)",
            f"{overhead:.2f} ms",
            f"≤ {OVERHEAD_TARGET_MS:g} ms",
            overhead <= OVERHEAD_TARGET_MS,
        ),
        Figure(
            "accounts: sign-in (argon2id) server time",
            f"p50 {median_sign_in:.0f} ms  max {max(sign_in_ms):.0f} ms  ({len(sign_in_ms)} sign-ins)",
            f"{low:g}–{high:g} ms",
            low <= median_sign_in <= high,
        ),
    ]


def run() -> list[Figure]:
    """``make bench``'s entry point."""
    return asyncio.run(measure())
