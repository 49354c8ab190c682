"""Domain events: what happened, as frozen dataclasses. Their ``name`` is the public WebSocket frame type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from printfleet.domain.jobs import Job
from printfleet.domain.printer import PrinterConfig, PrinterStatus


@dataclass(frozen=True, slots=True)
class PrinterStatusUpdated:
    """A printer's status changed. ``telemetry`` is True when only telemetry changed (temperatures, progress,
    remaining time, AMS levels): those are coalesced to one per printer per second; state changes are not."""

    name: ClassVar[str] = "printer_status_update"
    printer: PrinterConfig
    status: PrinterStatus
    telemetry: bool = False


@dataclass(frozen=True, slots=True)
class PrinterRemoved:
    """A printer was deleted; clients drop it from their views."""

    name: ClassVar[str] = "printer_removed"
    printer_id: str


@dataclass(frozen=True, slots=True)
class JobAutoCreated:
    """A print was seen starting (or found running) and its job was created and committed."""

    name: ClassVar[str] = "job_auto_created"
    job: Job


@dataclass(frozen=True, slots=True)
class JobUpdated:
    """A job's status changed (started, paused, resumed, ended), or a user edited it; sent after the commit."""

    name: ClassVar[str] = "job_updated"
    job: Job


@dataclass(frozen=True, slots=True)
class SettingsUpdated:
    """Run-time settings changed; ``settings`` is the whole new set."""

    name: ClassVar[str] = "settings_updated"
    settings: dict[str, object]


DomainEvent = PrinterStatusUpdated | PrinterRemoved | JobAutoCreated | JobUpdated | SettingsUpdated
