"""Scheduled prints as people use them: create (copies expanded into rows), list, read, change, cancel, and the
predicted timeline. The scheduler (:mod:`printfleet.services.schedule.scheduler`) starts them.

Operators schedule for anyone; members schedule (and change and cancel) their own prints only when
``schedule.members_may_schedule``. Every change is stored first, then published (``scheduled_print_updated``),
and wakes the scheduler.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from printfleet.domain.dispatch import rules as dispatch_rules
from printfleet.domain.files.library import PrintFile
from printfleet.domain.printer import PrinterConfig, PrinterKind, PrinterStatus, QueueMode
from printfleet.domain.schedule import rules
from printfleet.domain.schedule.model import (
    PrintPlan,
    ScheduledPrint,
    ScheduleQuery,
    ScheduleStatus,
    expand_copies,
)
from printfleet.domain.schedule.timeline import TimelineEntry, predict
from printfleet.services.dispatch.steps import Printers
from printfleet.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied, PrinterNotFound
from printfleet.services.events import EventBus
from printfleet.services.files import FileLibrary
from printfleet.services.schedule.policy import SchedulePolicy
from printfleet.services.schedule.ports import ScheduleRepository
from printfleet.services.schedule.scheduler import Scheduler, publish


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ScheduledPrintNotFound(NotFound):
    """No scheduled print has this id."""

    def __init__(self, print_id: int) -> None:
        super().__init__(f"no scheduled print with id {print_id}")
        self.print_id = print_id


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """Who asks: ``user_id`` and ``manages`` (may schedule for anyone and change anyone's prints)."""

    user_id: int | None
    manages: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Shown:
    """A scheduled print with the status a person sees (``waiting`` for a queued print that may not start yet)."""

    scheduled: ScheduledPrint
    status: ScheduleStatus


EDITABLE = frozenset(
    {
        "job_name",
        "printer_id",
        "target",
        "scheduled_start",
        "finish_by",
        "estimated_duration_minutes",
        "priority",
        "notes",
        "material_type",
        "material_color",
        "material_slot",
        "nozzle_temp",
        "bed_temp",
        "print_speed",
        "offset_minutes",
        "offset_from",
        "only_if_succeeded",
    }
)
"""Fields a queued (not yet sent) print may change."""


class ScheduleService:
    """Create, read, change and cancel scheduled prints; the timeline."""

    def __init__(
        self,
        *,
        repository: ScheduleRepository,
        scheduler: Scheduler,
        files: FileLibrary,
        printers: Printers,
        bus: EventBus,
        policy: SchedulePolicy,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._repository = repository
        self._scheduler = scheduler
        self._files = files
        self._printers = printers
        self._bus = bus
        self._policy = policy
        self._clock = clock

    def _may_schedule(self, actor: Actor) -> None:
        if not actor.manages and not self._policy.members_may_schedule:
            raise PermissionDenied(
                "Only operators schedule prints here (schedule.members_may_schedule is off).",
                permission="schedule.manage",
            )

    def may_schedule(self, actor: Actor) -> bool:
        """Whether ``actor`` may schedule prints at all."""
        return actor.manages or self._policy.members_may_schedule

    def may_change(self, print_: ScheduledPrint, actor: Actor) -> bool:
        """Whether ``actor`` may change or cancel ``print_`` (its status aside)."""
        if actor.manages:
            return True
        return self._policy.members_may_schedule and print_.created_by == actor.user_id

    def _check_owner(self, print_: ScheduledPrint, actor: Actor) -> None:
        self._may_schedule(actor)
        if not actor.manages and print_.created_by != actor.user_id:
            raise PermissionDenied("This scheduled print is someone else's.", reason="not_yours")

    def _known_printer(self, printer_id: str) -> PrinterConfig:
        for config, _status in self._printers.watched():
            if config.id == printer_id:
                return config
        raise PrinterNotFound(printer_id)

    async def create(self, plan: PrintPlan, *, actor: Actor) -> list[ScheduledPrint]:
        """Store ``plan`` as one queued print per copy. The estimate comes from the file's metadata unless given.
        Raises PermissionDenied, FileNotFound, PrinterNotFound, ScheduledPrintNotFound (``depends_on``),
        InvalidInput (a printer that cannot print the file, copies out of range, a deadline before the start)."""
        self._may_schedule(actor)
        stored = await self._files.get(plan.file_id)
        if plan.printer_id is not None:
            config = self._known_printer(plan.printer_id)
            self._check_compatible(config, stored, plan.plate)
        if plan.depends_on is not None and await self._repository.get(plan.depends_on) is None:
            raise ScheduledPrintNotFound(plan.depends_on)
        if plan.finish_by is not None and plan.scheduled_start is not None and plan.finish_by <= plan.scheduled_start:
            raise InvalidInput("finish_by must be after scheduled_start.")
        _check_temperatures(plan.nozzle_temp, plan.bed_temp, stored, plan.plate)
        if plan.estimated_duration_minutes is None:
            plan = _replace(plan, estimated_duration_minutes=rules.estimate_minutes(stored.metadata, plan.plate))
        try:
            rows = expand_copies(plan, created_by=actor.user_id, created_at=self._clock())
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        created = await self._repository.add_many(rows)
        now = self._clock()
        for print_ in created:
            publish(self._bus, print_, now, await self._predecessor(print_))
        self._scheduler.wake()
        return created

    @staticmethod
    def _check_compatible(config: PrinterConfig, stored: PrintFile, plate: int) -> None:
        refusal = dispatch_rules.compatibility(config.kind, config.model, stored.kind, stored.metadata, plate)
        if refusal is not None:
            raise InvalidInput(refusal.message)

    async def _predecessor(self, print_: ScheduledPrint) -> ScheduledPrint | None:
        return None if print_.depends_on is None else await self._repository.get(print_.depends_on)

    async def get(self, print_id: int) -> Shown:
        """One print with its shown status. Raises ScheduledPrintNotFound."""
        print_ = await self._repository.get(print_id)
        if print_ is None:
            raise ScheduledPrintNotFound(print_id)
        return Shown(
            scheduled=print_, status=rules.shown_status(print_, await self._predecessor(print_), self._clock())
        )

    async def list_prints(self, query: ScheduleQuery) -> tuple[list[Shown], int]:
        """A page of prints with their shown statuses. Filtering by ``queued`` or ``waiting`` reads the stored
        ``queued`` prints and keeps those shown so (the total counts those of the page's query)."""
        wanted = set(query.statuses)
        stored_statuses = {ScheduleStatus.QUEUED if s is ScheduleStatus.WAITING else s for s in wanted}
        query = _replace(query, statuses=frozenset(stored_statuses))
        found, total = await self._repository.list_prints(query)
        predecessors = await self._repository.get_many({p.depends_on for p in found if p.depends_on is not None})
        now = self._clock()
        shown = [
            Shown(scheduled=p, status=rules.shown_status(p, predecessors.get(p.depends_on or 0), now)) for p in found
        ]
        if wanted:
            kept = [s for s in shown if s.status in wanted]
            total -= len(shown) - len(kept)
            shown = kept
        return shown, total

    async def update(self, print_id: int, changes: dict[str, Any], *, actor: Actor) -> Shown:
        """Change a print not yet sent (``queued``/``waiting``). Raises ScheduledPrintNotFound, PermissionDenied,
        Conflict (already sent or ended), InvalidInput (a field that cannot change)."""
        current = await self._repository.get(print_id)
        if current is None:
            raise ScheduledPrintNotFound(print_id)
        self._check_owner(current, actor)
        unknown = set(changes) - EDITABLE
        if unknown:
            raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}")
        if changes.get("printer_id") is not None:
            config = self._known_printer(str(changes["printer_id"]))
            self._check_compatible(config, await self._files.get(current.file_id), current.plate)
        if changes.get("nozzle_temp") is not None or changes.get("bed_temp") is not None:
            _check_temperatures(
                changes.get("nozzle_temp", current.nozzle_temp),
                changes.get("bed_temp", current.bed_temp),
                await self._files.get(current.file_id),
                current.plate,
            )
        updated = await self._repository.update(print_id, expect={ScheduleStatus.QUEUED}, **changes)
        if updated is None:
            raise Conflict(f"scheduled print {print_id} was already sent or has ended; it can no longer change")
        predecessor = await self._predecessor(updated)
        publish(self._bus, updated, self._clock(), predecessor)
        self._scheduler.wake()
        return Shown(scheduled=updated, status=rules.shown_status(updated, predecessor, self._clock()))

    async def cancel(self, print_id: int, *, actor: Actor) -> ScheduledPrint:
        """Cancel a print not yet sent; its ``only_if_succeeded`` dependants are then skipped. Raises
        ScheduledPrintNotFound, PermissionDenied, Conflict (already sent: stop it on the printer instead)."""
        current = await self._repository.get(print_id)
        if current is None:
            raise ScheduledPrintNotFound(print_id)
        self._check_owner(current, actor)
        now = self._clock()
        cancelled = await self._repository.update(
            print_id,
            expect={ScheduleStatus.QUEUED},
            status=ScheduleStatus.CANCELLED,
            completed_at=now,
            failed_reason=None,
        )
        if cancelled is None:
            raise Conflict(
                f"scheduled print {print_id} is {current.status.value}; stop a print under way on its printer"
            )
        publish(self._bus, cancelled, now)
        self._scheduler.wake()
        return cancelled

    async def timeline(self) -> list[tuple[TimelineEntry, ScheduledPrint]]:
        """Every queued and running print with its predicted printer, start and end, and deadline risk, by
        predicted start (prints no printer can take last)."""
        now = self._clock()
        prints = await self._repository.unfinished()
        files: dict[int, PrintFile | None] = {}
        for file_id in {p.file_id for p in prints}:
            try:
                files[file_id] = await self._files.get(file_id)
            except NotFound:
                files[file_id] = None
        printers = [
            (config, _free_at(status, now))
            for config, status in self._printers.watched()
            if config.queue_mode is QueueMode.SCHEDULED
        ]

        compatible: dict[tuple[int, int, PrinterKind, str | None], bool] = {}

        def eligible(print_: ScheduledPrint, config: PrinterConfig) -> bool:
            stored = files.get(print_.file_id)
            if stored is None or not rules.target_matches(print_, config):
                return False
            key = (print_.file_id, print_.plate, config.kind, config.model)  # printers alike take the same files
            if key not in compatible:
                found = dispatch_rules.compatibility(
                    config.kind, config.model, stored.kind, stored.metadata, print_.plate
                )
                compatible[key] = found is None
            return compatible[key]

        by_id = {p.id: p for p in prints}
        entries = predict(prints, printers, now, eligible=eligible, margin=self._policy.margin)
        entries.sort(key=lambda e: (e.start is None, e.start or now, e.print_id))
        return [(entry, by_id[entry.print_id]) for entry in entries]

    async def printer_queue(self, printer_id: str) -> list[tuple[TimelineEntry, ScheduledPrint]]:
        """``printer_id``'s running and upcoming prints in the order they are predicted to run. Raises
        PrinterNotFound."""
        self._known_printer(printer_id)
        return [(entry, p) for entry, p in await self.timeline() if entry.printer_id == printer_id]


def _check_temperatures(nozzle_temp: Any, bed_temp: Any, stored: PrintFile, plate: int) -> None:
    """Raise InvalidInput when the asked temperatures (°C) are not the file's (:func:`rules.temperature_mismatch`)."""
    info = next((candidate for candidate in stored.metadata.plates if candidate.index == plate), None)
    problem = rules.temperature_mismatch(
        float(nozzle_temp) if nozzle_temp is not None else None, float(bed_temp) if bed_temp is not None else None, info
    )
    if problem is not None:
        raise InvalidInput(problem)


def _free_at(status: PrinterStatus, now: datetime) -> datetime:
    """When a printer is predicted to be free: now, or after the remaining time of its print."""
    if status.state.is_active and status.remaining_seconds:
        return now + timedelta(seconds=status.remaining_seconds)
    return now


def _replace(value: Any, **changes: Any) -> Any:
    return dataclasses.replace(value, **changes)
