"""Printer ownership: each printer of a farm on PostgreSQL owned by exactly one process, which alone connects to it.

:class:`PrinterOwnership` runs a round every ``ttl/3`` seconds (TTL 12 s: every 4 s), in this order:

1. **heartbeat**: record this process alive and read which processes are (a heartbeat within one TTL);
2. **renew** every lease this process holds, in one statement; a printer missing from the answer was lost (its
   lease expired while this process was paused or cut off, and another claimed it) and is dropped at once;
3. **plan** (:func:`printfleet.domain.ownership.plan_moves`): rendezvous hashing picks each printer's preferred
   process among the live ones; below its fair share a process claims the free printers it wins, then others;
   above it, it lets go of its excess, printers another live process wins first;
4. **release** those (disconnected first, their leases given up with a time of their own: a release that fails is
   tried again before the next plan), then **claim** the free printers chosen (``FOR UPDATE SKIP LOCKED``: two
   processes never wait for each other, and never both take one printer), each under a new epoch.

**Self-fencing**: when renewals have failed for ``2/3 ttl`` (the database unreachable or too slow), every printer is
dropped before its lease can expire and another process claim it; a renewal waits at most ``ttl/3``. A process
stopping lets its leases go and leaves the heartbeat table, so the others claim its printers at their next round.

What "dropping" and "gaining" a printer mean (disconnecting, connecting) is the caller's: ``on_change(gained,
lost)`` is awaited after each round that changed something, and before printers are let go (rebalancing, stopping),
so that a printer's next owner never finds this process still connected to it. The epochs held are
:attr:`PrinterOwnership.owned`, for writes fenced by the store (``printfleet.store.printer_leases.check_fence``).
(moonraker-auth-scale research C1; session advisory locks are not used: a hung process holds them for ever.)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from types import TracebackType
from typing import Protocol, TypeVar

import structlog

from printfleet.aio import cancelled, within
from printfleet.domain.leases import renewal_wait
from printfleet.domain.ownership import LeaseState, plan_moves
from printfleet.services.errors import StoreUnavailable
from printfleet.services.leases import DEFAULT_TTL_S, FENCE_SLACK_S

log = structlog.get_logger(__name__)

T = TypeVar("T")


class PrinterLeaseStore(Protocol):
    """Where printer leases live (store: ``SqlPrinterLeaseRepository``). Each method raises StoreUnavailable."""

    async def heartbeat(self, owner: str, ttl_s: float) -> list[str]: ...
    async def leave(self, owner: str) -> None: ...
    async def renew(self, owner: str, ttl_s: float) -> dict[str, int]: ...
    async def leases(self) -> dict[str, LeaseState]: ...
    async def claim(self, owner: str, printer_ids: Collection[str], ttl_s: float) -> dict[str, int]: ...
    async def release(self, owner: str, printer_ids: Collection[str]) -> None: ...


class OwnershipMetrics(Protocol):
    """What ownership counts (``printfleet_printers_owned``, ``printfleet_printer_lease_*`` in /metrics)."""

    def printers_owned(self, count: int) -> None: ...
    def printer_leases_renewed(self, *, ok: bool) -> None: ...
    def printers_taken_over(self, count: int) -> None: ...


ChangeListener = Callable[[frozenset[str], frozenset[str]], Awaitable[None]]
"""Awaited with ``(gained, lost)`` printer ids after a round that changed what this process owns."""


class PrinterOwnership:
    """This process's share of the farm's printers. Enter to take part (a round at once, then every ``ttl_s / 3``
    seconds); leave to let every printer go. ``printers()`` gives every printer of the farm (ids)."""

    def __init__(
        self,
        *,
        store: PrinterLeaseStore,
        owner: str,
        printers: Callable[[], Sequence[str]],
        on_change: ChangeListener | None = None,
        ttl_s: float = DEFAULT_TTL_S,
        metrics: OwnershipMetrics | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.owner = owner
        self._store = store
        self._printers = printers
        self._on_change = on_change
        self._ttl_s = ttl_s
        self._metrics = metrics
        self._monotonic = monotonic
        self._owned: dict[str, int] = {}
        self._renewed_at: float | None = None
        self._next_round_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._woken = asyncio.Event()
        self._unreleased: frozenset[str] = frozenset()  # let go (disconnected), their leases not given up yet
        self._reported: frozenset[str] = frozenset()  # what ``on_change`` was last told this process owns

    @property
    def owned(self) -> dict[str, int]:
        """The printers this process owns now, with the epoch of each lease (a copy)."""
        return dict(self._owned)

    def owns(self, printer_id: str) -> bool:
        """Whether this process owns ``printer_id`` now."""
        return printer_id in self._owned

    async def step(self) -> None:
        """One round (see the module's description). Store failures are logged and leave the printers held until
        the fencing limit; they never raise."""
        async with self._lock:
            self._reported = frozenset(self._owned)
            await self._round()
            before, after = self._reported, frozenset(self._owned)
        if self._metrics is not None:
            self._metrics.printers_owned(len(after))
        if before != after and self._on_change is not None:
            await self._on_change(after - before, before - after)

    async def _round(self) -> None:
        """Renew first, bounded so that a failure is known before the fencing point; then plan, claim and release
        within the third of the TTL that follows the renewal, so that the next renewal is never late."""
        now = self._monotonic()
        first = self._renewed_at is None
        if self._owned or first:
            # The first round renews too: leases still live under this name are a previous run's (the name is this
            # process's address, which no live process shares), taken up at once instead of waited out.
            wait = (
                self._ttl_s / 3
                if self._renewed_at is None
                else renewal_wait(renewed_at=self._renewed_at, now=now, ttl_s=self._ttl_s)
            )
            held, _ = await self._call(self._store.renew(self.owner, self._ttl_s), wait) if wait > 0 else (None, False)
            if self._metrics is not None and not first:
                self._metrics.printer_leases_renewed(ok=held is not None)
            if held is None:
                self._next_round_at = self._monotonic() + self._ttl_s / 3
                self._fence_if_late()
                return
            held = {p: epoch for p, epoch in held.items() if p not in self._unreleased}  # let go, not yet in the store
            lost = set(self._owned) - set(held)
            if lost:
                log.warning("ownership.printers_lost", printers=sorted(lost)[:20], count=len(lost))
            if first and held:
                log.info("ownership.printers_resumed", count=len(held))
            self._owned = dict(held)
        self._renewed_at = self._monotonic()
        self._next_round_at = planned_until = self._renewed_at + self._ttl_s / 3
        await self._release_let_go()  # those a round let go that the store did not take then
        if self._unreleased:
            return  # not planned on a view that still counts them as this process's
        alive, _ = await self._call(self._store.heartbeat(self.owner, self._ttl_s), self._left(planned_until))
        if alive is None or self._left(planned_until) <= 0:
            return
        leases, _ = await self._call(self._store.leases(), self._left(planned_until))
        if leases is None or self._left(planned_until) <= 0:
            return
        moves = plan_moves(self.owner, list(self._printers()), leases, alive)
        if moves.release:
            # Disconnected before the leases go: the next owner never finds this process still connected.
            letting_go = frozenset(moves.release)
            for printer_id in letting_go:
                self._owned.pop(printer_id, None)
            if self._on_change is not None:
                await self._on_change(frozenset(), letting_go)
            self._reported -= letting_go
            self._unreleased |= letting_go
            await self._release_let_go()
            if self._unreleased:
                return  # still leased to this process: let go in the store at the next round, or expired
            log.info("ownership.printers_released", count=len(moves.release))
        if moves.claim and self._left(planned_until) > 0:
            taken, _ = await self._call(
                self._store.claim(self.owner, moves.claim, self._ttl_s), self._left(planned_until)
            )
            if taken:
                self._owned.update(taken)
                orphans = [
                    p for p in taken if (lease := leases.get(p)) is not None and lease.owner not in (None, self.owner)
                ]
                log.info("ownership.printers_claimed", count=len(taken), taken_over=len(orphans))
                if orphans and self._metrics is not None:
                    self._metrics.printers_taken_over(len(orphans))

    async def _release_let_go(self) -> None:
        """Give up in the store the leases of the printers already let go (disconnected). It only gives leases up,
        so it may take its own time (at most a third of the TTL), not the round's planning budget."""
        if not self._unreleased:
            return
        _, released = await self._call(self._store.release(self.owner, sorted(self._unreleased)), self._ttl_s / 3)
        if released:
            self._unreleased = frozenset()

    def _left(self, until: float) -> float:
        """Seconds left until ``until`` (never below 0)."""
        return max(0.0, until - self._monotonic())

    def _fence_if_late(self) -> None:
        """Drop every printer once the fencing point (``2/3 ttl`` after the last renewal) is reached: before the
        leases can expire."""
        if not self._owned or self._renewed_at is None:
            return
        if renewal_wait(renewed_at=self._renewed_at, now=self._monotonic(), ttl_s=self._ttl_s) < FENCE_SLACK_S:
            log.warning("ownership.fenced", printers=len(self._owned), reason="leases not renewed in time")
            self._owned = {}

    async def _call(self, call: Awaitable[T], seconds: float) -> tuple[T | None, bool]:
        """The store's answer and True, or (None, False) when it failed or took over ``seconds`` (logged)."""
        try:
            return await within(call, seconds), True
        except StoreUnavailable as error:
            log.warning("ownership.store_unavailable", error=error.error)
        except TimeoutError:
            log.warning("ownership.store_unavailable", error="no answer in time")
        return None, False

    async def _run(self) -> None:
        while True:
            try:
                await self.step()
            except Exception:  # a bug in a listener must not stop the rounds: the leases would expire
                log.exception("ownership.round_crashed")
            with contextlib.suppress(TimeoutError):  # the next round is due, or a printer was added or removed
                await asyncio.wait_for(self._woken.wait(), self._left(self._next_round_at))
            self._woken.clear()

    def wake(self) -> None:
        """Run a round now, not at the next due time (a printer was added or removed: it is claimed at once)."""
        self._woken.set()

    async def __aenter__(self) -> PrinterOwnership:
        await self.step()
        self._task = asyncio.create_task(self._run(), name="printer-ownership")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await cancelled(self._task)
        self._task = None
        async with self._lock:
            dropped, self._owned = frozenset(self._owned), {}
            if dropped and self._on_change is not None:  # disconnected before the leases go
                await self._on_change(frozenset(), dropped)
            with contextlib.suppress(StoreUnavailable, TimeoutError):
                await within(self._store.release(self.owner, dropped | self._unreleased), self._ttl_s / 3)
                await within(self._store.leave(self.owner), self._ttl_s / 3)
