"""How a simulated Bambu printer obeys a start command: find the file on its SD card and plan the print.

A real printer reads the uploaded file from its SD card: for ``project_file`` the 3MF named by ``url`` and the
plate G-code named by ``param``; for ``gcode_file`` the G-code at the absolute path in ``param`` (OpenBambuAPI
``mqtt.md``; research dispatch-scheduling-orders.md 1a). A file that is not there, or a 3MF without that plate, is
not printed (the firmware shows an HMS error such as ``0500_4003`` "unable to parse file"; the simulator only logs
it). The print takes the slicer's predicted time (``slice_info.config`` ``prediction`` of that plate; the G-code
header's estimate) divided by the simulator's ``speed_factor``, at least ``min_print_s``.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from printfleet.domain.files.gcode import read_gcode
from printfleet.domain.files.model import FileMetadata, NotPrintable
from printfleet.domain.files.threemf import read_3mf, sliced_plates

__all__ = ["Pacing", "PlannedPrint", "StartIgnored", "plan_start", "stem"]

_URL_PREFIXES = ("ftp:///", "ftp://", "file:///sdcard/", "file:///mnt/sdcard/", "file:///", "file://")
_PATH_PREFIXES = ("/sdcard/", "/mnt/sdcard/", "sdcard/", "/")


class StartIgnored(Exception):
    """The printer does not start this command; ``str()`` says why (for the simulator's log)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Pacing:
    """How long simulated prints take: predicted seconds / ``speed_factor``, at least ``min_print_s``;
    ``default_duration_s`` when the file gives no prediction (or the printer has no SD card to read it from)."""

    speed_factor: float = 60.0
    min_print_s: float = 1.0
    default_duration_s: float = 60.0

    def duration_s(self, predicted_s: float | None) -> float:
        """Seconds the simulated print takes for a file predicted to take ``predicted_s`` seconds."""
        if predicted_s is None or predicted_s <= 0:
            return self.default_duration_s
        return max(self.min_print_s, predicted_s / max(self.speed_factor, 1e-9))


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedPrint:
    """A print the printer will run: ``gcode_file`` and ``subtask_name`` as it reports them, its ids (strings, as
    the command sent them; ``"0"`` when it sent none), ``duration_s`` seconds, ``total_layers``."""

    gcode_file: str
    subtask_name: str
    duration_s: float
    total_layers: int
    task_id: str = "0"
    subtask_id: str = "0"
    project_id: str = "0"


def stem(file_name: str) -> str:
    """The base name without ``.gcode.3mf``/``.3mf``/``.gcode``: what the printer shows as ``subtask_name``."""
    name = file_name.rsplit("/", 1)[-1]
    for suffix in (".gcode.3mf", ".3mf", ".gcode"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _relative(reference: str, prefixes: tuple[str, ...]) -> str:
    for prefix in prefixes:
        if reference.startswith(prefix):
            return reference[len(prefix) :]
    return reference


def _on_card(root: Path, relative: str) -> Path:
    parts = [part for part in PurePosixPath(relative).parts if part not in ("/", ".")]
    if not parts or ".." in parts:
        raise StartIgnored(f"not a file on the SD card: {relative!r}")
    path = root.joinpath(*parts)
    if not path.is_file():
        raise StartIgnored(f"no such file on the SD card: {relative!r}")
    return path


def _plate(param: Any) -> int:
    text = str(param or "")
    prefix, suffix = "Metadata/plate_", ".gcode"
    number = text[len(prefix) : -len(suffix)] if text.startswith(prefix) and text.endswith(suffix) else ""
    if not number.isdigit() or int(number) < 1:
        raise StartIgnored(f"param does not name a plate's G-code: {text!r}")
    return int(number)


def _id(value: Any) -> str:
    return str(value) if isinstance(value, str | int) and str(value) else "0"


def _three_mf(path: Path, plate: int) -> FileMetadata:
    try:
        with path.open("rb") as handle:
            with zipfile.ZipFile(handle) as archive:
                plates = sliced_plates(archive)
            if plate not in plates:
                raise StartIgnored(f"{path.name} has no G-code for plate {plate}")
            handle.seek(0)
            return read_3mf(handle)
    except (zipfile.BadZipFile, NotPrintable, OSError, ValueError) as exc:
        raise StartIgnored(f"unable to parse {path.name}: {exc}") from None


def plan_start(body: dict[str, Any], *, sd_root: Path | None, pacing: Pacing) -> PlannedPrint:
    """The print a ``project_file`` or ``gcode_file`` request ``body`` starts on a printer whose SD card is
    ``sd_root`` (None: a printer without one, which takes any file name at ``pacing.default_duration_s``).

    Raises :class:`StartIgnored` when there is no such file or plate, or the request names none.
    """
    command = body.get("command")
    if command == "project_file":
        relative = _relative(str(body.get("url") or body.get("file") or ""), _URL_PREFIXES).lstrip("/")
        plate = _plate(body.get("param"))
    elif command == "gcode_file":
        relative = _relative(str(body.get("param") or ""), _PATH_PREFIXES)
        plate = 1
    else:
        raise StartIgnored(f"not a start command: {command!r}")
    if not relative:
        raise StartIgnored("the command names no file")
    predicted: float | None = None
    layers: int | None = None
    if sd_root is not None:
        path = _on_card(sd_root, relative)
        if command == "project_file":
            metadata = _three_mf(path, plate)
        else:
            with path.open("rb") as handle:
                metadata = read_gcode(handle)
        found = next((info for info in metadata.plates if info.index == plate), None)
        if found is not None:
            predicted, layers = found.print_time_s, found.layer_count
    name = body.get("subtask_name") if command == "project_file" else None
    return PlannedPrint(
        gcode_file=relative,
        subtask_name=name if isinstance(name, str) and name else stem(relative),
        duration_s=pacing.duration_s(predicted),
        total_layers=layers if layers and layers > 0 else 100,
        task_id=_id(body.get("task_id")),
        subtask_id=_id(body.get("subtask_id")),
        project_id=_id(body.get("project_id")),
    )
