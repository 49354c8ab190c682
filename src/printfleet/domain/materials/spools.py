"""What happens to a spool: created, edited, filament used from it, weighed.

Rules follow Spoolman's (research materials-notifications.md §3.2, verified on v0.26.1), in grams:

- **use** adds to ``used_weight_g`` and never takes it below 0: a negative amount gives filament back (a correction),
  at most down to "unused"; there is no upper clamp, so over-use is recorded and ``remaining_weight_g`` shows 0.
  Using sets ``first_used_at`` (once) and ``last_used_at``. Lengths convert with the filament's density and diameter.
- **measure** takes a gross weighing (spool with filament, grams): net = gross − tare, and ``used = initial − net``;
  a net above the initial weight makes it the new initial weight (the spool was fuller than recorded). Without a
  known tare (spool, filament or vendor) a weighing cannot be read and is refused.
- On create or edit, a spool's state is given as ``remaining_weight_g`` or ``used_weight_g``, never both; a new spool
  without either is full, and without ``initial_weight_g`` takes its filament's ``net_weight_g``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from datetime import datetime
from typing import Any

from printfleet.domain.materials.model import WEIGHT_MAX_G, Filament, InvalidMaterial, Spool, SpoolFields, check_number
from printfleet.domain.materials.units import grams_from_length, length_from_grams

SPOOL_FIELD_NAMES = frozenset(field.name for field in fields(SpoolFields))
"""The names a person may set on a spool, besides ``remaining_weight_g``."""


def spool_fields(spool: SpoolFields) -> SpoolFields:
    """The settable part of ``spool`` (a stored :class:`Spool` loses its id, times and filament)."""
    return SpoolFields(**{name: getattr(spool, name) for name in SPOOL_FIELD_NAMES})


def _apply(base: SpoolFields, values: Mapping[str, Any]) -> SpoolFields:
    unknown = set(values) - SPOOL_FIELD_NAMES - {"remaining_weight_g"}
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidMaterial(name, f"{name} is not a spool field")
    if values.get("remaining_weight_g") is not None and values.get("used_weight_g") is not None:
        raise InvalidMaterial("remaining_weight_g", "give remaining_weight_g or used_weight_g, not both")
    changed = replace(base, **{name: value for name, value in values.items() if name in SPOOL_FIELD_NAMES})
    remaining = check_number(values.get("remaining_weight_g"), "remaining_weight_g", maximum=WEIGHT_MAX_G)
    if remaining is not None:
        if remaining > changed.initial_weight_g:
            raise InvalidMaterial("remaining_weight_g", "remaining_weight_g must not exceed initial_weight_g")
        changed = replace(changed, used_weight_g=changed.initial_weight_g - remaining)
    return changed.checked()


def new_spool(filament: Filament, values: Mapping[str, Any]) -> SpoolFields:
    """The spool to add for ``filament`` from ``values`` (:class:`SpoolFields` names and ``remaining_weight_g``;
    None or absent: the default). Raises InvalidMaterial naming the field: no initial weight known, both remaining and
    used given, a remaining weight above the initial weight, or a value out of range."""
    initial = values.get("initial_weight_g")
    if initial is None:
        initial = filament.net_weight_g
    if initial is None:
        raise InvalidMaterial("initial_weight_g", "give initial_weight_g: the filament has no net_weight_g")
    base = SpoolFields(filament_id=filament.id, initial_weight_g=initial)
    given = {name: value for name, value in values.items() if value is not None and name != "initial_weight_g"}
    given.pop("filament_id", None)
    return _apply(base, given)


def edit_spool(spool: Spool, changes: Mapping[str, Any]) -> SpoolFields:
    """``spool`` with ``changes`` applied (names of :class:`SpoolFields` and ``remaining_weight_g``, which sets the
    used weight from the — possibly changed — initial weight). Raises InvalidMaterial naming the field."""
    for name in ("initial_weight_g", "used_weight_g", "archived", "filament_id"):
        if name in changes and changes[name] is None:
            raise InvalidMaterial(name, f"{name} must not be null")
    return _apply(spool_fields(spool), changes)


def use_weight(spool: Spool, grams: float, *, at: datetime) -> Spool:
    """``spool`` after ``grams`` were used from it (negative: given back): ``used_weight_g`` grows, never below 0;
    ``first_used_at`` is set once and ``last_used_at`` to ``at``. Raises InvalidMaterial (``use_weight``) for a
    non-finite amount."""
    check_number(grams, "use_weight", minimum=-WEIGHT_MAX_G, maximum=WEIGHT_MAX_G)
    return replace(
        spool,
        used_weight_g=max(spool.used_weight_g + grams, 0.0),
        first_used_at=spool.first_used_at or at,
        last_used_at=at,
    )


def use_length(spool: Spool, length_mm: float, *, at: datetime) -> Spool:
    """``spool`` after ``length_mm`` millimetres were used, converted to grams with its filament's density and
    diameter (see :mod:`printfleet.domain.materials.units`), then as :func:`use_weight`."""
    check_number(length_mm, "use_length", minimum=-1e9, maximum=1e9)
    return use_weight(spool, grams_of(spool, length_mm), at=at)


def measure(spool: Spool, gross_g: float, *, at: datetime) -> Spool:
    """``spool`` after weighing it at ``gross_g`` grams (spool and filament): net = gross − tare; above the initial
    weight the net becomes the initial weight and nothing is used; otherwise ``used = initial − net`` (a net below 0
    leaves nothing remaining). A weighing that shows more use moves ``last_used_at``. Raises InvalidMaterial:
    ``weight`` out of range, or ``spool_weight_g`` when no tare is known (spool, filament or vendor)."""
    check_number(gross_g, "weight", maximum=WEIGHT_MAX_G)
    tare = spool.tare_g
    if tare is None:
        raise InvalidMaterial(
            "spool_weight_g", "the empty spool weight is unknown: set spool_weight_g on the spool or its filament"
        )
    net = gross_g - tare
    if net > spool.initial_weight_g:
        return replace(spool, initial_weight_g=net, used_weight_g=0.0)
    used = spool.initial_weight_g - net
    if used > spool.used_weight_g:
        return use_weight(spool, used - spool.used_weight_g, at=at)
    return replace(spool, used_weight_g=used)


def grams_of(spool: Spool, length_mm: float) -> float:
    """Grams of ``length_mm`` millimetres of ``spool``'s filament."""
    filament = spool.filament
    return grams_from_length(length_mm, density_g_cm3=filament.density_g_cm3, diameter_mm=filament.diameter_mm)


def remaining_length_mm(spool: Spool) -> float:
    """Millimetres of filament left on ``spool``."""
    filament = spool.filament
    return length_from_grams(
        spool.remaining_weight_g, density_g_cm3=filament.density_g_cm3, diameter_mm=filament.diameter_mm
    )


def price_per_gram(spool: Spool) -> float | None:
    """What a gram of ``spool``'s filament costs (configured currency): the filament's ``price_per_kg`` / 1000, else
    its ``price_per_spool`` over the full spool's net weight (the filament's ``net_weight_g``, else the spool's initial
    weight; never the remaining weight, research §4 pitfalls); None when no price is known."""
    filament = spool.filament
    if filament.price_per_kg is not None:
        return filament.price_per_kg / 1000.0
    if filament.price_per_spool is not None:
        net = filament.net_weight_g or spool.initial_weight_g
        return filament.price_per_spool / net if net > 0 else None
    return None
