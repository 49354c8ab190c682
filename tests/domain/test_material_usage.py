"""Filament used by a print and what it cost: the pure rules (printfleet.domain.materials.usage and .costs)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from printfleet.app.materials import plate_estimate
from printfleet.domain.files.threemf import read_3mf
from printfleet.domain.materials.costs import CostRates, CostRow, job_cost, price_per_gram, summed
from printfleet.domain.materials.model import Filament, Spool
from printfleet.domain.materials.tracking import FilamentEstimate, SlotState, UsageSource, UsageTracking
from printfleet.domain.materials.usage import Confidence, PrintOutcome, UsageLine, compute_usage, printed_fraction
from tests.files_samples import bambu_3mf

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)

SLOTS = (
    SlotState(slot="AMS0-T0", spool_id=10, material="PLA", color="FFFFFFFF", remain_pct=100, label_weight_g=1000),
    SlotState(slot="AMS0-T1", spool_id=11, material="PLA", color="000000FF", remain_pct=85, label_weight_g=1000),
    SlotState(slot="AMS0-T2", spool_id=None, material="PETG", color="FF6A13FF"),
    SlotState(slot="AMS0-T3", present=False),
    SlotState(slot="EXT254", present=False),
)
# Plate 1 of a two-plate project with four filaments: it uses filaments 1 and 3 (ids are not contiguous).
PLATE = (
    FilamentEstimate(index=1, grams=22.10, metres=7.41, material="PLA", color="#000000"),
    FilamentEstimate(index=3, grams=4.25, metres=1.33, material="PETG", color="#FF6A13"),
)


def _by_slot(lines: list[UsageLine]) -> dict[str | None, UsageLine]:
    return {line.slot: line for line in lines}


def test_a_completed_print_charges_each_mapped_slot_its_filament_and_no_other_slot() -> None:
    tracking = UsageTracking(estimate=PLATE, mapping=(1, -1, 2, -1), slots=SLOTS, total_layers=100)

    lines = _by_slot(compute_usage(tracking, PrintOutcome(completed=True)))

    assert set(lines) == {"AMS0-T1", "AMS0-T2"}
    assert (lines["AMS0-T1"].spool_id, lines["AMS0-T1"].grams, lines["AMS0-T1"].metres) == (11, 22.10, 7.41)
    assert (lines["AMS0-T2"].spool_id, lines["AMS0-T2"].grams) == (None, 4.25)  # no inventory spool: nothing deducted
    assert {line.confidence for line in lines.values()} == {Confidence.HIGH}
    assert {line.source for line in lines.values()} == {UsageSource.FILE}


def test_a_failed_print_is_charged_for_the_layers_it_printed_not_the_whole_plate() -> None:
    tracking = UsageTracking(estimate=PLATE, mapping=(1, -1, 2), slots=SLOTS, total_layers=100)

    lines = _by_slot(compute_usage(tracking, PrintOutcome(completed=False, progress=0.0, layer=25)))

    assert lines["AMS0-T1"].grams == pytest.approx(22.10 * 0.245, abs=0.01)
    assert lines["AMS0-T2"].grams == pytest.approx(4.25 * 0.245, abs=0.01)


def test_a_cancel_that_reset_progress_to_zero_is_charged_by_the_last_progress_seen() -> None:
    running = UsageTracking(estimate=PLATE[:1], mapping=(1,), slots=SLOTS)
    running = running.seen(active="AMS0-T1", progress=40.0, layer=None)
    running = running.seen(active=None, progress=0.0, layer=0)  # the firmware's reset on cancel

    assert printed_fraction(running, PrintOutcome(completed=False, progress=0.0)) == (0.4, False)
    (line,) = compute_usage(running, PrintOutcome(completed=False, progress=0.0))
    assert line.grams == pytest.approx(8.84)
    assert line.confidence is Confidence.MEDIUM


def test_nothing_known_of_a_failed_print_charges_nothing() -> None:
    tracking = UsageTracking(estimate=PLATE, mapping=(1, -1, 2), slots=SLOTS)
    assert compute_usage(tracking, PrintOutcome(completed=False)) == []


def test_a_single_filament_print_without_mapping_goes_to_the_slot_seen_feeding() -> None:
    tracking = UsageTracking(estimate=(FilamentEstimate(index=1, grams=12.0, material="PLA"),), slots=SLOTS)
    tracking = tracking.seen(active="AMS0-T0", progress=5.0, layer=1)

    (line,) = compute_usage(tracking, PrintOutcome(completed=True))

    assert (line.slot, line.spool_id, line.grams, line.confidence) == ("AMS0-T0", 10, 12.0, Confidence.MEDIUM)


def test_without_mapping_a_multi_filament_print_matches_slots_by_material_and_colour_or_charges_no_spool() -> None:
    black_and_white = (
        FilamentEstimate(index=1, grams=5.0, material="PLA", color="#000000"),
        FilamentEstimate(index=2, grams=3.0, material="PLA", color="#123456"),  # loaded nowhere
    )
    tracking = UsageTracking(estimate=black_and_white, slots=SLOTS)

    lines = _by_slot(compute_usage(tracking, PrintOutcome(completed=True)))

    assert (lines["AMS0-T1"].spool_id, lines["AMS0-T1"].grams) == (11, 5.0)
    assert (lines[None].spool_id, lines[None].grams, lines[None].confidence) == (None, 3.0, Confidence.LOW)
    assert "AMS0-T0" not in lines  # a slot the print did not use is never charged


def test_tool_printers_map_filament_n_to_tool_n_minus_1_and_convert_metres_with_the_spool_density() -> None:
    tools = (
        SlotState(slot="T0", spool_id=3, material="PETG", density_g_cm3=1.27, diameter_mm=1.75),
        SlotState(slot="T1", spool_id=4, material="PLA"),
    )
    estimate = (FilamentEstimate(index=1, metres=2.0), FilamentEstimate(index=2, metres=1.0, material="PLA"))
    lines = _by_slot(compute_usage(UsageTracking(estimate=estimate, slots=tools), PrintOutcome(completed=True)))

    assert lines["T0"].grams == pytest.approx(1.27 * 2.405282 * 2.0, abs=0.01)  # ρ·π(d/2)²·L
    assert lines["T1"].grams == pytest.approx(2.98, abs=0.01)  # PLA's typical 1.24 g/cm³: 2.98 g per metre


def test_without_an_estimate_the_fall_in_remain_is_charged_only_for_slots_seen_feeding() -> None:
    tracking = UsageTracking(slots=SLOTS).seen(active="AMS0-T1", progress=50.0, layer=10)
    now = {
        "AMS0-T0": SlotState(slot="AMS0-T0", spool_id=10, remain_pct=90, label_weight_g=1000),  # not fed: ignored
        "AMS0-T1": SlotState(slot="AMS0-T1", spool_id=11, remain_pct=82, label_weight_g=1000),
    }

    (line,) = compute_usage(tracking, PrintOutcome(completed=True), slots_now=now)

    assert (line.slot, line.spool_id, line.grams) == ("AMS0-T1", 11, 30.0)
    assert (line.source, line.confidence) == (UsageSource.RFID_REMAIN, Confidence.LOW)


def test_the_tracking_survives_its_stored_form() -> None:
    tracking = UsageTracking(
        estimate=PLATE, source=UsageSource.FILE, plate=1, total_layers=100, mapping=(1, -1, 2), slots=SLOTS
    ).seen(active="AMS0-T1", progress=12.5, layer=3)
    assert UsageTracking.from_json(tracking.to_json()) == tracking


def _spool(
    *, price_per_kg: float | None = None, price_per_spool: float | None = None, net: float | None = None
) -> Spool:
    filament = Filament(
        id=1,
        created_at=NOW,
        material="PLA",
        density_g_cm3=1.24,
        price_per_kg=price_per_kg,
        price_per_spool=price_per_spool,
        net_weight_g=net,
    )
    return Spool(id=1, created_at=NOW, filament=filament, filament_id=1, initial_weight_g=1000.0, used_weight_g=900.0)


def test_price_per_gram_divides_by_the_full_spool_never_by_what_is_left() -> None:
    assert price_per_gram(_spool(price_per_kg=25.0)) == 0.025
    assert price_per_gram(_spool(price_per_spool=20.0)) == 0.02  # 1,000 g when full, though 100 g are left
    assert price_per_gram(_spool(price_per_spool=20.0, net=800.0)) == 0.025
    assert price_per_gram(_spool()) is None


def test_a_job_costs_its_material_energy_and_machine_time() -> None:
    lines = [
        UsageLine(slot="AMS0-T1", spool_id=11, grams=22.10),
        UsageLine(slot="AMS0-T2", spool_id=None, grams=4.25),  # no spool: the default price
    ]
    rates = CostRates(currency="EUR", default_price_per_kg=20.0, kwh_price=0.30, average_watts=150.0, hourly_rate=1.5)

    cost = job_cost(lines, prices_per_gram={11: 0.025}, rates=rates, printing_seconds=5400)

    assert cost.material_grams == 26.35
    assert cost.material_cost == pytest.approx(22.10 * 0.025 + 4.25 * 0.020)
    assert (cost.printing_hours, cost.energy_kwh) == (1.5, 0.225)
    assert cost.energy_cost == pytest.approx(0.0675)
    assert cost.machine_cost == 2.25
    assert cost.total == pytest.approx(cost.material_cost + 0.0675 + 2.25)


def test_energy_and_machine_time_are_not_costed_without_a_printer_setting() -> None:
    cost = job_cost([], prices_per_gram={}, rates=CostRates(currency="USD", kwh_price=0.3), printing_seconds=3600)
    assert (cost.energy_kwh, cost.energy_cost, cost.machine_cost, cost.total) == (None, None, None, 0.0)


def test_the_report_total_and_failure_share() -> None:
    rows = [
        CostRow(
            key="a", jobs=2, material_grams=10, material_cost=1, energy_cost=0, machine_cost=1, total=2, failed_total=0
        ),
        CostRow(
            key="b", jobs=1, material_grams=5, material_cost=1, energy_cost=1, machine_cost=0, total=2, failed_total=2
        ),
    ]
    total = summed("total", rows)
    assert (total.jobs, total.total, total.failure_share) == (3, 4, 0.5)
    assert summed("none", []).failure_share is None


def test_a_one_tool_printer_that_measures_its_extrusion_is_charged_what_it_measured_even_when_it_failed() -> None:
    tool = (SlotState(slot="T0", spool_id=7, material="PETG", density_g_cm3=1.27, diameter_mm=1.75),)
    tracking = UsageTracking(slots=tool, estimate=(FilamentEstimate(index=1, grams=50.0, material="PETG"),))
    tracking = tracking.seen(active=None, progress=30.0, layer=None, used_mm=1500.0)
    tracking = tracking.seen(active=None, progress=0.0, layer=None, used_mm=0.0)  # Klipper resets it at the end

    (line,) = compute_usage(tracking, PrintOutcome(completed=False))

    assert (line.slot, line.spool_id, line.source, line.confidence) == ("T0", 7, UsageSource.PRINTER, Confidence.HIGH)
    assert line.grams == pytest.approx(1.27 * 2.405282 * 1.5, abs=0.01)  # measured, not 30 % of the estimate
    assert line.metres == 1.5


def test_the_printers_own_estimate_per_tool_is_used_when_the_file_gave_none_and_scaled_like_one() -> None:
    tools = (SlotState(slot="T0", spool_id=3, material="PLA"), SlotState(slot="T1", spool_id=None))
    tracking = UsageTracking(slots=tools).seen(active=None, progress=50.0, layer=None, estimate_mm=(2000.0, 0.0))

    assert tracking.source is UsageSource.PRINTER
    (line,) = compute_usage(tracking, PrintOutcome(completed=False))

    assert (line.slot, line.spool_id) == ("T0", 3)
    assert line.grams == pytest.approx(2.98 * 2 * 0.5, abs=0.01)
    assert tracking.seen(active=None, progress=60.0, layer=None, estimate_mm=(9.0,)).estimate == tracking.estimate


def test_the_printers_estimate_in_grams_per_tool_is_used_when_the_file_gave_none() -> None:
    tools = (SlotState(slot="T0", spool_id=3, material="PLA"),)
    tracking = UsageTracking(slots=tools).seen(active=None, progress=None, layer=None, estimate_g=(15.42,))

    (line,) = compute_usage(tracking, PrintOutcome(completed=True))

    assert (line.slot, line.spool_id, line.grams, line.source) == ("T0", 3, 15.42, UsageSource.PRINTER)


def test_the_printers_own_mapping_maps_a_print_started_elsewhere_and_ours_comes_first() -> None:
    tracking = UsageTracking(estimate=PLATE, slots=SLOTS).seen(
        active=None, progress=None, layer=None, mapping=(1, -1, 2)
    )
    lines = _by_slot(compute_usage(tracking, PrintOutcome(completed=True)))
    assert (lines["AMS0-T1"].grams, lines["AMS0-T1"].confidence) == (22.10, Confidence.HIGH)
    assert lines["AMS0-T2"].grams == 4.25

    ours = UsageTracking(estimate=PLATE, slots=SLOTS, mapping=(0, -1, 2))
    assert ours.seen(active=None, progress=None, layer=None, mapping=(1, -1, 2)).mapping == (0, -1, 2)
    assert tracking.seen(active=None, progress=None, layer=None, mapping=(-1,)).mapping == (1, -1, 2)


FOUR_FILAMENTS = """<?xml version="1.0" encoding="UTF-8"?>
<config>
  <plate>
    <metadata key="index" value="1"/>
    <metadata key="prediction" value="3600"/>
    <filament id="1" tray_info_idx="GFA00" type="PLA" color="#FFFFFF" used_m="10.00" used_g="30.00"/>
    <filament id="3" tray_info_idx="GFG99" type="PETG" color="#FF6A13" used_m="2.00" used_g="6.00"/>
  </plate>
  <plate>
    <metadata key="index" value="2"/>
    <metadata key="prediction" value="1800"/>
    <filament id="2" tray_info_idx="GFA00" type="PLA" color="#000000" used_m="4.00" used_g="12.00"/>
    <filament id="4" tray_info_idx="GFL99" type="PLA" color="#00AE42" used_m="1.50" used_g="4.50"/>
  </plate>
</config>
"""


def test_of_a_two_plate_project_with_four_filaments_only_the_printed_plates_are_charged() -> None:
    metadata = read_3mf(io.BytesIO(bambu_3mf(slice_info=FOUR_FILAMENTS)))
    tracking = plate_estimate(metadata, 2, mapping=(0, 1, 2, 3))
    assert tracking is not None
    slots = (
        *SLOTS[:3],
        SlotState(slot="AMS0-T3", spool_id=13, material="PLA", color="00AE42FF", remain_pct=40, label_weight_g=1000),
    )
    tracking = UsageTracking(
        estimate=tracking.estimate, mapping=tracking.mapping, slots=slots, total_layers=100, source=UsageSource.FILE
    )

    lines = _by_slot(compute_usage(tracking, PrintOutcome(completed=True)))

    # Filament 2 feeds from slot 1, filament 4 from slot 3; plate 1's filaments 1 and 3 are not charged at all.
    assert {slot: (line.spool_id, line.grams) for slot, line in lines.items()} == {
        "AMS0-T1": (11, 12.00),
        "AMS0-T3": (13, 4.50),
    }
