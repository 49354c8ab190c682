"""What a print cost: material, energy and machine time, fixed when the job ends (research materials-notifications.md
§4, the costing table and its pitfalls).

- **Material**: Σ grams × the spool's price per gram. The price per gram of a spool is its filament's
  ``price_per_kg`` ÷ 1000, else ``price_per_spool`` ÷ the full spool's net grams (the filament's ``net_weight_g``,
  else the spool's ``initial_weight_g``) — never ÷ the grams left, which would make a spool dearer as it empties
  (the OctoPrint-CostEstimation pitfall). Grams of no known spool, or of an unpriced one, cost the configured default
  price per kg.
- **Energy**: the printer's average power (W) × printing hours ÷ 1000 = kWh, × the price per kWh.
- **Machine time**: the printer's hourly rate × printing hours (wear, depreciation: what users ask for in Cura#9261,
  bambuddy#694).

The result is a snapshot (:class:`JobCost`): later price edits do not rewrite it (Bambuddy#1378).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from printfleet.domain.materials.model import Spool
from printfleet.domain.materials.usage import UsageLine


@dataclass(frozen=True, slots=True, kw_only=True)
class CostRates:
    """The prices a job is costed at: ``currency`` (ISO 4217, ``EUR``), ``default_price_per_kg`` for grams of no
    priced spool, ``kwh_price`` per kWh (None: energy not costed), the printer's ``average_watts`` (W; None: energy
    not costed) and ``hourly_rate`` per printing hour (None: machine time not costed)."""

    currency: str
    default_price_per_kg: float = 0.0
    kwh_price: float | None = None
    average_watts: float | None = None
    hourly_rate: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobCost:
    """A job's cost snapshot, in ``currency``, each part rounded to 0.0001: ``material_grams`` (g) and
    ``material_cost``; ``energy_kwh`` and ``energy_cost`` (None: not costed); ``machine_cost`` (None: not costed);
    ``printing_hours`` (h); ``total`` = the parts that are known, added."""

    currency: str
    material_grams: float
    material_cost: float
    printing_hours: float
    energy_kwh: float | None = None
    energy_cost: float | None = None
    machine_cost: float | None = None

    @property
    def total(self) -> float:
        """Material + energy + machine time (unknown parts as 0)."""
        return round(self.material_cost + (self.energy_cost or 0.0) + (self.machine_cost or 0.0), 4)


def price_per_gram(spool: Spool) -> float | None:
    """The spool's price per gram in the configured currency, or None when its filament has no price (see the
    module)."""
    filament = spool.filament
    if filament.price_per_kg is not None:
        return filament.price_per_kg / 1000.0
    if filament.price_per_spool is not None:
        full = filament.net_weight_g or spool.initial_weight_g
        return filament.price_per_spool / full if full else None
    return None


def week_of(moment: datetime) -> date:
    """The Monday (UTC) of the week ``moment`` (aware) falls in: the key of the report's weekly groups."""
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def job_cost(
    lines: Sequence[UsageLine],
    *,
    prices_per_gram: Mapping[int, float | None],
    rates: CostRates,
    printing_seconds: float,
) -> JobCost:
    """The cost of a job that used ``lines``, priced with ``prices_per_gram`` (spool id → price per gram, None:
    unpriced) and ``rates``, over ``printing_seconds`` seconds of printing (negative counts as 0)."""
    default = rates.default_price_per_kg / 1000.0
    material = 0.0
    for line in lines:
        price = prices_per_gram.get(line.spool_id) if line.spool_id is not None else None
        material += line.grams * (price if price is not None else default)
    hours = max(printing_seconds, 0.0) / 3600.0
    kwh = rates.average_watts * hours / 1000.0 if rates.average_watts is not None else None
    energy = kwh * rates.kwh_price if kwh is not None and rates.kwh_price is not None else None
    machine = rates.hourly_rate * hours if rates.hourly_rate is not None else None
    return JobCost(
        currency=rates.currency,
        material_grams=round(sum(line.grams for line in lines), 2),
        material_cost=round(material, 4),
        printing_hours=round(hours, 4),
        energy_kwh=round(kwh, 4) if kwh is not None else None,
        energy_cost=round(energy, 4) if energy is not None else None,
        machine_cost=round(machine, 4) if machine is not None else None,
    )


class CostGrouping(StrEnum):
    """How the costs report groups jobs: by printer id, by the materials a job used (``PETG+PLA``), by the job's
    business flag (``business``/``personal``), by its customer (``customer_info.name``; ``""``: none), by outcome
    (``completed``, ``failed``, ``cancelled``, ``unknown``), or by the week it ended (the Monday that starts it, UTC,
    ``2026-11-30``)."""

    PRINTER = "printer"
    MATERIAL = "material"
    BUSINESS = "business"
    CUSTOMER = "customer"
    OUTCOME = "outcome"
    WEEK = "week"


FAILED_OUTCOMES = frozenset({"failed", "cancelled"})
"""Outcomes whose cost is the failure cost."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CostRow:
    """One group of the costs report: ``key`` (a printer id, ``PLA``, ``business``, ``failed``, ``2026-11-30``),
    how many ``jobs``, their grams (g), material, energy and machine cost, ``total``, and ``failed_total`` (the part of
    ``total`` from failed and cancelled jobs)."""

    key: str
    jobs: int
    material_grams: float
    material_cost: float
    energy_cost: float
    machine_cost: float
    total: float
    failed_total: float

    @property
    def failure_share(self) -> float | None:
        """``failed_total`` ÷ ``total`` (0-1), None when nothing was spent."""
        return round(self.failed_total / self.total, 4) if self.total > 0 else None


def summed(key: str, rows: Sequence[CostRow]) -> CostRow:
    """``rows`` added into one row named ``key``."""
    return CostRow(
        key=key,
        jobs=sum(row.jobs for row in rows),
        material_grams=round(sum(row.material_grams for row in rows), 2),
        material_cost=round(sum(row.material_cost for row in rows), 4),
        energy_cost=round(sum(row.energy_cost for row in rows), 4),
        machine_cost=round(sum(row.machine_cost for row in rows), 4),
        total=round(sum(row.total for row in rows), 4),
        failed_total=round(sum(row.failed_total for row in rows), 4),
    )
