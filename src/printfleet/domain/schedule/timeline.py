"""The predicted timeline: which printer will run each queued print, from when to when, and whether its deadline
is at risk. A greedy simulation of the scheduler (pure, no I/O): prints are placed in the order of
:mod:`printfleet.domain.schedule.ordering` (a chained print after its predecessor), each on the matching printer
that is free first, not before its ``scheduled_start`` nor its predecessor's predicted start/end plus the offset.
Stagger and staffed hours are left out: the timeline is a forecast, not a promise.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from printfleet.domain.printer import PrinterConfig
from printfleet.domain.schedule.model import OffsetFrom, ScheduledPrint, ScheduleStatus
from printfleet.domain.schedule.ordering import DEFAULT_MARGIN, rank_key
from printfleet.domain.schedule.rules import Gate, chain_state

DEFAULT_ESTIMATE = timedelta(minutes=60)
"""The duration assumed for a print whose file gives no estimate."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineEntry:
    """One print on the timeline: its predicted ``printer_id`` (None: no printer can take it), ``start`` and
    ``end`` (aware UTC), its deadline ``finish_by`` and ``at_risk`` (its predicted end plus the margin passes the
    deadline)."""

    print_id: int
    printer_id: str | None
    start: datetime | None
    end: datetime | None
    finish_by: datetime | None
    at_risk: bool
    running: bool


def _depth(print_: ScheduledPrint, by_id: dict[int, ScheduledPrint], memo: dict[int, int]) -> int:
    chain: list[ScheduledPrint] = []
    current: ScheduledPrint | None = print_
    while current is not None and current.id not in memo and len(chain) <= len(by_id):
        chain.append(current)
        current = by_id.get(current.depends_on) if current.depends_on is not None else None
    base = memo.get(current.id, 0) if current is not None else -1
    for item in reversed(chain):
        base += 1
        memo[item.id] = base
    return memo[print_.id]


def predict(
    prints: Sequence[ScheduledPrint],
    printers: Sequence[tuple[PrinterConfig, datetime]],
    now: datetime,
    *,
    eligible: Callable[[ScheduledPrint, PrinterConfig], bool],
    margin: timedelta = DEFAULT_MARGIN,
) -> list[TimelineEntry]:
    """The timeline of ``prints`` (pending, dispatching and started ones; others are ignored) on ``printers``
    (each with when it is free next, aware UTC), at ``now``. ``eligible(print, printer)`` says whether a printer
    may take a print (target and file compatibility); it is asked once per distinct (printer or target, file)."""
    by_id = {p.id: p for p in prints}
    free_at = {config.id: max(moment, now) for config, moment in printers}
    configs = [config for config, _ in printers]
    placed: dict[int, tuple[datetime, datetime]] = {}
    entries: list[TimelineEntry] = []

    def entry(p: ScheduledPrint, printer_id: str | None, start: datetime | None, end: datetime | None) -> None:
        risky = p.finish_by is not None and end is not None and end + margin > p.finish_by
        running = p.status in (ScheduleStatus.STARTED, ScheduleStatus.DISPATCHING)
        entries.append(
            TimelineEntry(
                print_id=p.id,
                printer_id=printer_id,
                start=start,
                end=end,
                finish_by=p.finish_by,
                at_risk=risky,
                running=running,
            )
        )

    for p in prints:
        if p.status in (ScheduleStatus.STARTED, ScheduleStatus.DISPATCHING) and p.assigned_printer_id:
            start = p.started_at or now
            end = max(start + (p.estimated_duration or DEFAULT_ESTIMATE), now)
            placed[p.id] = (start, end)
            if p.assigned_printer_id in free_at:
                free_at[p.assigned_printer_id] = max(free_at[p.assigned_printer_id], end)
            entry(p, p.assigned_printer_id, start, end)

    pending = [p for p in prints if p.status.is_pending]
    memo: dict[int, int] = {}
    pending.sort(key=lambda p: (_depth(p, by_id, memo), rank_key(p, now, margin=margin)))
    # One heap of (free at, printer) per distinct set of printers that may take a print: prints of many files that
    # the same printers take share it, so a printer taken leaves one stale entry per such set, not per file.
    heaps: dict[tuple[str, ...], list[tuple[datetime, str]]] = {}
    group_of: dict[tuple[object, ...], tuple[str, ...]] = {}
    for p in pending:
        signature: tuple[object, ...] = (p.printer_id, p.target.model, p.target.tags, p.file_id, p.plate)
        group = group_of.get(signature)
        if group is None:
            group = group_of[signature] = tuple(c.id for c in configs if eligible(p, c))
            if group not in heaps:
                heaps[group] = [(free_at[i], i) for i in group]
                heapq.heapify(heaps[group])
        earliest = max(now, p.scheduled_start or now)
        predecessor = by_id.get(p.depends_on) if p.depends_on is not None else None
        if predecessor is not None:
            chain = chain_state(p, predecessor)
            if chain.gate is Gate.SKIP:
                continue
            if chain.at is not None:
                earliest = max(earliest, chain.at)
            elif predecessor.id in placed:
                start, end = placed[predecessor.id]
                anchor = start if p.offset_from is OffsetFrom.START else end
                earliest = max(earliest, anchor + timedelta(minutes=p.offset_minutes))
            else:
                entry(p, None, None, None)
                continue
        heap = heaps[group]
        while heap and heap[0][0] != free_at[heap[0][1]]:  # a stale entry: that printer was taken since
            _, stale = heapq.heappop(heap)
            heapq.heappush(heap, (free_at[stale], stale))
        if not heap:
            entry(p, None, None, None)
            continue
        _, printer_id = heap[0]
        start = max(free_at[printer_id], earliest)
        end = start + (p.estimated_duration or DEFAULT_ESTIMATE)
        free_at[printer_id] = end
        heapq.heapreplace(heap, (end, printer_id))
        placed[p.id] = (start, end)
        entry(p, printer_id, start, end)
    return entries
