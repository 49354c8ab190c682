"""Printer cards and job details never show NaN or infinity: a reading that is not a number shows as ``—``."""

from __future__ import annotations

import math

import pytest

from printfleet.domain.printer import PrinterConfig, PrinterKind, PrinterState, PrinterStatus, Secret
from printfleet.web.pages import renderer


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_a_card_shows_a_dash_for_a_reading_that_is_not_a_number(bad: float) -> None:
    config = PrinterConfig(id="p1", name="P1", kind=PrinterKind.PRUSALINK, host="127.0.0.1", api_key=Secret("k"))
    status = PrinterStatus(state=PrinterState.PRINTING, progress=bad, nozzle_temp=bad, bed_temp=21.0)
    html = renderer().render("_printer_card.html", "en", printer=config, status=status, oob="")
    assert "NaN" not in html
    assert "∞" not in html
    assert 'value="nan"' not in html
    assert 'value="inf"' not in html
    assert '<span class="pct">—</span>' in html
    assert 'value="0"' in html
