"""What the HTTP printer simulators (PrusaLink, OctoPrint) share to take an uploaded print file and print it.

An upload is spooled to a temporary file (kept in memory up to :data:`SPOOL_MEMORY_BYTES`, on disk beyond), its
metadata read with printfleet's own file readers, and only what the printer needs afterwards is kept: name, size
and how long printing it takes. The simulated printing time is the slicer's prediction (``estimated printing
time (normal mode)``, Cura's ``;TIME:``, the plate's ``prediction``) divided by the simulator's ``speed_factor``,
so a two-hour file prints in two minutes at 60.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import IO

from printfleet.domain.files import NotPrintable, read_print_file

SPOOL_MEMORY_BYTES = 1024 * 1024
"""Bytes of an upload kept in memory before it is spooled to disk."""

GCODE_SUFFIXES = (".gcode", ".gco", ".g")
"""File names a G-code-only printer (OctoPrint) takes."""

PRUSA_SUFFIXES = (*GCODE_SUFFIXES, ".bgcode")
"""File names a Prusa printer takes: text and binary G-code."""


@dataclass(frozen=True, slots=True)
class PrintTiming:
    """How a simulator prints a file: ``duration_s`` seconds (after the speed factor) over ``total_layers``.
    ``predicted_s`` is the slicer's prediction in seconds, None when the file does not say."""

    predicted_s: float | None
    duration_s: float
    total_layers: int


def new_spool() -> IO[bytes]:
    """A temporary file for an upload's bytes (memory first, then disk; gone when closed)."""
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)


def timing_of(name: str, content: IO[bytes], *, speed_factor: float, default_s: float) -> PrintTiming:
    """The printing time of the file ``name`` whose bytes are ``content``: the slicer's prediction divided by
    ``speed_factor`` (at least 1 s), or ``default_s`` seconds when the file has none or cannot be read."""
    predicted: float | None = None
    layers: int | None = None
    try:
        content.seek(0)
        plates = read_print_file(name, content).metadata.plates
    except (NotPrintable, OSError, ValueError):
        plates = ()
    if plates:
        predicted, layers = plates[0].print_time_s, plates[0].layer_count
    duration = default_s if predicted is None else max(1.0, predicted / max(speed_factor, 1e-9))
    return PrintTiming(predicted_s=predicted, duration_s=duration, total_layers=layers or 100)
