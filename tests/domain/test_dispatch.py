"""Pure rules of dispatching: readiness, compatibility, recognising our print, printer-safe file names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from printfleet.domain.dispatch.model import FailureReason
from printfleet.domain.dispatch.rules import (
    UnseenPrint,
    bambu_model,
    compatibility,
    gcode_compatible,
    is_our_print,
    readiness,
    remote_file_name,
    unseen_print,
)
from printfleet.domain.files.model import FileKind, FileMetadata, PlateInfo
from printfleet.domain.printer import OfflineReason, PrinterKind, PrinterState, PrinterStatus

TWO_PLATES = FileMetadata(printer_model="Bambu Lab X1 Carbon", plates=(PlateInfo(index=1), PlateInfo(index=2)))


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (PrinterState.IDLE, None),
        (PrinterState.FINISHED, None),
        (PrinterState.FAILED, None),
        (PrinterState.CANCELLED, None),
        (PrinterState.PREPARING, FailureReason.PRINTER_BUSY),
        (PrinterState.PRINTING, FailureReason.PRINTER_BUSY),
        (PrinterState.PAUSED, FailureReason.PRINTER_BUSY),
        (PrinterState.ERROR, FailureReason.PRINTER_BUSY),
    ],
)
def test_a_printer_is_ready_when_idle_or_showing_how_its_last_print_ended(
    state: PrinterState, reason: FailureReason | None
) -> None:
    refusal = readiness(PrinterStatus(state=state))
    assert (refusal.reason if refusal else None) is reason


def test_an_offline_or_unknown_printer_is_not_ready() -> None:
    offline = readiness(PrinterStatus.offline(OfflineReason.UNREACHABLE))
    assert offline is not None
    assert offline.reason is FailureReason.PRINTER_OFFLINE
    unknown = readiness(None)
    assert unknown is not None
    assert unknown.reason is FailureReason.PRINTER_OFFLINE


@pytest.mark.parametrize(
    ("printer", "kind", "ok"),
    [
        (PrinterKind.BAMBU, FileKind.GCODE_3MF, True),
        (PrinterKind.BAMBU, FileKind.GCODE, True),
        (PrinterKind.BAMBU, FileKind.BGCODE, False),
        (PrinterKind.PRUSALINK, FileKind.GCODE_3MF, False),
        (PrinterKind.PRUSALINK, FileKind.BGCODE, True),
        (PrinterKind.OCTOPRINT, FileKind.BGCODE, False),
        (PrinterKind.OCTOPRINT, FileKind.GCODE, True),
    ],
)
def test_each_kind_takes_its_formats(printer: PrinterKind, kind: FileKind, ok: bool) -> None:
    refusal = compatibility(printer, None, kind, FileMetadata(), 1)
    assert (refusal is None) is ok
    if refusal is not None:
        assert refusal.reason is FailureReason.INCOMPATIBLE


def test_plates_must_exist_and_gcode_has_one() -> None:
    assert compatibility(PrinterKind.BAMBU, None, FileKind.GCODE_3MF, TWO_PLATES, 2) is None
    missing = compatibility(PrinterKind.BAMBU, None, FileKind.GCODE_3MF, TWO_PLATES, 3)
    assert missing is not None
    assert "plate 3" in missing.message
    assert compatibility(PrinterKind.PRUSALINK, None, FileKind.GCODE, FileMetadata(), 2) is not None


def test_a_bambu_file_for_another_model_is_refused_unless_forced() -> None:
    refusal = compatibility(PrinterKind.BAMBU, "A1 mini", FileKind.GCODE_3MF, TWO_PLATES, 1)
    assert refusal is not None
    assert "options.force" in refusal.message
    assert compatibility(PrinterKind.BAMBU, "A1 mini", FileKind.GCODE_3MF, TWO_PLATES, 1, force=True) is None
    # X1, X1C, X1E, P1P and P1S share G-code; an unknown model cannot be compared.
    assert compatibility(PrinterKind.BAMBU, "P1S", FileKind.GCODE_3MF, TWO_PLATES, 1) is None
    assert compatibility(PrinterKind.BAMBU, None, FileKind.GCODE_3MF, TWO_PLATES, 1) is None


@pytest.mark.parametrize(
    ("name", "short"),
    [
        ("Bambu Lab X1 Carbon", "X1C"),
        ("X1C", "X1C"),
        ("C12", "P1S"),
        ("A1 mini", "A1M"),
        ("Bambu Lab A1", "A1"),
        ("H2D", "H2D"),
        ("MK4S", None),
        ("", None),
    ],
)
def test_bambu_model_names_fold_to_one_spelling(name: str, short: str | None) -> None:
    assert bambu_model(name) == short


def test_gcode_families() -> None:
    assert gcode_compatible("Bambu Lab X1 Carbon", "P1P")
    assert not gcode_compatible("Bambu Lab A1", "A1 mini")
    assert not gcode_compatible("H2D", "X1C")


def test_our_print_is_recognised_by_job_name_or_file() -> None:
    printing = PrinterStatus(state=PrinterState.PRINTING, file_name="/data/Metadata/plate_1.gcode", job_name="cube")
    assert is_our_print(printing, job_name="cube", remote_name="cube.gcode.3mf")
    prusa = PrinterStatus(state=PrinterState.PRINTING, file_name="/usb/CUBE~1.BGC", job_name="cube.bgcode")
    assert is_our_print(prusa, job_name="cube", remote_name="cube.bgcode")
    octo = PrinterStatus(state=PrinterState.PREPARING, file_name="cube.gcode")
    assert is_our_print(octo, job_name="x", remote_name="cube.gcode")
    other = PrinterStatus(state=PrinterState.PRINTING, file_name="other.gcode", job_name="other")
    assert not is_our_print(other, job_name="cube", remote_name="cube.gcode")
    ended = PrinterStatus(state=PrinterState.FINISHED, file_name="cube.gcode", job_name="cube")
    assert not is_our_print(ended, job_name="cube", remote_name="cube.gcode")


def test_remote_file_names_are_printer_safe() -> None:
    assert remote_file_name("Benchy (v2) final.gcode.3mf") == "Benchy_v2_final.gcode.3mf"
    assert remote_file_name("part.BGCODE") == "part.bgcode"
    assert remote_file_name("日本.gcode") == "print.gcode"
    assert len(remote_file_name("x" * 300 + ".gcode")) == 64 + len(".gcode")


SENT = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def _unseen(status: PrinterStatus, *, earlier_same: bool = False) -> UnseenPrint:
    return unseen_print(
        status,
        job_name="cube",
        remote_name="cube.gcode.3mf",
        start_sent_at=SENT,
        earlier_print_of_same_file=earlier_same,
    )


def test_a_print_of_ours_that_ended_while_nobody_watched_ran() -> None:
    finished = PrinterStatus(state=PrinterState.FINISHED, job_name="cube")
    assert _unseen(finished) is UnseenPrint.RAN
    failed = PrinterStatus(state=PrinterState.FAILED, file_name="/sdcard/cube.gcode.3mf")
    assert _unseen(failed) is UnseenPrint.RAN


def test_an_ended_print_of_the_same_file_printed_just_before_may_be_that_one() -> None:
    finished = PrinterStatus(state=PrinterState.FINISHED, job_name="cube")
    assert _unseen(finished, earlier_same=True) is UnseenPrint.AMBIGUOUS


def test_a_printer_reported_start_time_settles_which_print_ended() -> None:
    ours = PrinterStatus(state=PrinterState.FINISHED, job_name="cube", print_start_time=SENT + timedelta(seconds=20))
    assert _unseen(ours, earlier_same=True) is UnseenPrint.RAN
    skewed = PrinterStatus(state=PrinterState.FINISHED, job_name="cube", print_start_time=SENT - timedelta(minutes=2))
    assert _unseen(skewed, earlier_same=True) is UnseenPrint.RAN  # the printer's clock may lag a little
    before = PrinterStatus(state=PrinterState.FINISHED, job_name="cube", print_start_time=SENT - timedelta(hours=2))
    assert _unseen(before) is UnseenPrint.NONE


def test_idle_active_or_other_prints_say_nothing_about_ours() -> None:
    assert _unseen(PrinterStatus(state=PrinterState.IDLE)) is UnseenPrint.NONE
    assert _unseen(PrinterStatus(state=PrinterState.PRINTING, job_name="cube")) is UnseenPrint.NONE
    assert _unseen(PrinterStatus(state=PrinterState.FINISHED, job_name="bracket")) is UnseenPrint.NONE
