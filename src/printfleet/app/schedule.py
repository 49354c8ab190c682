"""Wiring of scheduled prints for the composition root: the scheduler's policy from the settings, and which printers
the shared member queue sees (``queue_mode: members`` only)."""

from __future__ import annotations

from datetime import timedelta

from printfleet.config import Settings
from printfleet.domain.printer import PrinterConfig, PrinterStatus, QueueMode
from printfleet.services.monitoring import StatusListener
from printfleet.services.schedule import SchedulePolicy


def member_printers(watched: list[tuple[PrinterConfig, PrinterStatus]]) -> list[tuple[PrinterConfig, PrinterStatus]]:
    """The printers offered to the shared member queue (``queue_mode: members``); ``scheduled`` and ``manual``
    printers are not."""
    return [(config, status) for config, status in watched if config.queue_mode is QueueMode.MEMBERS]


def for_member_printers(listener: StatusListener) -> StatusListener:
    """``listener`` called for member-queue printers only."""

    async def forward(config: PrinterConfig, previous: PrinterStatus | None, current: PrinterStatus) -> None:
        if config.queue_mode is QueueMode.MEMBERS:
            await listener(config, previous, current)

    return forward


def schedule_policy_of(settings: Settings) -> SchedulePolicy:
    """The scheduler's policy from the ``schedule`` and ``dispatch`` settings."""
    schedule = settings.schedule
    return SchedulePolicy(
        stagger=timedelta(seconds=schedule.stagger),
        max_attempts=schedule.max_attempts,
        margin=timedelta(minutes=schedule.deadline_margin),
        interval_s=schedule.interval,
        staffed_hours=schedule.staffed_hours.to_domain() if schedule.staffed_hours else None,
        staffed_hours_strict=schedule.staffed_hours_strict,
        members_may_schedule=schedule.members_may_schedule,
        require_plate_clear=settings.dispatch.require_plate_clear,
    )
