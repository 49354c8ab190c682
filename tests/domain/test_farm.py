"""The farm at a glance: buckets, needs-attention order and natural name order."""

from __future__ import annotations

import random

import pytest

from printfleet.domain.farm import ATTENTION, Bucket, attention_rank, bucket, counts, natural_key
from printfleet.domain.printer import OfflineReason, PrinterState, PrinterStatus


def test_printer_names_sort_naturally_not_by_character() -> None:
    names = ["Ender 3 #10", "Ender 3 #2", "ender 3 #1", "Ender 3 #11", "MK4", "A1 mini", "Ender 3 #100"]
    assert sorted(names, key=natural_key) == [
        "A1 mini",
        "ender 3 #1",
        "Ender 3 #2",
        "Ender 3 #10",
        "Ender 3 #11",
        "Ender 3 #100",
        "MK4",
    ]


def test_natural_order_of_thirty_shuffled_names() -> None:
    names = [f"X1C #{number}" for number in range(1, 31)]
    shuffled = names[:]
    random.Random(7).shuffle(shuffled)
    assert sorted(shuffled, key=natural_key) == names


@pytest.mark.parametrize(
    ("first", "second"),
    [("#2", "#10"), ("a9b", "a10a"), ("Printer", "Printer 2"), ("2 X1C", "X1C"), ("", "a"), ("Bay 1-2", "Bay 1-10")],
)
def test_natural_key_pairs(first: str, second: str) -> None:
    assert natural_key(first) < natural_key(second)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, Bucket.OFFLINE),
        (PrinterStatus.offline(OfflineReason.UNREACHABLE), Bucket.OFFLINE),
        (PrinterStatus(state=PrinterState.ERROR), Bucket.ERROR),
        (PrinterStatus(state=PrinterState.FAILED, plate_needs_clearing=True), Bucket.FAILED),
        (PrinterStatus(state=PrinterState.FINISHED, plate_needs_clearing=True), Bucket.PLATE),
        (PrinterStatus(state=PrinterState.FINISHED), Bucket.READY),
        (PrinterStatus(state=PrinterState.CANCELLED), Bucket.READY),
        (PrinterStatus(state=PrinterState.IDLE), Bucket.IDLE),
        (PrinterStatus(state=PrinterState.PREPARING), Bucket.PRINTING),
        (PrinterStatus(state=PrinterState.PRINTING, plate_needs_clearing=True), Bucket.PRINTING),
        (PrinterStatus(state=PrinterState.PAUSED), Bucket.PAUSED),
    ],
)
def test_each_printer_is_in_the_bucket_an_operator_expects(status: PrinterStatus | None, expected: Bucket) -> None:
    assert bucket(status) is expected


def test_needs_attention_sorts_first_and_idle_last() -> None:
    ordered = sorted(Bucket, key=attention_rank)
    assert tuple(ordered[: len(ATTENTION)]) == ATTENTION
    assert all(value.needs_attention for value in ATTENTION)
    assert not Bucket.PRINTING.needs_attention
    assert ordered[-1] is Bucket.IDLE


def test_counts_name_every_bucket() -> None:
    found = counts([Bucket.PRINTING, Bucket.PRINTING, Bucket.OFFLINE])
    assert found[Bucket.PRINTING] == 2
    assert found[Bucket.OFFLINE] == 1
    assert found[Bucket.PAUSED] == 0
    assert set(found) == set(Bucket)
