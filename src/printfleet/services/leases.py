"""Singleton roles: work that exactly one process of a farm on PostgreSQL does at a time, moved to another process
when its holder dies or hangs.

A :class:`Singleton` takes a lease on its role (store: ``SqlLeaseRepository``), runs the role while it holds it,
renews the lease every ``ttl/3`` seconds, and stops the role by itself (fences itself) when it has not renewed for
``2/3 ttl`` — before the lease can expire and another process take over (a renewal waits at most ``ttl/3``) — or
when a renewal says another holder has it. A process that is paused past its lease (SIGSTOP, a long GC, a VM
migration) therefore finds its role gone on waking and stops; its successor holds the lease under a higher epoch.
A role that fails to start or crashes is logged, its lease let go, and taken up again later. On SQLite (one process
per database file) :class:`AlwaysHeld` runs the role for as long as the process runs.

The role is a callable that enters and leaves the work: ``start()`` returns an async context manager, entered when
the lease is taken and left when it is lost or the process stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Protocol

import structlog

from printfleet.aio import cancelled, within
from printfleet.domain.leases import Hold, renewal_wait
from printfleet.services.errors import StoreUnavailable

log = structlog.get_logger(__name__)

DEFAULT_TTL_S = 12.0
"""A lease's life without renewal (seconds); renewed every third of it."""

FENCE_SLACK_S = 0.01
"""A renewal that failed with less than this left before the fencing point fences at once (seconds): a timer may fire
a hair early, and the next try would come too late."""


class LeaseStore(Protocol):
    """Where leases live (store: ``SqlLeaseRepository``). Each method raises StoreUnavailable when the store fails."""

    async def acquire(self, name: str, owner: str, ttl_s: float) -> Hold | None: ...
    async def renew(self, hold: Hold, ttl_s: float) -> Hold | None: ...
    async def release(self, hold: Hold) -> None: ...


class LeaseMetrics(Protocol):
    """What a singleton counts (``printfleet_lease_*`` in /metrics)."""

    def lease_changed(self, name: str, *, held: bool) -> None: ...
    def lease_renewed(self, name: str, *, ok: bool) -> None: ...


def process_identity() -> str:
    """This process's name among the farm's processes: ``host:pid:random`` (unique even when a pid is reused)."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(4)}"


RoleStarter = Callable[[], AbstractAsyncContextManager[object]]


class Singleton:
    """Runs ``start()``'s work while this process holds the lease ``name``. Enter to take part; leave to stop
    (the role is left and the lease let go at once, so another process takes over without waiting out the TTL).

    ``ttl_s``: the lease's life (seconds); renewals every ``ttl_s / 3``; the role is left after ``2/3 ttl_s``
    without a renewal. ``retry_s``: how often a process without the role tries to take it (seconds; ± 20 %)."""

    def __init__(
        self,
        name: str,
        *,
        store: LeaseStore,
        owner: str,
        start: RoleStarter,
        ttl_s: float = DEFAULT_TTL_S,
        retry_s: float | None = None,
        metrics: LeaseMetrics | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._store = store
        self._owner = owner
        self._start = start
        self._ttl_s = ttl_s
        self._retry_s = retry_s if retry_s is not None else ttl_s / 3
        self._metrics = metrics
        self._monotonic = monotonic
        self._task: asyncio.Task[None] | None = None
        self.hold: Hold | None = None

    @property
    def held(self) -> bool:
        """Whether this process runs the role now."""
        return self.hold is not None

    async def __aenter__(self) -> Singleton:
        self._task = asyncio.create_task(self._run(), name=f"singleton:{self.name}")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await cancelled(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            hold, _ = await self._call(self._store.acquire(self.name, self._owner, self._ttl_s))
            if hold is None:
                await asyncio.sleep(self._retry_s * random.uniform(0.8, 1.2))
                continue
            try:
                await self._hold(hold)
            except Exception:  # the role failed to start or crashed: give the lease back, try again later
                log.exception("lease.role_failed", role=self.name, epoch=hold.epoch)
                await self._let_go()
                await asyncio.sleep(self._retry_s)
            finally:
                await self._let_go()

    async def _let_go(self) -> None:
        """Release the lease still held (stopping, or the role failed) so another process takes over at once."""
        if self.hold is None:
            return
        released, self.hold = self.hold, None
        with contextlib.suppress(StoreUnavailable):
            await asyncio.shield(self._store.release(released))
        self._changed(held=False)

    async def _hold(self, hold: Hold) -> None:
        """Run the role under ``hold`` until it is lost or fenced."""
        self.hold = hold
        renewed = self._monotonic()
        self._changed(held=True)
        log.info("lease.acquired", role=self.name, epoch=hold.epoch)
        async with self._start():
            while True:
                await asyncio.sleep(self._ttl_s / 3)
                assert self.hold is not None
                wait = renewal_wait(renewed_at=renewed, now=self._monotonic(), ttl_s=self._ttl_s)
                if wait <= 0:
                    log.warning("lease.fenced", role=self.name, epoch=hold.epoch, reason="not renewed in time")
                    break
                fresh, answered = await self._call(within(self._store.renew(self.hold, self._ttl_s), wait))
                if fresh is not None:
                    self.hold, renewed = fresh, self._monotonic()
                    self._renewed(ok=True)
                    continue
                self._renewed(ok=False)
                if answered:  # the store says another holder has it now
                    log.warning("lease.lost", role=self.name, epoch=hold.epoch)
                    break
                if renewal_wait(renewed_at=renewed, now=self._monotonic(), ttl_s=self._ttl_s) < FENCE_SLACK_S:
                    log.warning("lease.fenced", role=self.name, epoch=hold.epoch, reason="not renewed in time")
                    break
        self.hold = None
        self._changed(held=False)

    async def _call(self, call: Awaitable[Hold | None]) -> tuple[Hold | None, bool]:
        """The store's answer to ``call`` and whether it answered (False: the store failed or was too slow;
        logged)."""
        try:
            return await call, True
        except StoreUnavailable as error:
            log.warning("lease.store_unavailable", role=self.name, error=error.error)
        except TimeoutError:
            log.warning("lease.store_unavailable", role=self.name, error="no answer in time")
        return None, False

    def _changed(self, *, held: bool) -> None:
        if self._metrics is not None:
            self._metrics.lease_changed(self.name, held=held)

    def _renewed(self, *, ok: bool) -> None:
        if self._metrics is not None:
            self._metrics.lease_renewed(self.name, ok=ok)


class AlwaysHeld:
    """A role held for as long as the process runs (SQLite: one process per database file)."""

    def __init__(self, name: str, *, start: RoleStarter) -> None:
        self.name = name
        self._start = start
        self._role: AbstractAsyncContextManager[object] | None = None

    @property
    def held(self) -> bool:
        """Always true while entered."""
        return self._role is not None

    async def __aenter__(self) -> AlwaysHeld:
        role = self._start()
        await role.__aenter__()
        self._role = role
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        role, self._role = self._role, None
        if role is not None:
            await role.__aexit__(exc_type, exc, tb)


class Roles:
    """This process's singleton roles: leased from ``store`` when there is one (PostgreSQL: several processes may
    share the farm), else always held (SQLite: one process). ``owner`` names this process (:func:`process_identity`)."""

    def __init__(
        self,
        store: LeaseStore | None,
        *,
        owner: str,
        ttl_s: float = DEFAULT_TTL_S,
        metrics: LeaseMetrics | None = None,
    ) -> None:
        self._store = store
        self._owner = owner
        self._ttl_s = ttl_s
        self._metrics = metrics
        self._roles: list[Singleton | AlwaysHeld] = []

    def role(self, name: str, start: RoleStarter) -> Singleton | AlwaysHeld:
        """The role ``name`` running ``start()`` while held; enter it to take part."""
        made: Singleton | AlwaysHeld
        if self._store is None:
            made = AlwaysHeld(name, start=start)
        else:
            made = Singleton(
                name, store=self._store, owner=self._owner, start=start, ttl_s=self._ttl_s, metrics=self._metrics
            )
        self._roles.append(made)
        return made

    def held(self) -> list[str]:
        """The names of the roles this process runs now, sorted."""
        return sorted(role.name for role in self._roles if role.held)
