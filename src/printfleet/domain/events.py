"""Domain events: what happened, as frozen dataclasses. Their ``name`` is the public WebSocket frame type."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from printfleet.domain.dispatch.model import Dispatch
from printfleet.domain.dispatch.plates import PlateState
from printfleet.domain.jobs import Job
from printfleet.domain.orders.model import Order
from printfleet.domain.printer import PrinterConfig, PrinterStatus
from printfleet.domain.queue import QueueEntry
from printfleet.domain.schedule.model import ScheduledPrint, ScheduleStatus


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
class FirstLayerDone:
    """A running print reached its second layer, so its first layer is down (published once, when the printer's
    layer counter crosses 2 while printfleet watches); ``job`` is the print's job."""

    name: ClassVar[str] = "first_layer_done"
    job: Job


@dataclass(frozen=True, slots=True)
class SettingsUpdated:
    """Run-time settings changed; ``settings`` is the whole new set."""

    name: ClassVar[str] = "settings_updated"
    settings: dict[str, object]


@dataclass(frozen=True, slots=True)
class QueueUpdated:
    """The queue changed: an entry joined, moved, changed its estimate, ended, or the queue was paused or resumed,
    or a printer held or released. ``entry`` is the entry changed (None for a pause or hold); ``reason`` one word
    (``joined``, ``claimed``, ``cancelled``, ``removed``, ``moved``, ``estimate_changed``, ``linked``, ``done``,
    ``withdrawn``, ``paused``, ``resumed``, ``held``, ``released``). Clients re-read the queue."""

    name: ClassVar[str] = "queue_updated"
    reason: str
    entry: QueueEntry | None = None
    printer_id: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimOffered:
    """A printer was offered to ``entry`` (status ``offered``): its user may claim it until ``entry.deadline``."""

    name: ClassVar[str] = "claim_offered"
    entry: QueueEntry


@dataclass(frozen=True, slots=True)
class ClaimReminder:
    """``entry`` is still offered its printer with ``notifications.claim_reminder`` left of the claim window
    (published once per offer)."""

    name: ClassVar[str] = "claim_reminder"
    entry: QueueEntry


@dataclass(frozen=True, slots=True)
class ClaimExpired:
    """``entry``'s offer of ``printer_id`` ran out unclaimed. ``entry`` is its new state: ``waiting`` at the back
    of the queue, or ``expired`` (too many missed windows in a row)."""

    name: ClassVar[str] = "claim_expired"
    entry: QueueEntry
    printer_id: str


@dataclass(frozen=True, slots=True)
class ReservationReleased:
    """The reservation of ``printer_id`` by ``entry`` ended without a print: ``reason`` is ``start_missed`` (no print
    in the start window; ``entry`` back of the queue or ``expired``), ``cancelled`` (by its user) or ``removed``
    (by an admin)."""

    name: ClassVar[str] = "reservation_released"
    entry: QueueEntry
    printer_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class QueuePrintStarted:
    """A print started on the printer ``entry`` reserved and is linked to it (``entry`` is ``printing``); ``job``
    is the job tracking it (None when automatic job creation is off); ``remaining_seconds`` the printer-reported
    remaining time when known."""

    name: ClassVar[str] = "queue_print_started"
    entry: QueueEntry
    job: Job | None
    remaining_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class QueueEntryFinished:
    """The print linked to ``entry`` ended; ``entry`` is ``done`` with its ``outcome`` and ``actual_duration``."""

    name: ClassVar[str] = "queue_entry_finished"
    entry: QueueEntry


@dataclass(frozen=True, slots=True)
class UnqueuedPrint:
    """A print started on ``printer_id`` that nobody claimed through the queue. ``job`` tracks it when auto-creation
    is on; ``withdrawn`` is the entry whose open offer of that printer was taken back (it keeps its place)."""

    name: ClassVar[str] = "unqueued_print"
    printer_id: str
    file_name: str | None
    job: Job | None = None
    withdrawn: QueueEntry | None = None


QueueEvent = (
    QueueUpdated
    | ClaimOffered
    | ClaimExpired
    | ReservationReleased
    | QueuePrintStarted
    | QueueEntryFinished
    | UnqueuedPrint
)


@dataclass(frozen=True, slots=True)
class DispatchUpdated:
    """A dispatch was created or moved to another step (stored first)."""

    name: ClassVar[str] = "dispatch_updated"
    dispatch: Dispatch


@dataclass(frozen=True, slots=True)
class PlateCleared:
    """Someone confirmed a printer's plate is clear (or a print starting cleared it); ``plate`` is the new state."""

    name: ClassVar[str] = "plate_cleared"
    plate: PlateState


@dataclass(frozen=True, slots=True)
class MaintenanceDue:
    """A maintenance task crossed into *due* on a printer (published once per crossing). ``used`` and ``interval``
    in ``unit`` (print_hours, days, jobs); ``since`` (aware UTC) when its counter started."""

    name: ClassVar[str] = "maintenance_due"
    task_id: int
    task_name: str
    printer_id: str
    used: float
    interval: float
    unit: str
    since: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PrinterErrorRaised:
    """A printer reported an error it did not report just before: ``code`` as in ``PrinterStatus.error_codes``
    (Bambu ``print_error`` as 8 hex digits or ``HMS_…``; None for an error state without a code), ``text`` when the
    code is known, ``runout`` when it means a spool ran out; ``occurred_at`` aware UTC. Published once per
    appearance (see :mod:`printfleet.domain.notifications.printer_alerts`)."""

    name: ClassVar[str] = "printer_error"
    printer_id: str
    code: str | None
    text: str | None
    runout: bool
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PrinterWentOffline:
    """A printer that was online has stayed offline past ``notifications.offline_grace``: ``since`` (aware UTC) when
    it went offline, ``reason`` (an ``OfflineReason`` value) and ``detail`` as its status gave them."""

    name: ClassVar[str] = "printer_offline"
    printer_id: str
    since: datetime
    reason: str | None
    detail: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ShopNeedsReconnect:
    """A shop refused printfleet's tokens (revoked, expired, reused): a person must connect it again. ``shop`` is its
    kind (``etsy``), ``problem`` the shop's own words; published once when the connection enters that state."""

    name: ClassVar[str] = "shop_reconnect_needed"
    shop: str
    problem: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ShopPollWanted:
    """The shop told printfleet that something changed (Etsy's ``ORDER_PAID`` webhook): the process that polls it
    polls now instead of at its next interval. ``shop`` is its kind (``etsy``)."""

    name: ClassVar[str] = "shop_poll_wanted"
    shop: str


@dataclass(frozen=True, slots=True)
class ScheduledPrintUpdated:
    """A scheduled print was created or changed (stored first); ``shown_status`` is its status as a person sees
    it (``waiting`` for a queued print that may not start yet)."""

    name: ClassVar[str] = "scheduled_print_updated"
    scheduled: ScheduledPrint
    shown_status: ScheduleStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class MaterialSlotChanged:
    """A printer's material slot changed, published once per real change after the slot records committed.

    ``event``: ``spool_inserted``, ``spool_removed``, ``spool_changed``, ``remain_changed``,
    ``active_slot_changed`` (``slot`` the slot now feeding, None: none; ``from_slot``; ``layer`` printing then) or
    ``spool_low`` (grams left fell below ``materials.low_stock_grams``). ``slot`` is the label (``AMS0-T2``, ``EXT254``,
    ``T0``); ``spool_id`` the inventory spool concerned (for a removal: the one taken out); ``grams_left`` grams
    (None: unknown); ``occurred_at`` aware UTC."""

    name: ClassVar[str] = "material_slot_changed"
    printer_id: str
    event: str
    slot: str | None
    occurred_at: datetime
    spool_id: int | None = None
    material_type: str | None = None
    color: str | None = None
    remaining_pct: int | None = None
    grams_left: float | None = None
    from_slot: str | None = None
    layer: int | None = None

    def data(self) -> dict[str, Any]:
        """The event as JSON-ready values (``occurred_at`` ISO 8601 with offset)."""
        return {
            "printer_id": self.printer_id,
            "event": self.event,
            "slot": self.slot,
            "spool_id": self.spool_id,
            "material_type": self.material_type,
            "color": self.color,
            "remaining_pct": self.remaining_pct,
            "grams_left": self.grams_left,
            "from_slot": self.from_slot,
            "layer": self.layer,
            "occurred_at": self.occurred_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class OrderUpdated:
    """A shop order was received or changed (stored first): its status, problem, shipment or lines."""

    name: ClassVar[str] = "order_updated"
    order: Order


@dataclass(frozen=True, slots=True)
class JobCostRecorded:
    """A job that ended had its filament use charged to its spools and its cost fixed (stored first; once per
    job): ``material_grams`` (g), ``total`` in ``currency``, ``spools`` the spool ids charged."""

    name: ClassVar[str] = "job_cost_recorded"
    job_id: int
    printer_id: str
    material_grams: float
    total: float
    currency: str
    spools: tuple[int, ...] = ()


DomainEvent = (
    PrinterStatusUpdated
    | PrinterRemoved
    | JobAutoCreated
    | JobUpdated
    | FirstLayerDone
    | SettingsUpdated
    | QueueEvent
    | DispatchUpdated
    | PlateCleared
    | MaintenanceDue
    | ClaimReminder
    | PrinterErrorRaised
    | PrinterWentOffline
    | ShopNeedsReconnect
    | ShopPollWanted
    | ScheduledPrintUpdated
    | MaterialSlotChanged
    | OrderUpdated
    | JobCostRecorded
)
