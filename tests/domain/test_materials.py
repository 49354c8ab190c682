"""The material inventory's rules: units, validation, use and weighing (Spoolman's semantics, in grams)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from printfleet.domain.materials import (
    Filament,
    FilamentFields,
    InvalidMaterial,
    Spool,
    Vendor,
    VendorFields,
    edit_filament,
    grams_from_length,
    length_from_grams,
)
from printfleet.domain.materials import spools as rules
from printfleet.domain.materials.units import default_density

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def _vendor(**changes: object) -> Vendor:
    return replace(Vendor(id=1, created_at=T0, name="Bambu Lab", empty_spool_weight_g=250.0), **changes)


def _filament(**changes: object) -> Filament:
    base = Filament(
        id=2,
        created_at=T0,
        material="PLA",
        density_g_cm3=1.24,
        diameter_mm=1.75,
        net_weight_g=1000.0,
        vendor_id=1,
        vendor=_vendor(),
    )
    return replace(base, **changes)


def _spool(**changes: object) -> Spool:
    base = Spool(id=3, created_at=T0, filament=_filament(), filament_id=2, initial_weight_g=1000.0)
    return replace(base, **changes)


def test_one_metre_of_175_pla_weighs_what_spoolman_adds() -> None:
    # Spoolman v0.26.1: use_length 1000 on a 1.24 g/cm³, 1.75 mm filament added 2.9825 g (research §2.5).
    grams = grams_from_length(1000, density_g_cm3=1.24, diameter_mm=1.75)
    assert grams == pytest.approx(2.9825, abs=1e-4)
    assert length_from_grams(grams, density_g_cm3=1.24, diameter_mm=1.75) == pytest.approx(1000)
    # a 2.85 mm filament weighs (2.85/1.75)² as much per metre
    assert grams_from_length(1000, density_g_cm3=1.24, diameter_mm=2.85) == pytest.approx(grams * (2.85 / 1.75) ** 2)
    with pytest.raises(ValueError, match="density"):
        grams_from_length(1, density_g_cm3=0, diameter_mm=1.75)


def test_default_density_by_material_any_case() -> None:
    assert default_density("petg") == 1.27
    assert default_density("PA-CF") == 1.20
    assert default_density("unobtainium") == 1.24


def test_filament_values_are_normalised_and_bad_ones_name_their_field() -> None:
    checked = FilamentFields(material=" PLA ", density_g_cm3=1.24, color_hex="#ff6a13", name="  ").checked()
    assert (checked.material, checked.color_hex, checked.name) == ("PLA", "FF6A13FF", None)

    cases: list[tuple[dict[str, object], str]] = [
        ({"density_g_cm3": 0.0}, "density_g_cm3"),
        ({"diameter_mm": float("nan")}, "diameter_mm"),
        ({"color_hex": "red"}, "color_hex"),
        ({"price_per_spool": 20.0, "price_per_kg": 25.0}, "price_per_kg"),
        ({"nozzle_temp_min_c": 230, "nozzle_temp_max_c": 190}, "nozzle_temp_max_c"),
        ({"bed_temp_min_c": 700}, "bed_temp_min_c"),
        ({"material": " "}, "material"),
        ({"name": "a\x00b"}, "name"),
    ]
    for changes, field in cases:
        with pytest.raises(InvalidMaterial) as refused:
            replace(FilamentFields(material="PLA", density_g_cm3=1.24), **changes).checked()
        assert refused.value.field == field, changes


def test_editing_a_filament_checks_the_result_not_just_the_change() -> None:
    filament = _filament(nozzle_temp_min_c=190, nozzle_temp_max_c=230)
    with pytest.raises(InvalidMaterial) as refused:
        edit_filament(filament, {"nozzle_temp_min_c": 240})
    assert refused.value.field == "nozzle_temp_max_c"
    with pytest.raises(InvalidMaterial, match="must not be null"):
        edit_filament(filament, {"density_g_cm3": None})
    assert edit_filament(filament, {"vendor_id": None}).vendor_id is None


def test_vendor_name_is_required() -> None:
    with pytest.raises(InvalidMaterial) as refused:
        VendorFields(name="   ").checked()
    assert refused.value.field == "name"


def test_a_new_spool_is_full_of_its_filament_unless_told_otherwise() -> None:
    filament = _filament()
    full = rules.new_spool(filament, {})
    assert (full.filament_id, full.initial_weight_g, full.used_weight_g) == (2, 1000.0, 0.0)

    part = rules.new_spool(filament, {"initial_weight_g": 750, "remaining_weight_g": 500, "location": " Shelf A "})
    assert (part.initial_weight_g, part.used_weight_g, part.location) == (750, 250, "Shelf A")

    for values, field in [
        ({"remaining_weight_g": 10, "used_weight_g": 10}, "remaining_weight_g"),
        ({"remaining_weight_g": 1001}, "remaining_weight_g"),
        ({"tray_uuid": "0" * 32}, "tray_uuid"),
        ({"tray_uuid": "xyz"}, "tray_uuid"),
    ]:
        with pytest.raises(InvalidMaterial) as refused:
            rules.new_spool(filament, values)
        assert refused.value.field == field, values
    with pytest.raises(InvalidMaterial) as refused:
        rules.new_spool(_filament(net_weight_g=None), {})
    assert refused.value.field == "initial_weight_g"
    assert rules.new_spool(filament, {"tray_uuid": "3f6b2e8c1d4a4b7e9c0d11223344aa01"}).tray_uuid == (
        "3F6B2E8C1D4A4B7E9C0D11223344AA01"
    )


def test_editing_remaining_weight_sets_the_used_weight_from_the_initial_weight() -> None:
    spool = _spool(used_weight_g=100.0)
    assert rules.edit_spool(spool, {"remaining_weight_g": 400}).used_weight_g == 600
    assert rules.edit_spool(spool, {"initial_weight_g": 500, "remaining_weight_g": 500}).used_weight_g == 0
    with pytest.raises(InvalidMaterial, match="must not be null"):
        rules.edit_spool(spool, {"archived": None})


def test_use_adds_up_gives_back_never_below_zero_and_records_times() -> None:
    spool = rules.use_weight(_spool(), 30.5, at=T0)
    assert (spool.used_weight_g, spool.remaining_weight_g) == (30.5, 969.5)
    assert spool.first_used_at == spool.last_used_at == T0

    later = T0 + timedelta(hours=1)
    spool = rules.use_weight(spool, -50, at=later)  # a correction larger than the use
    assert spool.used_weight_g == 0.0
    assert (spool.first_used_at, spool.last_used_at) == (T0, later)

    over = rules.use_weight(spool, 1200, at=later)  # over-use is recorded, remaining shows 0
    assert (over.used_weight_g, over.remaining_weight_g) == (1200, 0.0)


def test_use_by_length_converts_with_the_filament() -> None:
    spool = rules.use_length(_spool(), 10_000, at=T0)
    assert spool.used_weight_g == pytest.approx(29.825, abs=1e-3)
    assert rules.remaining_length_mm(_spool()) == pytest.approx(1000 / 2.9825 * 1000, rel=1e-4)


def test_measure_takes_the_tare_off_the_gross_weight() -> None:
    # Spoolman: gross 1100 with tare 250 on a 1000 g spool -> used 150 (research §3.2, verified).
    weighed = rules.measure(_spool(), 1100, at=T0)
    assert (weighed.used_weight_g, weighed.remaining_weight_g, weighed.last_used_at) == (150, 850, T0)

    # the spool's own tare wins over the filament's and the vendor's
    assert rules.measure(_spool(spool_weight_g=200.0), 1100, at=T0).used_weight_g == 100
    assert rules.measure(_spool(filament=_filament(empty_spool_weight_g=150.0)), 1100, at=T0).used_weight_g == 50

    # heavier than recorded: the net becomes the initial weight
    fuller = rules.measure(_spool(used_weight_g=300.0), 1300, at=T0)
    assert (fuller.initial_weight_g, fuller.used_weight_g) == (1050, 0)

    # a weighing showing less use than recorded lowers the use without touching the use times
    back = rules.measure(_spool(used_weight_g=300.0), 1100, at=T0)
    assert (back.used_weight_g, back.last_used_at) == (150, None)


def test_measure_without_a_known_tare_is_refused() -> None:
    spool = _spool(filament=_filament(vendor=_vendor(empty_spool_weight_g=None)))
    with pytest.raises(InvalidMaterial) as refused:
        rules.measure(spool, 900, at=T0)
    assert refused.value.field == "spool_weight_g"


def test_price_per_gram_uses_the_full_spool_never_the_remaining_weight() -> None:
    assert rules.price_per_gram(_spool(filament=_filament(price_per_kg=25.0))) == pytest.approx(0.025)
    half_used = _spool(filament=_filament(price_per_spool=20.0), used_weight_g=500.0)
    assert rules.price_per_gram(half_used) == pytest.approx(0.02)
    assert rules.price_per_gram(_spool()) is None
