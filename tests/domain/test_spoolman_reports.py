"""Reporting usage to Spoolman once: when a report whose answer was lost counts as delivered, and the back-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from printfleet.domain.materials.spoolman import (
    ReportState,
    SpoolmanReport,
    already_applied,
    mirror_of,
    retry_delay,
    rfid_tag,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _report(*, grams: float = 22.1, baseline: float | None = 100.0, uncertain: bool = True) -> SpoolmanReport:
    return SpoolmanReport(
        id=1,
        job_id=7,
        spool_id=3,
        spoolman_id=9,
        grams=grams,
        state=ReportState.PENDING,
        attempts=1,
        baseline_g=baseline,
        uncertain=uncertain,
        next_attempt_at=NOW,
    )


def test_a_lost_answer_counts_as_delivered_only_when_the_spool_grew_by_the_grams_since_the_baseline() -> None:
    assert already_applied(_report(), 122.1)
    assert already_applied(_report(), 130.0)  # and more, used by someone else meanwhile
    assert not already_applied(_report(), 100.0)  # Spoolman failed before applying it: send again
    assert not already_applied(_report(), 110.0)


def test_nothing_counts_as_delivered_without_an_uncertain_attempt_and_its_baseline() -> None:
    assert not already_applied(_report(uncertain=False), 122.1)
    assert not already_applied(_report(baseline=None), 122.1)


def test_a_negative_report_gives_filament_back_and_spoolman_clamps_at_zero() -> None:
    assert already_applied(_report(grams=-5.0, baseline=3.0), 0.0)
    assert not already_applied(_report(grams=-5.0, baseline=30.0), 30.0)


def test_retries_double_up_to_the_maximum() -> None:
    initial, maximum = timedelta(seconds=10), timedelta(minutes=10)
    delays = [retry_delay(n, initial=initial, maximum=maximum) for n in (1, 2, 3, 7, 1000)]
    assert delays == [timedelta(seconds=10), timedelta(seconds=20), timedelta(seconds=40), maximum, maximum]


SPOOL = {
    "id": 12,
    "initial_weight": None,
    "used_weight": 150.5,
    "location": "shelf 3",
    "archived": False,
    "extra": {"tag": '"95558f0a1b2c3d4e5f60718293a4b5c6"'},
    "filament": {
        "name": "PETG HF",
        "material": "PETG",
        "density": 1.27,
        "diameter": 1.75,
        "weight": 1000.0,
        "spool_weight": 250.0,
        "price": 24.0,
        "color_hex": "ff6a13",
        "vendor": {"name": "Bambu Lab"},
    },
}


def test_a_spoolman_spool_becomes_a_printfleet_spool_with_its_filament_and_rfid_tag() -> None:
    mirrored = mirror_of(SPOOL)

    assert mirrored is not None
    assert (mirrored.spoolman_id, mirrored.vendor_name) == (12, "Bambu Lab")
    assert (mirrored.filament.material, mirrored.filament.color_hex) == ("PETG", "FF6A13FF")
    assert (mirrored.filament.price_per_spool, mirrored.filament.net_weight_g) == (24.0, 1000.0)
    assert mirrored.spool_values["initial_weight_g"] == 1000.0  # the filament's full weight
    assert mirrored.spool_values["used_weight_g"] == 150.5
    assert mirrored.spool_values["tray_uuid"] == "95558F0A1B2C3D4E5F60718293A4B5C6"


def test_a_spool_printfleet_cannot_keep_is_left_out_and_a_bad_tag_is_ignored() -> None:
    assert mirror_of({**SPOOL, "filament": {**SPOOL["filament"], "density": None}}) is None  # type: ignore[dict-item]
    assert mirror_of({"id": "12"}) is None
    assert rfid_tag({"tag": "95558F0A1B2C3D4E5F60718293A4B5C6"}) is None  # not JSON-encoded: Spoolman refuses it
    assert rfid_tag({"tag": '"0000000000000000000000000000000"'}) is None
    assert rfid_tag(None) is None
