"""The print model every simulator shares, and the control surface scenario scripts drive.

A simulator keeps one :class:`SimPrint` per printer and renders it in its own wire format (Bambu MQTT
``push_status``, PrusaLink JSON, OctoPrint JSON). Times are in seconds on the event loop's monotonic clock, so a
simulated print of 60 s takes 60 s of wall time; tests use short prints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from printfleet.domain.printer import PrinterConfig


class SimPhase(StrEnum):
    """Phases of a simulated print (a superset of what each protocol can show)."""

    IDLE = "idle"
    PREPARING = "preparing"
    PRINTING = "printing"
    PAUSED = "paused"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class SimPrint:
    """One print on a simulated printer.

    ``duration_s`` is the printing time (after ``prepare_s`` of preparation); pauses stop the clock.
    ``progress`` is 0-100 %, ``remaining_s`` and ``elapsed_s`` are seconds.
    """

    file_name: str
    duration_s: float
    prepare_s: float = 0.0
    total_layers: int = 100
    job_id: int = 0
    phase: SimPhase = SimPhase.PREPARING
    started_at: float = field(default_factory=time.monotonic)
    started_wall: float = field(default_factory=time.time)
    paused_total: float = 0.0
    paused_at: float | None = None
    ended_at: float | None = None

    def _active_seconds(self, now: float) -> float:
        end = self.paused_at if self.paused_at is not None else (self.ended_at or now)
        return max(0.0, end - self.started_at - self.paused_total)

    def tick(self, now: float | None = None) -> SimPhase:
        """Advance phases by the clock (preparing → printing → finished) and return the phase."""
        now = time.monotonic() if now is None else now
        if self.phase in (SimPhase.PREPARING, SimPhase.PRINTING):
            active = self._active_seconds(now)
            if active >= self.prepare_s + self.duration_s:
                self.phase = SimPhase.FINISHED
                self.ended_at = self.started_at + self.paused_total + self.prepare_s + self.duration_s
            elif active >= self.prepare_s:
                self.phase = SimPhase.PRINTING
        return self.phase

    def elapsed_s(self, now: float | None = None) -> float:
        """Seconds printed so far (preparation and pauses excluded)."""
        now = time.monotonic() if now is None else now
        return min(self.duration_s, max(0.0, self._active_seconds(now) - self.prepare_s))

    def progress(self, now: float | None = None) -> float:
        """Progress in % (0-100)."""
        if self.duration_s <= 0:
            return 100.0
        return 100.0 * self.elapsed_s(now) / self.duration_s

    def remaining_s(self, now: float | None = None) -> float:
        """Seconds of printing left."""
        return max(0.0, self.duration_s - self.elapsed_s(now))

    def layer(self, now: float | None = None) -> int:
        """Current layer, 1-based once printing."""
        return min(self.total_layers, int(self.progress(now) / 100 * self.total_layers) + 1)

    def pause(self) -> bool:
        """Pause if printing or preparing; return False when there is nothing to pause."""
        self.tick()
        if self.phase not in (SimPhase.PREPARING, SimPhase.PRINTING):
            return False
        self.phase = SimPhase.PAUSED
        self.paused_at = time.monotonic()
        return True

    def resume(self) -> bool:
        """Resume a paused print; return False when not paused."""
        if self.phase is not SimPhase.PAUSED or self.paused_at is None:
            return False
        self.paused_total += time.monotonic() - self.paused_at
        self.paused_at = None
        self.phase = SimPhase.PREPARING
        self.tick()
        return True

    def end(self, phase: SimPhase) -> bool:
        """End the print as ``cancelled`` or ``failed``; return False when it already ended."""
        self.tick()
        if self.phase in (SimPhase.FINISHED, SimPhase.FAILED, SimPhase.CANCELLED):
            return False
        if self.paused_at is not None:
            self.paused_total += time.monotonic() - self.paused_at
            self.paused_at = None
        self.phase = phase
        self.ended_at = time.monotonic()
        return True

    @property
    def active(self) -> bool:
        """True while preparing, printing or paused."""
        return self.phase in (SimPhase.PREPARING, SimPhase.PRINTING, SimPhase.PAUSED)


class SimulatedPrinter(Protocol):
    """What scenario scripts can do to any simulated printer.

    Each call acts the way the real printer would show it on its wire protocol.
    """

    printer_id: str

    def printer_config(self) -> PrinterConfig:
        """How printfleet reaches this simulated printer (host, port, secrets)."""
        ...

    async def start_print(self, file_name: str, *, duration_s: float = 60.0, total_layers: int = 100) -> None:
        """Start printing ``file_name`` as if a user started it on the printer (or from a slicer)."""
        ...

    async def pause(self) -> None:
        """Pause from the printer's screen."""
        ...

    async def resume(self) -> None:
        """Resume from the printer's screen."""
        ...

    async def cancel(self) -> None:
        """Cancel from the printer's screen."""
        ...

    async def fail(self) -> None:
        """Make the current print fail (a printer error)."""
        ...

    async def disconnect(self, seconds: float) -> None:
        """Drop off the network for ``seconds`` (connections cut, new ones refused), printing on meanwhile."""
        ...

    async def restart(self) -> None:
        """Reboot: the current print is lost and the printer comes back idle."""
        ...
