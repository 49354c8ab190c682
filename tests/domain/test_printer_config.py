"""A printer's poll interval: its own when set, else the global setting; Bambu pushes and has none."""

from __future__ import annotations

import pytest

from printfleet.domain.printer import PrinterConfig, PrinterKind, Secret

PRUSA = PrinterConfig(id="mk4", name="MK4", kind=PrinterKind.PRUSALINK, host="h", api_key=Secret("k"))
OCTO = PrinterConfig(id="ender", name="Ender", kind=PrinterKind.OCTOPRINT, url="http://h", api_key=Secret("k"))
BAMBU = PrinterConfig(
    id="x1c", name="X1C", kind=PrinterKind.BAMBU, host="h", serial="s", access_code=Secret("c"), tls_insecure=True
)


def test_no_poll_interval_is_valid_and_means_follow_the_global_setting() -> None:
    for config in (PRUSA, OCTO, BAMBU):
        assert config.poll_interval is None
        assert config.problems() == []


@pytest.mark.parametrize("interval", [0.4, 0.0, -1.0, 3600.5])
def test_an_own_poll_interval_is_checked(interval: float) -> None:
    assert PRUSA.replace(poll_interval=interval).problems() == [
        ("poll_interval", "must be between 0.5 and 3600 seconds")
    ]


def test_the_effective_interval_fills_in_the_global_one_for_polled_printers_only() -> None:
    assert PRUSA.with_default_poll_interval(12.0).poll_interval == 12.0
    assert OCTO.with_default_poll_interval(12.0).poll_interval == 12.0
    own = PRUSA.replace(poll_interval=2.0)
    assert own.with_default_poll_interval(12.0) is own
    assert BAMBU.with_default_poll_interval(12.0) is BAMBU
    assert PRUSA.poll_interval is None  # the printer's own configuration is unchanged
