"""Hints between a farm's processes: each change named once, packed under PostgreSQL's payload limit, read back, and
anything malformed refused with the reason."""

from __future__ import annotations

import json

import pytest

from printfleet.domain.announcements import MAX_PAYLOAD_BYTES, Hint, HintKind, decode, encode, hint_of
from printfleet.domain.events import PrinterStatusUpdated, QueueUpdated, SettingsUpdated, ShopPollWanted
from printfleet.domain.printer import OfflineReason, PrinterConfig, PrinterKind, PrinterStatus


def test_hints_round_trip_each_once_in_order() -> None:
    hints = [Hint(HintKind.JOB, "12"), Hint(HintKind.SETTINGS), Hint(HintKind.JOB, "12"), Hint(HintKind.PRINTER, "x1")]

    payloads = encode("host:1:ab", hints)

    assert len(payloads) == 1
    assert decode(payloads[0]) == ("host:1:ab", [Hint(HintKind.JOB, "12"), Hint(HintKind.SETTINGS), hints[3]])


def test_many_hints_are_split_into_payloads_postgres_takes() -> None:
    hints = [Hint(HintKind.JOB, str(job_id)) for job_id in range(5_000)]

    payloads = encode("host:1:ab", hints)

    assert len(payloads) > 1
    assert all(len(payload.encode()) <= MAX_PAYLOAD_BYTES for payload in payloads)
    assert max(len(payload.encode()) for payload in payloads) > MAX_PAYLOAD_BYTES - 50  # packed, not one per hint
    assert [hint for payload in payloads for hint in decode(payload)[1]] == hints


def test_nothing_to_say_sends_nothing() -> None:
    assert encode("host:1:ab", []) == []


def test_a_key_too_long_for_a_hint_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 200"):
        Hint(HintKind.PRINTER, "p" * 201)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"h": []}), "'from'"),
        (json.dumps({"from": "a", "h": "job"}), "'h'"),
        (json.dumps({"from": "a", "h": [["job"]]}), "pair"),
        (json.dumps({"from": "a", "h": [["spaceship", "1"]]}), "unknown hint kind 'spaceship'"),
    ],
)
def test_a_malformed_payload_is_refused_with_the_reason(payload: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        decode(payload)


def test_which_events_are_announced() -> None:
    printer = PrinterConfig(id="mk4-1", name="MK4", kind=PrinterKind.PRUSALINK, host="127.0.0.1")

    assert hint_of(SettingsUpdated(settings={})) == Hint(HintKind.SETTINGS)
    assert hint_of(QueueUpdated(reason="paused")) == Hint(HintKind.QUEUE, "")
    # a shop's webhook reaches whichever process: the one that polls the shop hears it
    assert hint_of(ShopPollWanted(shop="etsy")) == Hint(HintKind.SHOP, "etsy")
    # every process has its own connection to each printer: their statuses are not announced
    assert hint_of(PrinterStatusUpdated(printer=printer, status=PrinterStatus.offline(OfflineReason.TIMEOUT))) is None
