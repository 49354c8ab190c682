"""A printer's id made from its name: valid for the API, readable, never one already taken."""

from __future__ import annotations

import re

import pytest

from printfleet.domain.printer_ids import printer_id_from_name

VALID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("X1C Left", "x1c-left"),
        ("X1C #2 (Küche)", "x1c-2-kuche"),
        ("  Voron 2.4  ", "voron-2.4"),
        ("Ender_3 -- OctoPrint", "ender_3-octoprint"),
        ("打印机", "printer"),
        ("", "printer"),
        ("a" * 100, "a" * 64),
    ],
)
def test_an_id_is_made_from_the_name(name: str, expected: str) -> None:
    made = printer_id_from_name(name, taken=())
    assert made == expected
    assert VALID.match(made)


def test_an_id_already_taken_gets_a_number() -> None:
    assert printer_id_from_name("MK4", taken={"mk4"}) == "mk4-2"
    assert printer_id_from_name("MK4", taken={"mk4", "mk4-2"}) == "mk4-3"
    long = printer_id_from_name("b" * 80, taken={"b" * 64})
    assert long == "b" * 62 + "-2"
    assert VALID.match(long)
