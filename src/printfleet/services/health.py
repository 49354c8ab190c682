"""Health: is the server doing its job, and if not, why. What ``GET /healthz`` reports.

:class:`HealthService` asks each registered *source* for its reasons to be degraded; none at all means ``ok``.
A source is any callable returning a list of human-readable sentences (empty when all is well), so a new concern
(a chat bot that lost its connection, say) is one ``health.add_source(...)`` in the composition root.

The sources wired today:

- :class:`StoreHealth`: the store failed (locked, disk full, server gone) and has not succeeded since. While it is
  failing it probes the store with backoff, so it notices recovery even when nothing else touches the store.
- :meth:`printfleet.services.monitoring.MonitoringService.health_reasons`: printers whose latest state could not be
  recorded yet (the store failed while handling it; it is retried with backoff), and printer connections that
  crashed and wait to be restarted. A printer that is merely offline (switched off, unplugged, a wrong access code)
  is not a reason: the printer's own status says so, and the server is doing its job.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

import structlog

from printfleet.services.errors import StoreUnavailable

log = structlog.get_logger("printfleet.health")

HealthSource = Callable[[], Sequence[str]]
"""``source()`` returns the reasons the server is degraded now, one sentence each (empty when all is well).
Called on every health check: it must be cheap and must not wait for I/O."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RetryDelays:
    """Exponential backoff with jitter for the services' retries: delay ``n`` is uniform in
    [c/2, c] with c = min(maximum, initial·2ⁿ). Seconds. ``reset()`` starts again from ``initial``."""

    def __init__(self, *, initial: float, maximum: float, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.maximum = maximum
        self._attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """The delay in seconds before the next attempt (counts the attempt)."""
        ceiling = min(self.maximum, self.initial * 2.0 ** min(self._attempt, 60))
        self._attempt += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        """Start again from ``initial``."""
        self._attempt = 0


@dataclass(frozen=True, slots=True)
class HealthReport:
    """``status`` is ``ok`` when ``reasons`` is empty, else ``degraded``; ``reasons`` are sentences for people."""

    reasons: tuple[str, ...]

    @property
    def status(self) -> Literal["ok", "degraded"]:
        """``ok`` or ``degraded``."""
        return "degraded" if self.reasons else "ok"


class HealthService:
    """Collects the reasons of every registered source into one :class:`HealthReport`."""

    def __init__(self) -> None:
        self._sources: list[tuple[str, HealthSource]] = []

    def add_source(self, name: str, source: HealthSource) -> None:
        """Ask ``source`` on every check; ``name`` appears in the reason should the source itself raise."""
        self._sources.append((name, source))

    def check(self) -> HealthReport:
        """Every source's reasons, in the order the sources were added."""
        reasons: list[str] = []
        for name, source in self._sources:
            try:
                reasons.extend(source())
            except Exception as error:  # a broken source is a reason, not a failed health check
                log.exception("health.source_failed", source=name)
                reasons.append(f"the {name} health check failed ({type(error).__name__})")
        return HealthReport(tuple(reasons))


class StoreMetrics(Protocol):
    """The store's failure counter."""

    def store_error(self, error: str) -> None:
        """One store operation failed as unavailable; ``error`` is the driver's error class name."""
        ...


class StoreHealth:
    """The store's health, told by the store of every transaction (a :class:`~printfleet.services.ports.
    StoreObserver`): failing from the first failure until the next success.

    The change to failing is logged once at ERROR (``store.unavailable``, with the error class and what the
    database said), the recovery once at INFO (``store.recovered``, with the outage's length and failure count);
    every failure is counted (``metrics.store_error``). While failing, ``probe()`` (a transaction that writes
    nothing) runs after each backoff delay (``retry_initial_s`` doubling up to ``retry_max_s`` seconds), so a
    recovery is noticed even when nothing else uses the store. Call :meth:`close` on shutdown.
    """

    def __init__(
        self,
        *,
        probe: Callable[[], Awaitable[None]] | None = None,
        metrics: StoreMetrics | None = None,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 15.0,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.probe = probe
        self._metrics = metrics
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._clock = clock
        self._failing_since: datetime | None = None
        self._last_error: StoreUnavailable | None = None
        self._failures = 0
        self._prober: asyncio.Task[None] | None = None

    @property
    def failing(self) -> bool:
        """True from a failure until the next success."""
        return self._failing_since is not None

    def store_failed(self, error: StoreUnavailable) -> None:
        """Count and remember one failure; log the change to failing; start probing."""
        if self._metrics is not None:
            self._metrics.store_error(error.error)
        self._last_error = error
        self._failures += 1
        if self._failing_since is None:
            self._failing_since = self._clock()
            log.error("store.unavailable", error=error.error, detail=error.detail)
        if self.probe is not None and (self._prober is None or self._prober.done()):
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to probe from
                self._prober = asyncio.get_running_loop().create_task(self._probe_until_recovered(), name="store-probe")

    def store_succeeded(self) -> None:
        """Clear the failing state (logging the recovery when it was failing)."""
        if self._failing_since is None:
            return
        seconds = (self._clock() - self._failing_since).total_seconds()
        log.info("store.recovered", unavailable_s=round(seconds, 1), failures=self._failures)
        self._failing_since = None
        self._failures = 0

    async def _probe_until_recovered(self) -> None:
        assert self.probe is not None
        delays = RetryDelays(initial=self._retry_initial_s, maximum=self._retry_max_s)
        while self._failing_since is not None:
            await asyncio.sleep(delays.next_delay())
            if self._failing_since is None:
                return
            with contextlib.suppress(StoreUnavailable):  # counted and remembered by store_failed
                await self.probe()

    def reasons(self) -> list[str]:
        """A :data:`HealthSource`: one sentence while failing (since when, the error class, what the database said)."""
        if self._failing_since is None or self._last_error is None:
            return []
        since = self._failing_since.isoformat(timespec="seconds")
        return [f"store unavailable since {since}: {self._last_error.error}: {self._last_error.detail}"]

    async def close(self) -> None:
        """Stop probing."""
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
            self._prober = None
