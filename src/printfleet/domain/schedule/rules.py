"""Pure rules of scheduled prints: which printers a print may go to, when a chained print may start, and what
happens to dependants when a print ends.

Chains (research dispatch-scheduling-orders.md 6.2, items 1 and 8): a print with ``depends_on`` waits until its
predecessor's start (``offset_from`` ``start``) or end (``finish``) plus ``offset_minutes`` has passed. When the
predecessor ends without success (failed, cancelled, skipped) a print with ``only_if_succeeded`` is ``skipped``;
one without it runs anyway, counting its offset from the predecessor's end (or its start, when it started).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from printfleet.domain.files.model import FileMetadata, PlateInfo
from printfleet.domain.jobs import JobStatus
from printfleet.domain.printer import AmsTray, PrinterConfig
from printfleet.domain.schedule.model import OffsetFrom, ScheduledPrint, ScheduleStatus, Target


@functools.lru_cache(maxsize=1024)
def _fold(name: str | None) -> str:
    return re.sub(r"[^a-z0-9]", "", (name or "").lower())


def target_matches(print_: ScheduledPrint, printer: PrinterConfig) -> bool:
    """Whether ``printer`` is one ``print_`` may go to: the named printer when it names one, else a printer of the
    target's model (``"X1C"`` matches ``"x1c"`` and ``"X1 C"``) carrying every target tag (case-insensitive);
    an empty target matches every printer (file compatibility is checked separately)."""
    if print_.printer_id is not None:
        return printer.id == print_.printer_id
    return matches_target(print_.target, printer)


def matches_target(target: Target, printer: PrinterConfig) -> bool:
    """Whether ``printer`` is of ``target``'s model and carries all of its tags."""
    if target.model and _fold(target.model) != _fold(printer.model):
        return False
    if not target.tags:
        return True
    tags = {tag.strip().lower() for tag in printer.tags}
    return all(tag.strip().lower() in tags for tag in target.tags)


class Gate(StrEnum):
    """What a print's predecessor allows: ``open`` (the print may start at ``ChainState.at``), ``closed`` (not yet:
    the predecessor has not reached the point the offset counts from), ``skip`` (the predecessor did not succeed
    and this print needed it to)."""

    OPEN = "open"
    CLOSED = "closed"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class ChainState:
    """A print's chain gate and, when open, the moment (aware UTC) from which it may start."""

    gate: Gate
    at: datetime | None = None


def chain_state(print_: ScheduledPrint, predecessor: ScheduledPrint | None) -> ChainState:
    """The chain gate of ``print_`` given its ``predecessor`` (None: it has none, or it was deleted: open now).

    Examples (offset 10 min): from ``start``, a predecessor started 09:00 opens the gate at 09:10; from ``finish``,
    a predecessor still printing keeps it closed, one completed 11:00 opens it at 11:10; a failed predecessor skips
    an ``only_if_succeeded`` print and otherwise opens the gate 10 min after the failure."""
    if print_.depends_on is None or predecessor is None:
        return ChainState(Gate.OPEN)
    offset = timedelta(minutes=print_.offset_minutes)
    status = predecessor.status
    if status.is_final and not status.succeeded:
        if print_.only_if_succeeded:
            return ChainState(Gate.SKIP)
        anchor = predecessor.started_at if print_.offset_from is OffsetFrom.START else None
        anchor = anchor or predecessor.completed_at
        return ChainState(Gate.OPEN, anchor + offset if anchor else None)
    if print_.offset_from is OffsetFrom.START:
        if predecessor.started_at is None:
            return ChainState(Gate.CLOSED)
        return ChainState(Gate.OPEN, predecessor.started_at + offset)
    if status.succeeded and predecessor.completed_at is not None:
        return ChainState(Gate.OPEN, predecessor.completed_at + offset)
    return ChainState(Gate.CLOSED)


def ready_at(print_: ScheduledPrint, predecessor: ScheduledPrint | None) -> datetime | None:
    """The earliest moment (aware UTC) ``print_`` may start as far as time and chain go, or None when it has to
    wait for something that has not happened (its predecessor's start or end) or will be skipped. A print with no
    start time and no predecessor returns its creation time."""
    chain = chain_state(print_, predecessor)
    if chain.gate is not Gate.OPEN:
        return None
    moments = [m for m in (print_.scheduled_start, chain.at) if m is not None]
    return max(moments) if moments else print_.created_at


def is_due(print_: ScheduledPrint, predecessor: ScheduledPrint | None, now: datetime) -> bool:
    """Whether ``print_`` is queued and its time and predecessor allow it to start at ``now``."""
    if print_.status is not ScheduleStatus.QUEUED:
        return False
    moment = ready_at(print_, predecessor)
    return moment is not None and moment <= now


def shown_status(print_: ScheduledPrint, predecessor: ScheduledPrint | None, now: datetime) -> ScheduleStatus:
    """The status a person sees: a stored ``queued`` print that may not start yet is ``waiting``."""
    if print_.status is ScheduleStatus.QUEUED and not is_due(print_, predecessor, now):
        return ScheduleStatus.WAITING
    return print_.status


JOB_OUTCOMES: dict[JobStatus, ScheduleStatus] = {
    JobStatus.COMPLETED: ScheduleStatus.COMPLETED,
    JobStatus.FAILED: ScheduleStatus.FAILED,
    JobStatus.CANCELLED: ScheduleStatus.FAILED,
    JobStatus.UNKNOWN: ScheduleStatus.FAILED,
}
"""A started print's final status by its job's end: only a completed job succeeds (a print cancelled at the
printer, or whose end was not seen, did not deliver the part)."""


def job_failure_reason(status: JobStatus, end_reason: str | None) -> str | None:
    """The ``failed_reason`` of a print whose job ended with ``status`` (None when it completed): the job's own
    reason when it gives one, else the job status."""
    if status is JobStatus.COMPLETED:
        return None
    return (end_reason or f"the print was {status.value}")[:500]


def after_dispatch_failure(attempts: int, max_attempts: int) -> ScheduleStatus:
    """Where a print goes after its ``attempts``-th dispatch failed: back to ``queued``, or ``failed`` once
    ``max_attempts`` dispatches have failed (``schedule.max_attempts``, default 3)."""
    return ScheduleStatus.FAILED if attempts >= max_attempts else ScheduleStatus.QUEUED


def estimate_minutes(metadata: FileMetadata, plate: int) -> int | None:
    """The file's predicted printing time for ``plate`` in whole minutes (rounded up; the slicer's estimate in the
    file's metadata), the whole file's when the plate gives none, or None."""
    seconds = next((p.print_time_s for p in metadata.plates if p.index == plate and p.print_time_s), None)
    seconds = seconds or metadata.print_time_s
    return None if not seconds else max(1, -(-int(seconds) // 60))


def _rgb(color: str | None) -> str | None:
    """``#FF8000``, ``FF8000`` or Bambu's ``FF8000FF`` as ``ff8000`` (None when not a colour)."""
    value = (color or "").strip().lstrip("#").lower()
    return value[:6] if len(value) in (6, 8) and all(c in "0123456789abcdef" for c in value) else None


def _tray_fits(tray: AmsTray, material_type: str | None, material_color: str | None) -> bool:
    if material_type and (tray.tray_type or "").strip().lower() != material_type.strip().lower():
        return False
    return not material_color or _rgb(tray.color) == _rgb(material_color)


def material_loaded(print_: ScheduledPrint, trays: tuple[AmsTray, ...]) -> bool:
    """Whether the printer has what ``print_`` asks for loaded: a tray (AMS slot ``ams_id*4 + tray``, or the external
    spool) of ``material_type`` (``PLA``, case-insensitive) and ``material_color`` (RGB; the alpha of Bambu's
    ``RRGGBBAA`` is ignored); in ``material_slot`` when it names one. A print that asks for nothing, and a printer
    that reports no trays (PrusaLink, OctoPrint, Klipper: nothing to compare), pass."""
    if not print_.material_type and not print_.material_color:
        return True
    if not trays:
        return True
    if print_.material_slot is not None:
        trays = tuple(tray for tray in trays if tray.slot == print_.material_slot)
    return any(_tray_fits(tray, print_.material_type, print_.material_color) for tray in trays)


def ams_mapping(print_: ScheduledPrint, plate: PlateInfo | None) -> tuple[int, ...]:
    """The Bambu ``ams_mapping`` that sends ``print_``'s ``material_slot`` (global tray id ``ams_id*4 + tray``) to
    the one filament its plate uses: one entry per project filament up to that one (its ``slot`` is the 1-based
    index into the mapping), -1 for those before it (unused by the plate). Empty, so that the printer maps the
    filaments itself, when no slot is asked for, or the plate uses several filaments or says none (research
    dispatch-scheduling-orders 1a: one entry per filament slot of the 3MF, -1 unused)."""
    if print_.material_slot is None or plate is None or len(plate.filaments) != 1:
        return ()
    (used,) = plate.filaments
    if used.slot < 1:
        return ()
    return (-1,) * (used.slot - 1) + (print_.material_slot,)


TEMPERATURE_TOLERANCE_C = 5.0
"""How far (°C) a print's ``nozzle_temp``/``bed_temp`` may be from the temperatures its file is sliced for."""


def temperature_mismatch(nozzle_temp: float | None, bed_temp: float | None, plate: PlateInfo | None) -> str | None:
    """Why the asked temperatures (°C) cannot be honoured for ``plate``, or None. A sliced file carries its
    temperatures in its G-code, and no printer printfleet drives changes them for a whole print (a Bambu printer
    takes none with its start command; a temperature set by hand on PrusaLink, OctoPrint or Klipper is overwritten
    by the file's next M104/M140), so a temperature more than :data:`TEMPERATURE_TOLERANCE_C` from the file's is
    refused rather than silently ignored. Nothing is refused where the file does not say (an older file, Cura)."""
    problems = []
    sliced = (plate.nozzle_temp, plate.bed_temp) if plate is not None else (None, None)
    for field, asked, wanted in zip(("nozzle_temp", "bed_temp"), (nozzle_temp, bed_temp), sliced, strict=True):
        if asked is not None and wanted is not None and abs(asked - wanted) > TEMPERATURE_TOLERANCE_C:
            problems.append(f"{field} {asked:g} °C, but the file is sliced for {wanted:g} °C")
    if not problems:
        return None
    advice = "printfleet does not change a sliced file's temperatures: slice it again for them, or leave it empty"
    return f"{'; '.join(problems)}. {advice}."
