"""Does a printer have the material a print needs loaded, with enough of it? A pure check for the scheduler.

A print needs one or more filaments (:class:`MaterialNeed`: material type, colour, grams for the plate). A printer's
slots say what is loaded (:class:`SlotStock`: material, colour, grams left). :func:`check_loaded` answers whether
every need is met by a slot of its own: the same material type (any case; ``PLA`` is not ``PLA-CF``), the same colour
(``RRGGBB``, alpha ignored; within ``color_tolerance`` as RGB distance 0-441) when the need names one, and at least
the grams needed. Needs of the same material and colour add up in one slot (two plate filaments printed from one
spool). Grams left that are unknown (an untagged spool nobody weighed) do not count as enough unless
``unknown_grams_ok``.

Example::

    >>> stock = [SlotStock(slot="AMS0-T0", material="PLA", color="000000FF", grams_left=240.0)]
    >>> check_loaded(stock, [MaterialNeed(material="pla", color="000000", grams=120)]).ok
    True
    >>> check_loaded(stock, [MaterialNeed(material="PLA", color="000000", grams=300)]).missing[0].reason.value
    'not_enough'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True, kw_only=True)
class MaterialNeed:
    """A filament a print needs: ``material`` type (``PLA``, ``PETG`` ...), ``color`` ``RRGGBB``/``RRGGBBAA`` (None:
    any colour), ``grams`` for the plate (≥ 0)."""

    material: str
    grams: float
    color: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotStock:
    """What one slot holds: ``slot`` label, ``material`` type and ``color`` (None: empty or unknown), ``grams_left``
    (None: unknown)."""

    slot: str
    material: str | None
    color: str | None = None
    grams_left: float | None = None


class Shortfall(StrEnum):
    """Why a need is not met: no slot holds the material (``not_loaded``), only in another colour
    (``wrong_color``), not enough grams left (``not_enough``), or the grams left are unknown (``unknown_amount``)."""

    NOT_LOADED = "not_loaded"
    WRONG_COLOR = "wrong_color"
    NOT_ENOUGH = "not_enough"
    UNKNOWN_AMOUNT = "unknown_amount"


@dataclass(frozen=True, slots=True, kw_only=True)
class Missing:
    """A need not met, why, and the best slot there was (None: none of that material)."""

    need: MaterialNeed
    reason: Shortfall
    closest: SlotStock | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedCheck:
    """The answer: ``ok`` when every need is met; ``slots`` the slot chosen per need (in the needs' order; None
    where not met); ``missing`` the needs not met."""

    slots: tuple[SlotStock | None, ...] = ()
    missing: tuple[Missing, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when every need is met."""
        return not self.missing


def _rgb(color: str | None) -> tuple[int, int, int] | None:
    if color is None:
        return None
    text = color.strip().lstrip("#")
    if len(text) not in (6, 8):
        return None
    try:
        return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
    except ValueError:
        return None


def _same_color(need: str | None, loaded: str | None, tolerance: float) -> bool:
    wanted = _rgb(need)
    if wanted is None:
        return need is None
    have = _rgb(loaded)
    return have is not None and math.dist(wanted, have) <= tolerance


def _key(need: MaterialNeed) -> tuple[str, tuple[int, int, int] | None]:
    return need.material.strip().upper(), _rgb(need.color)


def check_loaded(
    stock: Iterable[SlotStock],
    needs: Sequence[MaterialNeed],
    *,
    color_tolerance: float = 0.0,
    unknown_grams_ok: bool = False,
) -> LoadedCheck:
    """Whether ``stock`` (a printer's slots) meets every one of ``needs`` (see the module). Each distinct material and
    colour is served by one slot, the one with the most grams left; two different needs never share a slot."""
    slots = [slot for slot in stock if slot.material]
    groups: dict[tuple[str, tuple[int, int, int] | None], list[int]] = {}
    for position, need in enumerate(needs):
        groups.setdefault(_key(need), []).append(position)
    chosen: list[SlotStock | None] = [None] * len(needs)
    missing: list[Missing] = []
    taken: set[str] = set()
    for (material, _), positions in groups.items():
        first = needs[positions[0]]
        grams = sum(needs[position].grams for position in positions)
        same_material = [s for s in slots if (s.material or "").strip().upper() == material and s.slot not in taken]
        matching = [s for s in same_material if _same_color(first.color, s.color, color_tolerance)]
        best = max(matching, key=lambda s: -1.0 if s.grams_left is None else s.grams_left, default=None)
        reason: Shortfall | None = None
        if not same_material:
            reason = Shortfall.NOT_LOADED
        elif best is None:
            reason = Shortfall.WRONG_COLOR
        elif best.grams_left is None:
            reason = None if unknown_grams_ok else Shortfall.UNKNOWN_AMOUNT
        elif best.grams_left < grams:
            reason = Shortfall.NOT_ENOUGH
        if reason is not None:
            closest = best or (same_material[0] if same_material else None)
            missing.extend(Missing(need=needs[p], reason=reason, closest=closest) for p in positions)
            continue
        assert best is not None
        taken.add(best.slot)
        for position in positions:
            chosen[position] = best
    return LoadedCheck(slots=tuple(chosen), missing=tuple(missing))
