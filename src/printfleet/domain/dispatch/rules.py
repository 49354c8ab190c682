"""Pure rules of dispatching: may this printer take this file now, and is what it reports our print?

Sources: research dispatch-scheduling-orders.md (1a busy guard: Bambu ``IDLE``/``FINISH``/``FAILED`` are valid start
states; 1e side by side; 2a G-code families: X1, X1C, X1E, P1P, P1S share G-code, other models must match).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from printfleet.domain.dispatch.model import FailureReason
from printfleet.domain.files.model import FileKind, FileMetadata
from printfleet.domain.printer import PrinterKind, PrinterState, PrinterStatus

_READY = frozenset({PrinterState.IDLE, PrinterState.FINISHED, PrinterState.FAILED, PrinterState.CANCELLED})

ACCEPTED_KINDS: dict[PrinterKind, frozenset[FileKind]] = {
    PrinterKind.BAMBU: frozenset({FileKind.GCODE_3MF, FileKind.GCODE}),
    PrinterKind.PRUSALINK: frozenset({FileKind.GCODE, FileKind.BGCODE}),
    PrinterKind.OCTOPRINT: frozenset({FileKind.GCODE}),
    PrinterKind.MOONRAKER: frozenset({FileKind.GCODE}),
}
"""File formats each printer kind can print: Bambu runs sliced 3MF (``project_file``) and plain G-code
(``gcode_file``); PrusaLink takes G-code and binary G-code; OctoPrint and Klipper (Moonraker) print text G-code only."""

# Bambu model names as slicers and the printers spell them, folded to one short name. Families that share G-code
# map to the same family key.
_MODEL_ALIASES: dict[str, str] = {
    "x1carbon": "X1C",
    "x1c": "X1C",
    "blp001": "X1C",
    "x1": "X1",
    "blp002": "X1",
    "x1e": "X1E",
    "c13": "X1E",
    "p1p": "P1P",
    "c11": "P1P",
    "p1s": "P1S",
    "c12": "P1S",
    "a1mini": "A1M",
    "n1": "A1M",
    "a1": "A1",
    "n2s": "A1",
    "h2d": "H2D",
    "o1d": "H2D",
    "p2s": "P2S",
}
_FAMILY = {"X1C": "X1", "X1": "X1", "X1E": "X1", "P1P": "X1", "P1S": "X1"}


def bambu_model(name: str | None) -> str | None:
    """A Bambu model name (``"Bambu Lab X1 Carbon"``, ``"X1C"``, ``"C12"``, ``"A1 mini"``) as a short name
    (``"X1C"``, ``"P1S"``, ``"A1M"``), or None when it is not one we know."""
    if not name:
        return None
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    key = key.removeprefix("bambulab")
    return _MODEL_ALIASES.get(key)


def gcode_compatible(sliced_for: str | None, printer_model: str | None) -> bool:
    """Whether G-code sliced for ``sliced_for`` may run on ``printer_model`` (both any spelling
    :func:`bambu_model` reads). Unknown on either side: True (nothing to compare)."""
    a, b = bambu_model(sliced_for), bambu_model(printer_model)
    if a is None or b is None:
        return True
    return _FAMILY.get(a, a) == _FAMILY.get(b, b)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a printer cannot take a file now: ``reason`` and a sentence for a person."""

    reason: FailureReason
    message: str


def readiness(status: PrinterStatus | None) -> Refusal | None:
    """None when the printer can start a print now (connected and idle, or showing how its last print ended);
    else why not (``printer_offline``, ``printer_busy``)."""
    if status is None or status.state is PrinterState.OFFLINE:
        return Refusal(FailureReason.PRINTER_OFFLINE, "The printer is offline.")
    if status.state not in _READY:
        return Refusal(FailureReason.PRINTER_BUSY, f"The printer is {status.state.value}, not ready to print.")
    return None


def compatibility(
    printer_kind: PrinterKind,
    printer_model: str | None,
    file_kind: FileKind,
    metadata: FileMetadata,
    plate: int,
    *,
    force: bool = False,
) -> Refusal | None:
    """None when ``file_kind`` (plate ``plate``) can print on a printer of ``printer_kind`` / ``printer_model``;
    else an ``incompatible`` refusal saying why. A Bambu file sliced for another Bambu model is refused unless
    ``force``."""
    if file_kind not in ACCEPTED_KINDS[printer_kind]:
        names = {FileKind.GCODE_3MF: "a Bambu Lab 3MF", FileKind.GCODE: "G-code", FileKind.BGCODE: "binary G-code"}
        kinds = {
            PrinterKind.BAMBU: "Bambu Lab",
            PrinterKind.PRUSALINK: "PrusaLink",
            PrinterKind.OCTOPRINT: "OctoPrint",
            PrinterKind.MOONRAKER: "Klipper",
        }
        return Refusal(
            FailureReason.INCOMPATIBLE, f"This printer ({kinds[printer_kind]}) cannot print {names[file_kind]}."
        )
    plates = {info.index for info in metadata.plates}
    if plates and plate not in plates:
        return Refusal(FailureReason.INCOMPATIBLE, f"The file has no plate {plate}.")
    if plate != 1 and file_kind is not FileKind.GCODE_3MF:
        return Refusal(FailureReason.INCOMPATIBLE, "A G-code file has one plate.")
    if printer_kind is PrinterKind.BAMBU and not force and not gcode_compatible(metadata.printer_model, printer_model):
        return Refusal(
            FailureReason.INCOMPATIBLE,
            f"The file was sliced for {metadata.printer_model}, not this printer's model ({printer_model}); "
            "send it anyway with options.force.",
        )
    return None


def is_our_print(status: PrinterStatus, *, job_name: str, remote_name: str) -> bool:
    """Whether ``status`` shows our print under way: an active state (preparing, printing, paused) with our job name
    (Bambu ``subtask_name``) or our file (its bare name, or a path ending in it: PrusaLink ``/usb/NAME``,
    OctoPrint ``NAME``)."""
    if not status.state.is_active:
        return False
    if status.job_name and status.job_name in (job_name, remote_name):
        return True
    file_name = (status.file_name or "").rsplit("/", 1)[-1]
    return bool(file_name) and file_name.lower() == remote_name.lower()


PRINTER_CLOCK_SKEW = timedelta(minutes=5)
"""How far a printer's clock may lag ours when its reported print start is compared with when we sent the start."""


class UnseenPrint(enum.Enum):
    """What an ended print on the printer says about a start that printfleet sent but never saw begin."""

    NONE = "none"
    """The printer shows no ended print of our file: nothing to conclude."""
    RAN = "ran"
    """Our print ran (and ended) while printfleet was not watching: adopt it, never start it again."""
    AMBIGUOUS = "ambiguous"
    """An ended print of our file that may be an earlier print of the same file: neither adopt nor start again."""


def unseen_print(
    status: PrinterStatus,
    *,
    job_name: str,
    remote_name: str,
    start_sent_at: datetime,
    earlier_print_of_same_file: bool,
) -> UnseenPrint:
    """After a restart, classify a printer that shows an *ended* print (finished, failed, cancelled) named like ours.

    ``start_sent_at`` is when our last start request went out (aware UTC); ``earlier_print_of_same_file`` whether
    the printer's last print before that, as recorded by the job tracker, had the same file or job name (then the
    ended print shown may be that one). A printer-reported start time settles it when there is one (at or after
    ``start_sent_at`` less :data:`PRINTER_CLOCK_SKEW`: ours; before: the earlier print); current Bambu firmware
    reports none (research dispatch-scheduling-orders.md 1a), so the last recorded print decides.
    """
    if not status.state.is_terminal:
        return UnseenPrint.NONE
    named_ours = bool(status.job_name) and status.job_name in (job_name, remote_name)
    file_name = (status.file_name or "").rsplit("/", 1)[-1]
    if not (named_ours or (bool(file_name) and file_name.lower() == remote_name.lower())):
        return UnseenPrint.NONE
    if status.print_start_time is not None:
        ours = status.print_start_time >= start_sent_at - PRINTER_CLOCK_SKEW
        return UnseenPrint.RAN if ours else UnseenPrint.NONE
    return UnseenPrint.AMBIGUOUS if earlier_print_of_same_file else UnseenPrint.RAN


def remote_file_name(name: str) -> str:
    """The file name to store on the printer for a library file called ``name``: printer-safe characters only
    (letters, digits, ``-``, ``_``, ``.``; PrusaLink refuses others with 400 ``Forbidden Characters``), at most 64
    characters before the extension, the extension lower-case. Sending the same file again overwrites the copy (the
    printer is idle then, so nothing uses it)."""
    lowered = name.lower()
    ext = next((s for s in (".gcode.3mf", ".bgcode", ".gcode") if lowered.endswith(s)), "")
    stem = name[: len(name) - len(ext)] if ext else name
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._") or "print"
    return f"{stem[:64]}{ext}"
