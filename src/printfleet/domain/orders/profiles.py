"""Product profiles: how a product sold in a shop is printed, and which profile an order line matches.

A profile matches lines by Etsy listing id plus SKU, or listing id plus a set of variation values, or listing id
alone (the listing's default). Etsy's ``product_id`` is never a key: it changes whenever the listing's inventory is
edited (research dispatch-scheduling-orders.md 4.5). A profile's print plan is a list of parts (a library file and
plate, how many units one plate makes, the material); plates needed per part = ceil(quantity ÷ units per plate).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from dataclasses import dataclass, fields

from printfleet.domain.orders.model import IncomingLine, Order, OrderLine, Variation, normalise
from printfleet.domain.schedule.model import PrintSpeed


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfilePart:
    """One part of a product: ``file_id`` (library file) and ``plate`` (1-based), ``units_per_plate`` ≥ 1 units
    one plate makes, and the material: ``material_type`` ("PLA"), ``material_color`` (``#RRGGBB`` or a name), or
    ``color_from_variation``, the name of the buyer's variation whose value is the colour ("Color")."""

    file_id: int
    plate: int = 1
    units_per_plate: int = 1
    material_type: str | None = None
    material_color: str | None = None
    color_from_variation: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileDraft:
    """A product profile as a person writes it.

    Match rule: ``listing_id`` (required) with ``sku``, or with ``variations`` (every one must be among the line's;
    compared after :func:`~printfleet.domain.orders.model.normalise`), or alone. Print plan: ``parts`` (at least
    one). Print settings: ``nozzle_temp``/``bed_temp`` (°C), ``print_speed``; where: ``printer_id`` or ``model``
    (neither: any compatible printer); ``priority`` (higher first, 0..3). ``allow_personalisation``: lines with the
    buyer's personalisation may be printed (else they need a person)."""

    name: str
    listing_id: str
    parts: tuple[ProfilePart, ...]
    sku: str | None = None
    variations: tuple[Variation, ...] = ()
    printer_id: str | None = None
    model: str | None = None
    priority: int = 0
    nozzle_temp: float | None = None
    bed_temp: float | None = None
    print_speed: PrintSpeed | None = None
    allow_personalisation: bool = False
    notes: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductProfile(ProfileDraft):
    """A stored product profile (``id``)."""

    id: int


MAX_PRIORITY = 3
"""The highest priority a profile may give (0 low … 3 urgent, the scheduler's scale)."""


def profile_problem(draft: ProfileDraft) -> str | None:
    """Why ``draft`` cannot be stored (a sentence naming the field), or None when it can."""
    if not draft.name.strip():
        return "name: must not be empty"
    if not draft.listing_id.strip():
        return "listing_id: must not be empty"
    if not draft.parts:
        return "parts: a profile prints at least one part"
    for index, part in enumerate(draft.parts, start=1):
        if part.units_per_plate < 1:
            return f"parts[{index}].units_per_plate: must be at least 1"
        if part.plate < 1:
            return f"parts[{index}].plate: plates count from 1"
    if draft.sku and draft.variations:
        return "match by SKU or by variations, not both"
    if not 0 <= draft.priority <= MAX_PRIORITY:
        return f"priority: must be between 0 and {MAX_PRIORITY}"
    return None


def _specificity(profile: ProductProfile) -> int:
    if profile.sku:
        return 3
    if profile.variations:
        return 2
    return 1


def matches(profile: ProductProfile, line: IncomingLine) -> bool:
    """Whether ``profile``'s match rule covers ``line`` (same listing, and its SKU or all its variations)."""
    if line.listing_id is None or normalise(profile.listing_id) != normalise(line.listing_id):
        return False
    if profile.sku:
        return line.sku is not None and normalise(profile.sku) == normalise(line.sku)
    if profile.variations:
        chosen = {variation.key() for variation in line.variations}
        return all(variation.key() in chosen for variation in profile.variations)
    return True


def match_profile(line: IncomingLine, profiles: Iterable[ProductProfile]) -> ProductProfile | None:
    """The profile for ``line``: among those that match, the most specific (SKU, then the most variations, then the
    listing default), the oldest (lowest id) on a tie; None when none matches."""
    found = [profile for profile in profiles if matches(profile, line)]
    if not found:
        return None
    return min(found, key=lambda p: (-_specificity(p), -len(p.variations), p.id))


@dataclass(frozen=True, slots=True)
class Trial:
    """An order line a profile's match rule covers: ``chosen`` when that profile would print it, else ``taken_by``,
    the more specific profile that would."""

    order: Order
    line: OrderLine
    chosen: bool
    taken_by: ProductProfile | None = None


_TRIED = 2**62
"""The id a rule being tried takes: above every stored one, so on a tie a stored profile keeps its lines."""


def try_rule(draft: ProfileDraft, orders: Iterable[Order], profiles: Iterable[ProductProfile]) -> list[Trial]:
    """The lines of ``orders`` that ``draft``'s rule covers, in the orders' order, and for each whether it would
    print them beside the stored ``profiles`` (see :func:`match_profile`; the draft counts as the newest)."""
    candidate = ProductProfile(id=_TRIED, **{field.name: getattr(draft, field.name) for field in fields(draft)})
    stored = [profile for profile in profiles if profile.id != _TRIED]
    found: list[Trial] = []
    for order in orders:
        for line in order.lines:
            if matches(candidate, line):
                chosen = match_profile(line, [*stored, candidate])
                taken_by = chosen if chosen is not None and chosen.id != _TRIED else None
                found.append(Trial(order=order, line=line, chosen=taken_by is None, taken_by=taken_by))
    return found


def plates_needed(quantity: int, units_per_plate: int) -> int:
    """Plates to print for ``quantity`` units when one plate makes ``units_per_plate`` (ceil; 7 at 4 a plate → 2)."""
    if units_per_plate < 1:
        raise ValueError("units_per_plate must be at least 1")
    return math.ceil(max(quantity, 0) / units_per_plate)


def line_problem(line: IncomingLine, profile: ProductProfile | None) -> str | None:
    """Why ``line`` cannot be printed as it stands (None when it can): no profile matches, or the buyer asked for a
    personalisation the profile cannot print."""
    if profile is None:
        return "no product profile matches this line"
    if line.personalisation and not profile.allow_personalisation:
        return f"personalisation requested; the profile {profile.name!r} does not allow it"
    return None


def part_color(part: ProfilePart, line: IncomingLine) -> str | None:
    """The colour ``part`` is printed in for ``line``: its fixed colour, or the value of the buyer's variation it
    names (HTML entities resolved), or None."""
    if part.color_from_variation:
        wanted = normalise(part.color_from_variation)
        for variation in line.variations:
            if normalise(variation.name) == wanted:
                return " ".join(html.unescape(variation.value).split()) or None
        return None
    return part.material_color
