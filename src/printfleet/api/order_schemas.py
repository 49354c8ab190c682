"""Wire shapes of ``/api/v1/orders`` and ``/api/v1/product-profiles``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from printfleet.api.costs import CostSumsPublic
from printfleet.api.schedule_schemas import ScheduledPrintPublic
from printfleet.domain.materials.costs import CostRow
from printfleet.domain.orders.model import (
    IncomingLine,
    IncomingOrder,
    Order,
    OrderLine,
    OrderPrint,
    OrderSource,
    OrderStatus,
    Variation,
)
from printfleet.domain.orders.planning import Progress
from printfleet.domain.orders.profiles import ProductProfile, ProfileDraft, ProfilePart
from printfleet.domain.schedule.model import PrintSpeed
from printfleet.services.orders import OrderView
from printfleet.services.schedule.service import Shown

NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
Short = Annotated[str, Field(min_length=1, max_length=120, pattern=NO_CONTROL)]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=NO_CONTROL)]
Text = Annotated[str, Field(max_length=2000)]


class VariationBody(BaseModel):
    """One option the buyer chose, e.g. ``{"name": "Colour", "value": "Red"}``."""

    model_config = ConfigDict(extra="forbid")

    name: Short
    value: Annotated[str, Field(min_length=1, max_length=200, pattern=NO_CONTROL)]


class PartBody(BaseModel):
    """A part of a product: a library file's plate, the units one plate makes, the material (a fixed colour, or the
    buyer's variation that names it)."""

    model_config = ConfigDict(extra="forbid")

    file_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    plate: Annotated[int, Field(ge=1, le=100)] = 1
    units_per_plate: Annotated[int, Field(ge=1, le=10_000)] = 1
    material_type: Annotated[str, Field(min_length=1, max_length=32, pattern=NO_CONTROL)] | None = None
    material_color: Annotated[str, Field(min_length=1, max_length=32, pattern=NO_CONTROL)] | None = None
    color_from_variation: Short | None = None


class ProfileBody(BaseModel):
    """``POST``/``PUT /api/v1/product-profiles``: the match rule (``listing_id`` with ``sku``, or with
    ``variations``, or alone), the parts, where and how to print, and whether personalised lines may print."""

    model_config = ConfigDict(extra="forbid")

    name: Short
    listing_id: Id
    parts: Annotated[list[PartBody], Field(min_length=1, max_length=20)]
    sku: Short | None = None
    variations: Annotated[list[VariationBody], Field(max_length=10)] = []
    printer_id: Id | None = None
    model: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_CONTROL)] | None = None
    priority: Annotated[int, Field(ge=0, le=3)] = 0
    nozzle_temp: Annotated[float, Field(ge=0, le=350, allow_inf_nan=False)] | None = None
    bed_temp: Annotated[float, Field(ge=0, le=150, allow_inf_nan=False)] | None = None
    print_speed: PrintSpeed | None = None
    allow_personalisation: bool = False
    notes: Text | None = None

    def to_domain(self) -> ProfileDraft:
        """The domain value."""
        return ProfileDraft(
            name=self.name,
            listing_id=self.listing_id,
            parts=tuple(ProfilePart(**part.model_dump()) for part in self.parts),
            sku=self.sku,
            variations=tuple(Variation(v.name, v.value) for v in self.variations),
            printer_id=self.printer_id,
            model=self.model,
            priority=self.priority,
            nozzle_temp=self.nozzle_temp,
            bed_temp=self.bed_temp,
            print_speed=self.print_speed,
            allow_personalisation=self.allow_personalisation,
            notes=self.notes,
        )


class VariationPublic(BaseModel):
    """A variation."""

    name: str
    value: str


class ProfilePublic(ProfileBody):
    """A stored product profile."""

    model_config = ConfigDict(extra="ignore")

    id: int

    @classmethod
    def from_domain(cls, profile: ProductProfile) -> ProfilePublic:
        """From the domain value."""
        return cls(
            id=profile.id,
            name=profile.name,
            listing_id=profile.listing_id,
            parts=[
                PartBody(
                    file_id=part.file_id,
                    plate=part.plate,
                    units_per_plate=part.units_per_plate,
                    material_type=part.material_type,
                    material_color=part.material_color,
                    color_from_variation=part.color_from_variation,
                )
                for part in profile.parts
            ],
            sku=profile.sku,
            variations=[VariationBody(name=v.name, value=v.value) for v in profile.variations],
            printer_id=profile.printer_id,
            model=profile.model,
            priority=profile.priority,
            nozzle_temp=profile.nozzle_temp,
            bed_temp=profile.bed_temp,
            print_speed=profile.print_speed,
            allow_personalisation=profile.allow_personalisation,
            notes=profile.notes,
        )


class ProfileList(BaseModel):
    """Every product profile, by name."""

    profiles: list[ProfilePublic]


class LineBody(BaseModel):
    """A line of a manual order."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=255, pattern=NO_CONTROL)]
    quantity: Annotated[int, Field(ge=1, le=10_000)] = 1
    listing_id: Id | None = None
    sku: Short | None = None
    variations: Annotated[list[VariationBody], Field(max_length=10)] = []
    personalisation: Text | None = None


class OrderCreate(BaseModel):
    """``POST /api/v1/orders``: an order typed in (source ``manual``); ``external_id`` (e.g. the shop's order
    number) makes a second post of it update the first."""

    model_config = ConfigDict(extra="forbid")

    lines: Annotated[list[LineBody], Field(min_length=1, max_length=100)]
    buyer_name: Annotated[str, Field(max_length=200, pattern=NO_CONTROL)] | None = None
    external_id: Id | None = None
    ship_by: AwareDatetime | None = None
    paid: bool = True

    def to_domain(self, now: datetime) -> IncomingOrder:
        """The domain value, received at ``now``."""
        return IncomingOrder(
            source=OrderSource.MANUAL,
            external_id=self.external_id,
            buyer_name=self.buyer_name,
            created_at=now,
            paid_at=now if self.paid else None,
            is_paid=self.paid,
            ship_by=self.ship_by,
            lines=tuple(
                IncomingLine(
                    external_id=str(index),
                    title=line.title,
                    quantity=line.quantity,
                    listing_id=line.listing_id,
                    sku=line.sku,
                    variations=tuple(Variation(v.name, v.value) for v in line.variations),
                    personalisation=line.personalisation or None,
                )
                for index, line in enumerate(self.lines, start=1)
            ),
        )


class OrderUpdate(BaseModel):
    """``PATCH /api/v1/orders/{id}``: the fields sent change; null clears one."""

    model_config = ConfigDict(extra="forbid")

    buyer_name: Annotated[str, Field(max_length=200, pattern=NO_CONTROL)] | None = None
    ship_by: AwareDatetime | None = None
    notes: Text | None = None


class ScheduleBody(BaseModel):
    """``POST /api/v1/orders/{id}/schedule`` (and the compatible ``POST /api/orders/{order_id}/schedule-prints``):
    print on ``printer_id`` (else each profile's printer or model), in ``material_type``, ``start_offset_minutes``
    between chained prints."""

    model_config = ConfigDict(extra="forbid")

    printer_id: Id | None = None
    material_type: Annotated[str, Field(min_length=1, max_length=32, pattern=NO_CONTROL)] | None = None
    start_offset_minutes: Annotated[int, Field(ge=0, le=7 * 24 * 60)] = 0


class ShipBody(BaseModel):
    """``POST /api/v1/orders/{id}/ship``: the tracking code and carrier, when there is one."""

    model_config = ConfigDict(extra="forbid")

    tracking_code: Annotated[str, Field(min_length=1, max_length=120, pattern=NO_CONTROL)] | None = None
    carrier: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_CONTROL)] | None = None


class LinePublic(BaseModel):
    """A line with the profile it matched and what keeps it from printing (``problem``)."""

    id: int
    external_id: str | None
    title: str
    quantity: int
    listing_id: str | None
    sku: str | None
    variations: list[VariationPublic]
    personalisation: str | None
    expected_ship_date: datetime | None
    profile_id: int | None
    problem: str | None

    @classmethod
    def from_domain(cls, line: OrderLine) -> LinePublic:
        """From the domain value."""
        return cls(
            id=line.id,
            external_id=line.external_id,
            title=line.title,
            quantity=line.quantity,
            listing_id=line.listing_id,
            sku=line.sku,
            variations=[VariationPublic(name=v.name, value=v.value) for v in line.variations],
            personalisation=line.personalisation,
            expected_ship_date=line.expected_ship_date,
            profile_id=line.profile_id,
            problem=line.problem,
        )


class OrderPublic(BaseModel):
    """An order (no address is kept)."""

    id: int
    source: OrderSource
    external_id: str | None
    buyer_name: str | None
    status: OrderStatus
    problem: str | None
    created_at: datetime
    updated_at: datetime
    paid_at: datetime | None
    ship_by: datetime | None
    tracking_code: str | None
    carrier: str | None
    shipped_at: datetime | None
    notes: str | None
    lines: list[LinePublic]

    @classmethod
    def from_domain(cls, order: Order) -> OrderPublic:
        """From the domain value."""
        return cls(
            id=order.id,
            source=order.source,
            external_id=order.external_id,
            buyer_name=order.buyer_name,
            status=order.status,
            problem=order.problem,
            created_at=order.created_at,
            updated_at=order.updated_at,
            paid_at=order.paid_at,
            ship_by=order.ship_by,
            tracking_code=order.tracking_code,
            carrier=order.carrier,
            shipped_at=order.shipped_at,
            notes=order.notes,
            lines=[LinePublic.from_domain(line) for line in order.lines],
        )


class PlatePublic(BaseModel):
    """A plate of a line and one print of it (``attempt`` 2 and up are reprints)."""

    line_id: int
    part_index: int
    plate_index: int
    attempt: int
    scheduled_print: ScheduledPrintPublic | None

    @classmethod
    def from_domain(cls, link: OrderPrint, shown: Shown | None) -> PlatePublic:
        """From a link and its scheduled print as shown (None when it is gone)."""
        return cls(
            line_id=link.line_id,
            part_index=link.part_index,
            plate_index=link.plate_index,
            attempt=link.attempt,
            scheduled_print=ScheduledPrintPublic.from_domain(shown) if shown is not None else None,
        )


class ProgressPublic(BaseModel):
    """Plates printed of those needed, and how many failed without a reprint."""

    printed: int
    needed: int
    failed: int

    @classmethod
    def from_domain(cls, done: Progress) -> ProgressPublic:
        """From the domain value."""
        return cls(printed=done.printed, needed=done.needed, failed=len(done.failed))


class OrderCostPublic(CostSumsPublic):
    """What an order's prints cost so far: every ended print of it, reprints and failed plates included, as fixed
    when each ended."""

    currency: str
    prints: int = Field(description="Ended prints counted.")

    @classmethod
    def from_domain(cls, row: CostRow, currency: str) -> OrderCostPublic:
        """From the usage service's row for the order."""
        return cls(currency=currency, prints=row.jobs, **cls.sums(row))


class OrderDetail(OrderPublic):
    """An order with its plates, progress and cost (null until one of its prints ended)."""

    plates: list[PlatePublic]
    progress: ProgressPublic
    cost: OrderCostPublic | None = None

    @classmethod
    def from_view(cls, view: OrderView, cost: OrderCostPublic | None = None) -> OrderDetail:
        """From the service's view and the order's cost."""
        base = OrderPublic.from_domain(view.order).model_dump()
        return cls(
            **base,
            plates=[PlatePublic.from_domain(link, shown) for link, shown in view.prints],
            progress=ProgressPublic.from_domain(view.progress),
            cost=cost,
        )


class OrderList(BaseModel):
    """A page of orders (ship-by soonest first) and the total."""

    orders: list[OrderPublic]
    total: int


class ImportResult(BaseModel):
    """What a CSV import did: orders ``created`` and ``updated``, and the rows refused with their reason."""

    created: int
    updated: int
    errors: list[str]
