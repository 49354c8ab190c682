"""Delivering the Spoolman outbox: :class:`SpoolmanReporter` sends each job's use of each linked spool to Spoolman
once (see :mod:`printfleet.domain.materials.spoolman` for the rule that keeps a lost answer from charging twice).

Each due report: read the spool's ``used_weight``; if the last attempt's outcome was unknown and the use is there,
it is delivered; else store that reading as the baseline, then send ``use_weight``. A 2xx delivers it; a timeout or
a server error leaves it pending and uncertain (tried again after a back-off, reading the spool first); Spoolman not
knowing the spool (404) marks it ``gone``, unlinks the printfleet spool and unassigns the slots holding it (a warning
is logged); any other refusal
marks it ``failed``. Woken when a job's cost is recorded, and every ``interval`` for retries.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog

from printfleet.aio import within
from printfleet.domain.events import JobCostRecorded
from printfleet.domain.materials.spoolman import ReportState, SpoolmanReport, already_applied, retry_delay
from printfleet.services.errors import StoreUnavailable
from printfleet.services.events import EventBus, Subscription

log = structlog.get_logger(__name__)


class SpoolmanUnavailable(Exception):
    """Spoolman could not be reached, timed out or answered with a server error: the outcome of a write is
    unknown. ``str()`` says what happened (no secrets)."""


class SpoolmanGone(Exception):
    """Spoolman has no spool with that id (404)."""


class SpoolmanRefused(Exception):
    """Spoolman refused the request for good (a 4xx other than 404); ``str()`` is its message."""


class Spoolman(Protocol):
    """What the reporter needs of Spoolman (``printfleet.inventory.spoolman`` through the composition root). Each
    call raises SpoolmanUnavailable, SpoolmanGone or SpoolmanRefused."""

    async def used_weight(self, spoolman_id: int) -> float:
        """The spool's ``used_weight``, grams."""
        ...

    async def use(self, spoolman_id: int, grams: float) -> None:
        """Add ``grams`` to the spool's use (``PUT /api/v1/spool/{id}/use``)."""
        ...

    async def healthy(self) -> bool:
        """Whether Spoolman answers its health check; never raises."""
        ...

    async def close(self) -> None:
        """Close the connections."""
        ...


class SpoolmanOutbox(Protocol):
    """The outbox in the store (``printfleet.store.materials.spoolman``)."""

    async def due(self, now: datetime, *, limit: int = 50) -> list[SpoolmanReport]:
        """Pending reports due now."""
        ...

    async def next_due(self) -> datetime | None:
        """When the earliest pending report is due."""
        ...

    async def update(self, report_id: int, *, at: datetime, **changes: object) -> None:
        """Change a report."""
        ...

    async def unlink(self, spoolman_id: int) -> list[int]:
        """Forget the links to a Spoolman spool."""
        ...

    async def counts(self) -> dict[ReportState, int]:
        """Reports per state."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ReporterPolicy:
    """``retry_initial`` doubling up to ``retry_max`` between attempts of a report; ``interval`` the longest sleep
    between looks at the outbox."""

    retry_initial: timedelta = timedelta(seconds=10)
    retry_max: timedelta = timedelta(minutes=10)
    interval: timedelta = timedelta(seconds=30)


class SpoolmanReporter:
    """Sends the outbox (see the module). Use as an async context manager."""

    def __init__(
        self,
        *,
        outbox: SpoolmanOutbox,
        spoolman: Spoolman,
        bus: EventBus,
        policy: ReporterPolicy = ReporterPolicy(),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_gone: Callable[[list[int]], Awaitable[None]] | None = None,
    ) -> None:
        """``on_gone(spool_ids)``: the printfleet spools unlinked because Spoolman no longer has theirs (404), so
        that the slots holding them are unassigned."""
        self._on_gone = on_gone
        self._outbox = outbox
        self._spoolman = spoolman
        self._bus = bus
        self._policy = policy
        self._clock = clock
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscription: Subscription | None = None

    async def deliver_due(self) -> int:
        """Attempt every due report once; how many were delivered. Raises StoreUnavailable."""
        delivered = 0
        for report in await self._outbox.due(self._clock()):
            delivered += await self._attempt(report)
        return delivered

    async def _attempt(self, report: SpoolmanReport) -> bool:
        try:
            used = await self._spoolman.used_weight(report.spoolman_id)
            if already_applied(report, used):
                await self._delivered(report, note="found delivered on reading the spool back")
                return True
            attempts = report.attempts + 1
            await self._outbox.update(report.id, at=self._clock(), baseline_g=used, uncertain=True, attempts=attempts)
            await self._spoolman.use(report.spoolman_id, report.grams)
        except SpoolmanGone:
            unlinked = await self._outbox.unlink(report.spoolman_id)
            await self._outbox.update(
                report.id, at=self._clock(), state=ReportState.GONE, uncertain=False, last_error="spool not found"
            )
            log.warning("spoolman.spool_gone", spoolman_id=report.spoolman_id, job_id=report.job_id, unlinked=unlinked)
            if unlinked and self._on_gone is not None:
                await self._on_gone(unlinked)
            return False
        except SpoolmanRefused as exc:
            await self._outbox.update(
                report.id, at=self._clock(), state=ReportState.FAILED, uncertain=False, last_error=str(exc)[:300]
            )
            log.warning("spoolman.report_refused", spoolman_id=report.spoolman_id, job_id=report.job_id, error=str(exc))
            return False
        except SpoolmanUnavailable as exc:
            tries = max(report.attempts, 1)
            wait = retry_delay(tries, initial=self._policy.retry_initial, maximum=self._policy.retry_max)
            await self._outbox.update(
                report.id, at=self._clock(), next_attempt_at=self._clock() + wait, last_error=str(exc)[:300]
            )
            log.info("spoolman.report_deferred", spoolman_id=report.spoolman_id, job_id=report.job_id, error=str(exc))
            return False
        await self._delivered(report, note="delivered")
        return True

    async def _delivered(self, report: SpoolmanReport, *, note: str) -> None:
        await self._outbox.update(report.id, at=self._clock(), state=ReportState.SENT, uncertain=False, last_error=None)
        log.info(
            "spoolman.usage_reported",
            spoolman_id=report.spoolman_id,
            job_id=report.job_id,
            grams=report.grams,
            how=note,
        )

    async def counts(self) -> dict[ReportState, int]:
        """How many reports are in each state (for the status route)."""
        return await self._outbox.counts()

    async def healthy(self) -> bool:
        """Whether Spoolman answers now."""
        return await self._spoolman.healthy()

    async def close(self) -> None:
        """Close the connections to Spoolman."""
        await self._spoolman.close()

    def wake(self) -> None:
        """Look at the outbox soon."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            wait = self._policy.interval.total_seconds()
            try:
                await self.deliver_due()
                due = await self._outbox.next_due()
                if due is not None:
                    wait = min(wait, max((due - self._clock()).total_seconds(), 0.05))
            except StoreUnavailable:
                log.warning("spoolman.outbox_deferred")
            except Exception:  # a bug must not stop the reports for good
                log.exception("spoolman.outbox_failed")
            with contextlib.suppress(TimeoutError):
                await within(self._wake.wait(), wait)

    async def start(self) -> None:
        """Deliver what is due now, then whenever a job's cost is recorded and at least every ``interval``."""
        subscription = self._subscription = self._bus.subscribe()

        async def listen() -> None:
            async for event in subscription:
                if isinstance(event, JobCostRecorded) and event.spools:
                    self._wake.set()

        self._tasks = [
            asyncio.create_task(listen(), name="spoolman-listener"),
            asyncio.create_task(self._run(), name="spoolman-reporter"),
        ]

    async def stop(self) -> None:
        """Stop delivering (pending reports stay in the store)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    async def __aenter__(self) -> SpoolmanReporter:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()
