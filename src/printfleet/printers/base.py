"""What every printer adapter shares: the sink it reports to, metric hooks, backoff, and the run loop skeleton.

An adapter owns exactly one connection to one printer. It turns the wire format into
:class:`~printfleet.domain.printer.PrinterStatus` snapshots and hands each to its :class:`StatusSink`. It never
raises out of :meth:`PrinterConnectionBase.run`: failures become an ``offline`` status with a reason, followed by
a reconnect after an exponential backoff with jitter, so one printer's trouble never touches another.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

import structlog

from printfleet.domain.printer import (
    OfflineReason,
    PrinterConfig,
    PrinterKind,
    PrinterState,
    PrinterStatus,
)

StatusSink = Callable[[str, PrinterStatus], Awaitable[None]]
"""``await sink(printer_id, status)``: called with every new snapshot, in order, from the adapter's task."""


class ConnectionObserver(Protocol):
    """Metric hooks an adapter calls; the composition root wires Prometheus counters behind them."""

    def report_received(self, kind: PrinterKind) -> None:
        """One message or poll response was received and parsed."""

    def parse_error(self, kind: PrinterKind) -> None:
        """One message could not be parsed (it was logged and dropped; the connection goes on)."""

    def reconnect(self, kind: PrinterKind) -> None:
        """A reconnect attempt is about to start after a failure."""


class NullObserver:
    """An observer that counts nothing (tests, simulators)."""

    def report_received(self, kind: PrinterKind) -> None:
        """Ignore."""

    def parse_error(self, kind: PrinterKind) -> None:
        """Ignore."""

    def reconnect(self, kind: PrinterKind) -> None:
        """Ignore."""


class ConnectionFailed(Exception):
    """A connection attempt or an established connection failed; ``reason`` says how.

    Raised inside adapters and turned into an ``offline`` status by :meth:`PrinterConnectionBase.run`.
    """

    def __init__(self, reason: OfflineReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class Backoff:
    """Exponential backoff with full jitter: delay ``n`` is uniform in [base·factorⁿ/2, base·factorⁿ], capped.

    Seconds. ``reset()`` after a connection has been healthy so the next failure starts small again.
    """

    def __init__(
        self, *, initial: float = 1.0, maximum: float = 60.0, factor: float = 2.0, rng: random.Random | None = None
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self._attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """Return the delay in seconds before the next attempt, and count the attempt."""
        ceiling = min(self.maximum, self.initial * self.factor**self._attempt)
        self._attempt += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        """Start again from the initial delay."""
        self._attempt = 0

    @property
    def attempts(self) -> int:
        """Failed attempts since the last reset."""
        return self._attempt


SEEN_REFRESH_S = 1.0
"""A report or answer that changes nothing but the time still reaches the sink once this many seconds have passed
since the ``last_seen`` it last carried, so ``last_seen`` is the time of the last report or poll answer (to this
precision) and a healthy, quiet printer never looks stale."""

MAX_BAD_POLLS = 3
"""Unreadable responses in a row after which a polled printer is taken offline as ``protocol_error``."""


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class PrinterConnectionBase:
    """Skeleton shared by the adapters: status bookkeeping, the sink, and the reconnect loop.

    Subclasses implement :meth:`_session` (connect, then report until the connection ends, raising
    :class:`ConnectionFailed` or returning on a clean close) and the three commands.
    """

    kind: PrinterKind

    def __init__(
        self,
        config: PrinterConfig,
        *,
        sink: StatusSink,
        observer: ConnectionObserver | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.config = config
        self._sink = sink
        self._observer: ConnectionObserver = observer or NullObserver()
        self._backoff = backoff or Backoff()
        self._status = PrinterStatus.offline(OfflineReason.CONNECTING)
        self._bad_polls = 0
        self.log = structlog.get_logger("printfleet.printers").bind(
            printer_id=config.id, printer_kind=config.kind.value
        )

    @property
    def printer_id(self) -> str:
        """The printer's stable id."""
        return self.config.id

    @property
    def status(self) -> PrinterStatus:
        """The latest snapshot (``offline``/``connecting`` until the first report)."""
        return self._status

    @property
    def connected(self) -> bool:
        """True while the printer is reachable."""
        return self._status.state is not PrinterState.OFFLINE

    async def _emit(self, status: PrinterStatus) -> None:
        self._status = status
        await self._sink(self.config.id, status)

    async def _emit_changed(self, status: PrinterStatus) -> bool:
        """Emit ``status``, a snapshot from a report or poll answer just received. One that differs from the last
        in ``last_seen`` only is emitted when :data:`SEEN_REFRESH_S` have passed since the last emitted
        ``last_seen`` (else just kept). Returns whether it differs in more than ``last_seen``."""
        previous = self._status
        if previous.replace(last_seen=None) != status.replace(last_seen=None):
            await self._emit(status)
            return True
        before, now = previous.last_seen, status.last_seen
        if before is None or now is None or (now - before).total_seconds() >= SEEN_REFRESH_S:
            await self._emit(status)
        return False

    async def _mark_offline(self, reason: OfflineReason, detail: str) -> None:
        if self._status.state is PrinterState.OFFLINE and self._status.offline_reason is reason:
            return
        await self._emit(PrinterStatus.offline(reason, detail=detail, last_seen=self._status.last_seen))

    def _unreadable(self, detail: str) -> None:
        """Count one unreadable response (logged, ``parse_error`` metric); the :data:`MAX_BAD_POLLS`-th in a row
        raises ConnectionFailed(PROTOCOL_ERROR). A single bad body never takes a printer offline."""
        self._bad_polls += 1
        self._observer.parse_error(self.kind)
        self.log.warning(f"{self.kind.value}.unreadable_response", detail=detail, bad_polls_in_a_row=self._bad_polls)
        if self._bad_polls >= MAX_BAD_POLLS:
            raise ConnectionFailed(OfflineReason.PROTOCOL_ERROR, detail)

    async def _session(self) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        """Connect and report until cancelled, reconnecting with backoff. Never raises but ``CancelledError``."""
        while True:
            try:
                await self._session()
                reason, detail = OfflineReason.UNREACHABLE, "connection closed"
            except ConnectionFailed as exc:
                reason, detail = exc.reason, exc.detail
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug in one adapter must not stop the printer being retried
                self.log.exception("printer.session_crashed")
                reason, detail = OfflineReason.PROTOCOL_ERROR, type(exc).__name__
            delay = self._backoff.next_delay()
            if self._status.offline_reason is reason:
                level = "debug"  # the same failure again: one line per change of reason is enough
            elif reason in (OfflineReason.AUTH_FAILED, OfflineReason.TLS_FAILED):
                level = "error"
            else:
                level = "warning"
            getattr(self.log, level)("printer.offline", reason=reason.value, detail=detail, retry_in_s=round(delay, 2))
            try:
                await self._mark_offline(reason, detail)
            except asyncio.CancelledError:
                raise
            except Exception:  # the sink failed (a bug past it): the printer must still be retried
                self.log.exception("printer.status_sink_failed")
            await asyncio.sleep(delay)
            self._observer.reconnect(self.kind)

    async def pause(self) -> None:
        """Pause the current print. Raises PrinterNotConnected, PrinterCommandRejected."""
        raise NotImplementedError

    async def resume(self) -> None:
        """Resume a paused print. Raises PrinterNotConnected, PrinterCommandRejected."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Stop (cancel) the current print. Raises PrinterNotConnected, PrinterCommandRejected."""
        raise NotImplementedError
