"""PrusaLink wire format → :class:`~printfleet.domain.printer.PrinterStatus`. Pure: no I/O, no clock.

Sources: Prusa-Link-Web ``spec/openapi.yaml`` (schemas ``StatusPrinter``, ``StatusJob``, ``StatusStorage``,
``Job``), prusa3d/Prusa-Link ``prusa/link/web/main.py`` (the Raspberry Pi version) and the payloads Buddy
firmware (MK4, Core One, MINI, XL) serves.

A poll reads two bodies. ``GET /api/v1/status`` on Buddy firmware::

    {"storage": {"path": "/usb/", "name": "usb", "read_only": false},
     "printer": {"state": "PRINTING", "temp_nozzle": 214.9, "target_nozzle": 215.0, "temp_bed": 59.6,
                 "target_bed": 60.0, "axis_z": 2.4, "flow": 100, "speed": 100, "fan_hotend": 4800,
                 "fan_print": 3100},
     "job": {"id": 17, "progress": 42, "time_remaining": 520, "time_printing": 526}}

The Pi version sends ``storage`` as a list (``[{"path": "/local", "read_only": false, "name": "PrusaLink
gcodes", "free_space": 28248391680}, {"path": "/sdcard", "read_only": true}]``) and may leave ``time_printing``
and ``time_remaining`` out. ``job`` is absent when no job is known.

``GET /api/v1/job`` answers 204 (no body) when there is no job, else::

    {"id": 17, "state": "PRINTING", "progress": 42, "time_remaining": 520, "time_printing": 526,
     "inaccurate_estimates": false,
     "file": {"name": "BENCHY~1.BGC", "display_name": "benchy_0.4n_0.2mm_PLA_MK4_1h2m.bgcode",
              "path": "/usb", "size": 1048576, "m_timestamp": 1717430400}}

On Buddy ``file.path`` is the folder and ``file.name`` the 8.3 short name; on the Pi ``file.path`` is the whole
path including the name (``/local/examples/benchy.gcode``). :func:`file_path_of` joins them one way for both.

State mapping (``printer.state`` → :class:`PrinterState`), decided for what a careful operator expects:

========== =========================================================================================
IDLE       ``idle``
READY      ``idle`` with ``stage="ready"`` (Pi farm mode: the user marked the bed clear)
BUSY       ``preparing`` when a job is present (the print is starting); ``idle`` with ``stage="busy"``
           without a job (loading filament, calibrating, moving axes from the menu: not a print)
PRINTING   ``printing``
PAUSED     ``paused``
FINISHED   ``finished`` (stays until the next print; kept as the printer shows it)
STOPPED    ``cancelled`` (a stop from the screen, PrusaLink or Connect)
ERROR      ``error`` (the printer halted: thermal runaway, MINTEMP, ...; whether the print failed is the
           tracker's call)
ATTENTION  ``paused`` with ``stage="attention"`` when a job is present: the printer waits for the user
           mid-print (filament run-out, MMU or fan error dialogs) and the same print resumes afterwards, so it
           must not look like an end. Without a job: ``idle`` with ``stage="attention"``.
========== =========================================================================================

An unknown state word is a :class:`PrusaLinkPayloadError`: guessing would risk ending a running job.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from printfleet.domain.materials.slots import tool_slots
from printfleet.domain.printer import PrinterState, PrinterStatus
from printfleet.printers.limits import INT_RANGE, short_text


class PrusaLinkPayloadError(ValueError):
    """A PrusaLink response body that cannot be read (not JSON, wrong shape, unknown state word)."""


@dataclass(frozen=True, slots=True)
class StorageInfo:
    """One storage as ``/api/v1/status`` reports it. ``free_space`` in bytes, None when not reported."""

    path: str
    name: str | None
    read_only: bool
    free_space: int | None


_SIMPLE_STATES: Mapping[str, PrinterState] = {
    "IDLE": PrinterState.IDLE,
    "READY": PrinterState.IDLE,
    "PRINTING": PrinterState.PRINTING,
    "PAUSED": PrinterState.PAUSED,
    "FINISHED": PrinterState.FINISHED,
    "STOPPED": PrinterState.CANCELLED,
    "ERROR": PrinterState.ERROR,
}
_WITH_JOB_STATES: Mapping[str, PrinterState] = {
    "BUSY": PrinterState.PREPARING,
    "ATTENTION": PrinterState.PAUSED,
}
KNOWN_STATES = frozenset(_SIMPLE_STATES) | frozenset(_WITH_JOB_STATES)
"""Every ``printer.state`` word of the spec: IDLE, BUSY, PRINTING, PAUSED, FINISHED, STOPPED, ERROR, ATTENTION,
READY."""


def decode_body(raw: bytes) -> dict[str, object]:
    """Decode a JSON object body. Raises :class:`PrusaLinkPayloadError` when it is not a JSON object, is nested
    too deep for the decoder, or holds an integer past Python's digit limit."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise PrusaLinkPayloadError("body is JSON nested too deep") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer with too many digits
        raise PrusaLinkPayloadError(f"body is not JSON ({type(exc).__name__})") from None
    if not isinstance(value, dict):
        raise PrusaLinkPayloadError(f"body is a JSON {type(value).__name__}, expected an object")
    return value


def map_state(raw_state: str, *, has_job: bool) -> tuple[PrinterState, str | None]:
    """Map ``printer.state`` to ``(state, stage)`` as the table in the module docstring says.

    Raises :class:`PrusaLinkPayloadError` for a word the spec does not know.
    """
    word = raw_state.upper()
    if word in _WITH_JOB_STATES:
        if has_job:
            return _WITH_JOB_STATES[word], ("attention" if word == "ATTENTION" else None)
        return PrinterState.IDLE, word.lower()
    if word in _SIMPLE_STATES:
        return _SIMPLE_STATES[word], ("ready" if word == "READY" else None)
    raise PrusaLinkPayloadError(f"unknown printer state {raw_state[:40]!r}")


def parse_storage(value: object) -> tuple[StorageInfo, ...]:
    """Read ``status.storage``: an object on Buddy, a list on the Pi version; anything else gives ``()``."""
    items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    storages = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            continue
        storages.append(
            StorageInfo(
                path=short_text(item["path"]) or "",
                name=short_text(item.get("name")),
                read_only=item.get("read_only") is True,
                free_space=_int(item.get("free_space")),
            )
        )
    return tuple(storages)


_DOS_ALIAS = re.compile(r"^[^.~/\\]{1,7}~[0-9]{1,6}(?:\.[^./\\]{0,3})?$")
"""A FAT 8.3 alias of a long name (``RASPBE~1.BGC``): up to 8 characters with ``~N``, an extension of up to 3."""


def is_dos_alias(name: str) -> bool:
    """Whether ``name`` is a FAT 8.3 short alias such as ``RASPBE~1.BGC`` (what Buddy firmware reports as a job's
    ``file.name`` for a file on its USB stick)."""
    return bool(_DOS_ALIAS.match(name))


def thumbnail_ref(file: Mapping[str, object]) -> str | None:
    """Where the printer serves the job file's preview (``refs.thumbnail``: Buddy ``/thumb/l/usb/BENCHY~1.BGC``, the
    Pi version ``/api/thumbnails/local/….orig.png``; PrusaLink OpenAPI ``PrintFileRefs``), or None. Only a path on
    the printer is taken (never another host)."""
    refs = file.get("refs")
    found = refs.get("thumbnail") if isinstance(refs, dict) else None
    if isinstance(found, str) and found.startswith("/") and not found.startswith("//") and len(found) <= 500:
        return found
    return None


def file_path_of(file: Mapping[str, object]) -> str | None:
    """The path of a job's file with its long name: ``/usb/benchy_0.2mm.bgcode`` (Buddy) or
    ``/local/benchy.gcode`` (Pi).

    Buddy gives the folder in ``path`` and the 8.3 alias in ``name`` (``BENCHY~1.BGC``) besides the long name in
    ``display_name``: the long name replaces the alias (Buddy accepts either to start a print), so the alias never
    reaches cards, job names or messages. The Pi gives the full path in ``path``.
    """
    name = file.get("name")
    path = file.get("path")
    display = file.get("display_name")
    name = name if isinstance(name, str) and name else None
    path = path if isinstance(path, str) and path else None
    long_name = display.strip() if isinstance(display, str) and "/" not in display and "\\" not in display else ""
    if name is not None and long_name and is_dos_alias(name):
        if path is not None and path.rstrip("/").endswith("/" + name):
            path = path.rstrip("/")[: -len(name) - 1] or "/"
        name = long_name
    if path is None:
        return name
    if name is None or path.rstrip("/").endswith("/" + name) or path == name:
        return path
    return f"{path.rstrip('/')}/{name}"


def parse_status(
    status_body: Mapping[str, object], job_body: Mapping[str, object] | None, *, now: datetime
) -> PrinterStatus:
    """Build a snapshot from one poll: the ``/api/v1/status`` body and the ``/api/v1/job`` body (None on 204).

    ``now`` (aware UTC) becomes ``last_seen``. Times are seconds, progress %, temperatures °C, as the printer
    sends them. ``native_job_id`` is the job ``id`` as a string. ``print_start_time`` is left unset: the tracker
    derives it once from ``elapsed_seconds``. ``extra["storage"]`` holds the first storage's path.

    Raises :class:`PrusaLinkPayloadError` when ``printer.state`` is missing or unknown, or a field has the
    wrong type.
    """
    printer = status_body.get("printer")
    if not isinstance(printer, dict):
        raise PrusaLinkPayloadError("status body has no 'printer' object")
    raw_state = printer.get("state")
    if not isinstance(raw_state, str):
        raise PrusaLinkPayloadError("status body has no 'printer.state'")

    status_job = status_body.get("job")
    status_job = status_job if isinstance(status_job, dict) else None
    # The job body is the full record (file, state); the status body's ``job`` only has the numbers. The Pi
    # version drops the job at once when a print ends, Buddy keeps it with its end state until the next print.
    job: Mapping[str, object] | None = job_body if job_body is not None else status_job
    has_job = job is not None and job.get("id") is not None
    state, stage = map_state(raw_state, has_job=has_job)

    file_name = job_name = thumbnail = None
    grams: tuple[float, ...] = ()
    if job_body is not None:
        file = job_body.get("file")
        if file is not None and not isinstance(file, dict):
            raise PrusaLinkPayloadError("job 'file' is not an object")
        if file is not None:
            file_name = short_text(file_path_of(file))
            job_name = short_text(file.get("display_name"))
            grams = filament_grams(file.get("meta"))
            thumbnail = thumbnail_ref(file)

    job_id = _int(job.get("id")) if job is not None else None
    progress = _number(job.get("progress")) if job is not None else None
    extra: dict[str, str] = {}
    if job_body is not None and thumbnail:
        extra["thumbnail"] = thumbnail
    storages = parse_storage(status_body.get("storage"))
    if storages:
        extra["storage"] = storages[0].path
    printer_health = printer.get("status_printer")
    if isinstance(printer_health, dict) and printer_health.get("ok") is False:
        extra["printer_message"] = short_text(printer_health.get("message")) or ""

    return PrinterStatus(
        state=state,
        raw_state=short_text(raw_state),
        stage=stage,
        file_name=file_name,
        job_name=job_name,
        native_job_id=str(job_id) if job_id is not None else None,
        progress=progress,
        remaining_seconds=_seconds(job.get("time_remaining")) if job is not None else None,
        elapsed_seconds=_seconds(job.get("time_printing")) if job is not None else None,
        nozzle_temp=_number(printer.get("temp_nozzle")),
        nozzle_target=_number(printer.get("target_nozzle")),
        bed_temp=_number(printer.get("temp_bed")),
        bed_target=_number(printer.get("target_bed")),
        last_seen=now,
        material_slots=tool_slots(1),
        filament_estimate_g=grams if state.is_active or state.is_terminal else (),
        extra=extra,
    )


def filament_grams(meta: object) -> tuple[float, ...]:
    """The slicer's filament estimate per tool in grams from a file's ``meta`` (PrusaLink OpenAPI
    ``PrintFileMetadata``: ``"filament used [g] per tool"``, else one ``"filament used [g]"``); () when absent or
    unreadable (Buddy firmware may leave ``meta`` out of the job)."""
    if not isinstance(meta, Mapping):
        return ()
    per_tool = meta.get("filament used [g] per tool")
    values = per_tool if isinstance(per_tool, list) else [meta.get("filament used [g]")]
    grams: list[float] = []
    for value in values[:16]:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e6:
            return ()  # an estimate is a hint: an odd one is left out, the status is still read
        grams.append(float(value))
    return tuple(grams)


def _number(value: object) -> float | None:
    """A JSON number as a float; None for null, NaN and ±infinity (no reading). Raises PrusaLinkPayloadError for
    another type or an integer too large for a float."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PrusaLinkPayloadError(f"expected a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        raise PrusaLinkPayloadError("number out of range") from None
    return number if math.isfinite(number) else None


def _int(value: object) -> int | None:
    """:func:`_number` as an int; raises PrusaLinkPayloadError outside ±2⁶³ (what the store can hold)."""
    number = _number(value)
    if number is None:
        return None
    if not -INT_RANGE <= number < INT_RANGE:
        raise PrusaLinkPayloadError("number out of range")
    return int(number)


def _seconds(value: object) -> int | None:
    # Negative durations stand for "unknown" on some firmwares (and are meaningless anyway).
    number = _int(value)
    return None if number is None or number < 0 else number
