"""A printer card says when printfleet is sending the printer a print, in the viewer's language."""

from __future__ import annotations

import pytest

from printfleet.domain.printer import PrinterConfig, PrinterKind, PrinterState, PrinterStatus, Secret
from printfleet.web.pages import renderer

CONFIG = PrinterConfig(id="mk4", name="MK4", kind=PrinterKind.PRUSALINK, host="127.0.0.1", api_key=Secret("k"))


@pytest.mark.parametrize(
    ("locale", "step", "text"),
    [
        ("en", "uploading", "Sending a print: uploading…"),
        ("en", "starting", "Sending a print: starting…"),
        ("de", "uploading", "Druck wird gesendet: wird hochgeladen…"),
    ],
)
def test_the_card_shows_the_step_of_the_print_being_sent(locale: str, step: str, text: str) -> None:
    status = PrinterStatus(state=PrinterState.IDLE, sending=step)
    html = renderer().render("_printer_card.html", locale, printer=CONFIG, status=status, oob="")
    assert text in html


def test_nothing_is_said_when_nothing_is_sent() -> None:
    html = renderer().render(
        "_printer_card.html", "en", printer=CONFIG, status=PrinterStatus(state=PrinterState.IDLE), oob=""
    )
    assert "Sending a print" not in html
