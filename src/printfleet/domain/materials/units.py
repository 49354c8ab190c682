"""Filament units: grams are canonical; lengths convert through the filament's density and diameter.

A filament of density ρ (g/cm³) and diameter d (mm) weighs, over a length L (mm)::

    g = ρ · π · (d / 2)² · L / 1000

(``π · (d/2)² · L`` is a volume in mm³; ``/ 1000`` turns it into cm³.) 1 m of 1.75 mm PLA at 1.24 g/cm³ weighs
2.9825 g, as Spoolman's ``PUT /spool/{id}/use {"use_length": 1000}`` adds (research materials-notifications.md
§2.5, verified on Spoolman v0.26.1).
"""

from __future__ import annotations

import math

MM3_PER_CM3 = 1000.0

DEFAULT_DENSITIES: dict[str, float] = {
    "PLA": 1.24,
    "PLA-CF": 1.29,
    "PETG": 1.27,
    "ABS": 1.04,
    "ASA": 1.07,
    "TPU": 1.21,
    "PA": 1.14,
    "PA-CF": 1.20,
    "PC": 1.20,
    "PVA": 1.23,
    "HIPS": 1.04,
    "PP": 0.90,
    "PET": 1.38,
}
"""Typical densities in g/cm³ by material, for filaments whose maker gives none (research
materials-notifications.md §2.5)."""

FALLBACK_DENSITY = 1.24
"""g/cm³ for a material not in :data:`DEFAULT_DENSITIES` (PLA's)."""


def default_density(material: str) -> float:
    """The typical density (g/cm³) of ``material`` (any case, e.g. ``"petg"``), else PLA's 1.24."""
    return DEFAULT_DENSITIES.get(material.strip().upper(), FALLBACK_DENSITY)


def cross_section_mm2(diameter_mm: float) -> float:
    """The area of a filament's cross-section, mm², for a diameter in mm."""
    return math.pi * (diameter_mm / 2.0) ** 2


def grams_from_length(length_mm: float, *, density_g_cm3: float, diameter_mm: float) -> float:
    """Grams of ``length_mm`` millimetres of filament of ``density_g_cm3`` and ``diameter_mm``.

    Negative lengths give negative grams (a correction). Raises ValueError for a density or diameter ≤ 0."""
    _check_positive(density_g_cm3, diameter_mm)
    return density_g_cm3 * cross_section_mm2(diameter_mm) * length_mm / MM3_PER_CM3


def length_from_grams(grams: float, *, density_g_cm3: float, diameter_mm: float) -> float:
    """Millimetres of filament of ``density_g_cm3`` and ``diameter_mm`` that weigh ``grams``.

    Raises ValueError for a density or diameter ≤ 0."""
    _check_positive(density_g_cm3, diameter_mm)
    return grams * MM3_PER_CM3 / (density_g_cm3 * cross_section_mm2(diameter_mm))


def _check_positive(density_g_cm3: float, diameter_mm: float) -> None:
    if not density_g_cm3 > 0 or not diameter_mm > 0:
        raise ValueError("density and diameter must be greater than 0")
