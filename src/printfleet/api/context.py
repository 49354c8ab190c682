"""What the API layer is handed by the composition root, and typed dependencies to reach it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from printfleet.domain.files.model import Thumbnail
from printfleet.services.accounts import AccountService
from printfleet.services.dispatch.plates import PlateService
from printfleet.services.dispatch.service import DispatchService
from printfleet.services.events import EventBus
from printfleet.services.files import FileLibrary
from printfleet.services.health import HealthService
from printfleet.services.jobs import JobService
from printfleet.services.maintenance import MaintenanceService
from printfleet.services.materials import MaterialsService
from printfleet.services.materials.slots import SlotService
from printfleet.services.materials.spoolman import SpoolmanReporter
from printfleet.services.materials.usage import UsageService
from printfleet.services.monitoring import MonitoringService
from printfleet.services.notifications import NotificationService
from printfleet.services.orders import OrderService
from printfleet.services.orders.shop_sync import ShopConnector, ShopSync
from printfleet.services.printers import PrinterService
from printfleet.services.queue import QueueService
from printfleet.services.schedule import ScheduleService
from printfleet.services.settings import SettingsService
from printfleet.services.statistics import StatisticsService


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiContext:
    """Services the routers call. ``render_metrics`` returns (body, content type) for ``/metrics``;
    ``metrics_token`` (a secret) opens ``/metrics`` to Bearer-token holders instead of loopback clients;
    ``secure_cookies`` marks the session cookie ``Secure`` over plain HTTP too (behind a TLS proxy); ``health``
    gathers what ``/healthz`` reports as degraded; ``roles()`` names the singleton roles this process runs now;
    ``certificates`` is where printers' CA certificates uploaded through the web UI are kept; ``job_preview(id)``
    reads the kept plate preview of a print started at the printer (None: none); ``watching()`` is entered while a
    live view (a WebSocket client, a live page) is open: a shared farm then reads every printer's telemetry as other
    processes announce it (``services.farm.status_sharing``)."""

    printers: PrinterService
    monitoring: MonitoringService
    jobs: JobService
    settings: SettingsService
    queue: QueueService
    accounts: AccountService
    files: FileLibrary
    dispatch: DispatchService
    plates: PlateService
    materials: MaterialsService
    slots: SlotService
    notifications: NotificationService
    maintenance: MaintenanceService
    schedule: ScheduleService
    orders: OrderService
    usage: UsageService
    statistics: StatisticsService
    bus: EventBus
    health: HealthService
    render_metrics: Callable[[], tuple[bytes, str]]
    shop: ShopSync | None = None
    spoolman: SpoolmanReporter | None = None
    shop_connector: ShopConnector | None = None
    secure_cookies: bool = False
    metrics_token: str | None = None
    roles: Callable[[], list[str]] = list
    certificates: Path = Path("data/certificates")
    job_preview: Callable[[int], Awaitable[Thumbnail | None]] | None = None
    watching: Callable[[], AbstractAsyncContextManager[object]] = nullcontext


def get_context(request: Request) -> ApiContext:
    """The context stored on the application at start-up."""
    context: ApiContext = request.app.state.context
    return context


ContextDep = Annotated[ApiContext, Depends(get_context)]
