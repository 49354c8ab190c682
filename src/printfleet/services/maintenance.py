"""Maintenance: tasks, their standing on every printer, marking them done, and ``maintenance_due`` once per crossing.

The counters come from printfleet's own job records (:mod:`printfleet.domain.maintenance`). The service checks the
farm when a print ends (a ``job_updated`` event with an ended job), on a timer (days pass without prints), at start
and after every change, and publishes :class:`~printfleet.domain.events.MaintenanceDue` for each task that crossed
into *due* since it was last announced; the notification outbox turns that into messages.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from printfleet.aio import within
from printfleet.domain import maintenance as rules
from printfleet.domain.events import JobUpdated, MaintenanceDue
from printfleet.domain.maintenance import Level, NewTask, PrinterTask, Task, TaskStatus, Usage
from printfleet.domain.printer import PrinterConfig
from printfleet.services.errors import InvalidInput, NotFound, StoreUnavailable
from printfleet.services.events import EventBus, Subscription

log = structlog.get_logger("printfleet.maintenance")


class MaintenanceRepository(Protocol):
    """Where tasks, per-printer states and the log are kept (implemented in ``store/maintenance.py``)."""

    async def add_task(self, new: NewTask, now: datetime) -> Task:
        """Record a task."""
        ...

    async def update_task(self, task_id: int, changes: dict[str, Any], now: datetime) -> Task | None:
        """Change fields of a task; None when there is none."""
        ...

    async def delete_task(self, task_id: int) -> bool:
        """Delete a task; False when there was none."""
        ...

    async def tasks(self) -> list[Task]:
        """Every task."""
        ...

    async def records(self) -> list[PrinterTask]:
        """Every stored per-printer state."""
        ...

    async def save_record(self, record: PrinterTask) -> None:
        """Insert or replace a per-printer state."""
        ...

    async def record_done(self, record: PrinterTask, counter: float) -> None:
        """Store a done task's new state and its log line."""
        ...

    async def log(self, *, printer_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The newest log lines."""
        ...

    async def usage(self, wanted: Iterable[tuple[str, datetime]]) -> dict[tuple[str, datetime], Usage]:
        """Printing seconds and ended jobs per (printer, since)."""
        ...


class TaskNotFound(NotFound):
    """No maintenance task with that id (404)."""

    def __init__(self, task_id: int) -> None:
        super().__init__(f"maintenance task {task_id} not found")


class MaintenanceService:
    """Tasks and their standing per printer. ``printers`` returns the configured printers (id and model);
    ``check_interval`` (seconds) is how often the farm is checked without a print ending."""

    def __init__(
        self,
        *,
        repository: MaintenanceRepository,
        bus: EventBus,
        printers: Callable[[], list[PrinterConfig]],
        check_interval: float = 3600.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._repository = repository
        self._bus = bus
        self._printers = printers
        self._check_interval = check_interval
        self._clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._subscription: Subscription | None = None

    # -- tasks ---------------------------------------------------------------------------------------------

    async def tasks(self) -> list[Task]:
        """Every task, by name."""
        return await self._repository.tasks()

    async def task(self, task_id: int) -> Task:
        """One task. Raises TaskNotFound."""
        found = next((task for task in await self._repository.tasks() if task.id == task_id), None)
        if found is None:
            raise TaskNotFound(task_id)
        return found

    async def add_task(self, new: NewTask) -> Task:
        """Add a task. Raises InvalidInput naming the field."""
        try:
            rules.check_task(new)
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        task = await self._repository.add_task(new, self._clock())
        self._wake.set()
        return task

    async def update_task(self, task_id: int, changes: dict[str, Any]) -> Task:
        """Change fields of a task (name, description, printer_id, printer_model, interval, unit, warn_fraction).
        Raises TaskNotFound, InvalidInput."""
        current = await self.task(task_id)
        merged = NewTask(
            name=changes.get("name", current.name),
            interval=changes.get("interval", current.interval),
            unit=changes.get("unit", current.unit),
            description=changes.get("description", current.description),
            printer_id=changes.get("printer_id", current.printer_id),
            printer_model=changes.get("printer_model", current.printer_model),
            warn_fraction=changes.get("warn_fraction", current.warn_fraction),
        )
        try:
            rules.check_task(merged)
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        updated = await self._repository.update_task(task_id, changes, self._clock())
        if updated is None:
            raise TaskNotFound(task_id)
        self._wake.set()
        return updated

    async def delete_task(self, task_id: int) -> None:
        """Delete a task with its counters and log. Raises TaskNotFound."""
        if not await self._repository.delete_task(task_id):
            raise TaskNotFound(task_id)

    # -- standing ------------------------------------------------------------------------------------------

    async def statuses(self, *, printer_id: str | None = None) -> list[TaskStatus]:
        """Every task's standing on every printer it covers (or on ``printer_id`` only), most used first."""
        tasks = await self._repository.tasks()
        records = {(r.task_id, r.printer_id): r for r in await self._repository.records()}
        pairs: list[tuple[Task, PrinterTask]] = []
        for config in self._printers():
            if printer_id is not None and config.id != printer_id:
                continue
            for task in tasks:
                if task.applies_to(config.id, config.model):
                    record = records.get((task.id, config.id)) or PrinterTask(task_id=task.id, printer_id=config.id)
                    pairs.append((task, record))
        wanted = {(record.printer_id, rules.counted_since(task, record)) for task, record in pairs}
        usage = await self._repository.usage(wanted)
        now = self._clock()
        found = [
            rules.status(task, record, usage[(record.printer_id, rules.counted_since(task, record))], now)
            for task, record in pairs
        ]
        found.sort(key=lambda s: (-s.fraction, s.printer_id, s.task.name))
        return found

    async def mark_done(self, task_id: int, printer_id: str, *, by: int | None, notes: str | None) -> TaskStatus:
        """Record that ``task_id`` was done on ``printer_id`` now: its counter starts again from zero (the offset of
        the printer's past is used up) and a log line keeps the counter it had. Raises TaskNotFound, NotFound (a
        printer the task does not cover)."""
        task = await self.task(task_id)
        before = next((s for s in await self.statuses(printer_id=printer_id) if s.task.id == task_id), None)
        if before is None:
            raise NotFound(f"maintenance task {task_id} does not cover printer {printer_id}")
        done = PrinterTask(
            task_id=task_id,
            printer_id=printer_id,
            last_done_at=self._clock(),
            last_done_by=by,
            last_notes=notes,
            offset=0.0,
            announced=Level.OK,
        )
        await self._repository.record_done(done, before.used)
        log.info("maintenance.done", task_id=task_id, printer_id=printer_id, counter=round(before.used, 2))
        return rules.status(task, done, Usage(), self._clock())

    async def set_offset(self, task_id: int, printer_id: str, offset: float) -> TaskStatus:
        """Set the counter offset (the printer's past, in the task's unit, ≥ 0). Raises TaskNotFound, NotFound,
        InvalidInput."""
        if not (offset >= 0 and offset < 1e9):
            raise InvalidInput("offset: must be a number from 0")
        before = next((s for s in await self.statuses(printer_id=printer_id) if s.task.id == task_id), None)
        if before is None:
            await self.task(task_id)
            raise NotFound(f"maintenance task {task_id} does not cover printer {printer_id}")
        await self._repository.save_record(replace(before.record, offset=offset))
        self._wake.set()
        return next(s for s in await self.statuses(printer_id=printer_id) if s.task.id == task_id)

    async def log(self, *, printer_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """What was done, newest first."""
        return await self._repository.log(printer_id=printer_id, limit=limit)

    # -- announcing ----------------------------------------------------------------------------------------

    async def check(self) -> list[MaintenanceDue]:
        """Publish ``maintenance_due`` for each task that crossed into *due* since last announced (stored first, so
        a restart does not announce it again); a task that went back below due (its interval raised) is re-armed."""
        async with self._lock:
            published: list[MaintenanceDue] = []
            for current in await self.statuses():
                if rules.to_announce(current):
                    await self._repository.save_record(replace(current.record, announced=Level.DUE))
                    event = MaintenanceDue(
                        task_id=current.task.id,
                        task_name=current.task.name,
                        printer_id=current.printer_id,
                        used=current.used,
                        interval=current.task.interval,
                        unit=current.task.unit.value,
                        since=current.since,
                    )
                    self._bus.publish(event)
                    published.append(event)
                    log.info("maintenance.due", task_id=current.task.id, printer_id=current.printer_id)
                elif current.level is not Level.DUE and current.record.announced is Level.DUE:
                    await self._repository.save_record(replace(current.record, announced=current.level))
            return published

    async def start(self) -> None:
        """Start checking: at once, when a print ends, and every ``check_interval``."""
        subscription = self._subscription = self._bus.subscribe()

        async def listen() -> None:
            async for event in subscription:
                if isinstance(event, JobUpdated) and event.job.end_time is not None:
                    self._wake.set()

        self._listener = asyncio.create_task(listen(), name="maintenance-listener")
        self._task = asyncio.create_task(self._run(), name="maintenance-checker")

    async def __aenter__(self) -> MaintenanceService:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.check()
            except StoreUnavailable:
                log.warning("maintenance.check_deferred")
            except Exception:  # a bug must not stop the checks for good
                log.exception("maintenance.check_failed")
            with contextlib.suppress(TimeoutError):
                await within(self._wake.wait(), self._check_interval)

    async def stop(self) -> None:
        """Stop the checker and the listener."""
        for task in (self._task, self._listener):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._listener = None
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
