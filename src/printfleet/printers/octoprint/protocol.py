"""OctoPrint wire format → :class:`~printfleet.domain.printer.PrinterStatus`. Pure: no I/O, no clock.

Sources: OctoPrint 1.11 docs ``docs/api/printer.rst``, ``docs/api/job.rst``, ``docs/api/datamodel.rst``,
``docs/api/push.rst``, ``docs/events/index.rst``; payloads checked against OctoPrint 1.11.8 with its virtual
printer.

A poll reads two bodies. ``GET /api/printer`` (409 ``{"error": "Printer is not operational"}`` while
OctoPrint has no serial link to its printer)::

    {"state": {"text": "Printing", "error": "",
               "flags": {"operational": true, "printing": true, "paused": false, "pausing": false,
                         "cancelling": false, "resuming": false, "finishing": false, "ready": false,
                         "error": false, "closedOrError": false, "sdReady": true}},
     "temperature": {"tool0": {"actual": 214.8, "target": 215.0, "offset": 0},
                     "bed": {"actual": 59.9, "target": 60.0, "offset": 0}},
     "sd": {"ready": true}}

``GET /api/job`` (always 200; ``state`` is ``"Offline"`` when not operational, and every field is null when no
file is selected)::

    {"job": {"file": {"name": "whistle_v2.gcode", "path": "whistle_v2.gcode", "origin": "local",
                      "size": 1468987, "date": 1378847754},
             "estimatedPrintTime": 8811, "filament": {"length": 810, "volume": 5.36}},
     "progress": {"completion": 0.2298468264184775, "filepos": 337942, "printTime": 276, "printTimeLeft": 912},
     "state": "Printing"}

The push socket (SockJS, ``/sockjs/websocket``) sends ``{"current": {...}}`` (the same ``state``, ``job`` and
``progress`` objects, temperatures as a list ``temps: [{"time": ..., "tool0": {"actual", "target"}, ...}]``;
at most every 500 ms) and ``{"event": {"type": "PrintDone", "payload": {"name", "path", "origin", "time"}}}``.

**How a print ends, as OctoPrint shows it.** The flags have no "finished": after any end OctoPrint is
``Operational`` again and the file stays selected. What differs (measured on 1.11.8):

- done: ``progress.completion`` stays ``100.0`` and ``printTime`` stays set, until another file is selected or a
  print starts; the ``PrintDone`` event fires.
- cancelled: ``progress`` is reset to all-null at once; ``PrintCancelled`` fires, then ``PrintFailed`` with
  ``reason: "cancelled"``.
- failed: the serial link dropped or the firmware reported an error mid-print: OctoPrint leaves the operational
  states (so ``/api/printer`` answers 409) and fires ``PrintFailed`` with ``reason: "error"``.

So the adapter decides, in this order: a lifecycle **event** says it outright; failing that (no push socket),
a print **seen active** that is now operational without being active ended ``finished`` when completion is 100 %
and ``cancelled`` otherwise, and one seen active when OctoPrint stops being operational ``failed`` (OctoPrint
fails every print whose link drops); failing that (we were not watching while it printed), a selected file at
100 % with a ``printTime`` is ``finished``. A print seen active whose file is no longer selected (OctoPrint
restarted meanwhile) is ``idle``: how it ended is unknown. A cancelled print that nobody watched looks exactly
like a file selected and never printed, so it shows ``idle``: the tracker closes such a job as ``unknown``. A
terminal state stays while the ended print's file is still the selected one, the way Bambu keeps ``FINISH``.

**Not operational** (409 on ``/api/printer``): ``offline`` with reason ``not_operational`` and the job's state
text as detail (``"Offline"``, ``"Offline after error: ..."``), not ``error``: the server answers but cannot reach
its printer, so nothing it says about a print is current, and commands are refused like for an unreachable
printer. A print under way when that happens is ``failed`` (from ``PrintFailed`` at once, or from the poll);
OctoPrint keeps the file selected, so ``failed`` is what shows once the link is back.

**Who decides the phase.** Lifecycle events, when the push socket is up, then polls. ``current`` messages only
bring telemetry (temperatures, and progress of the print under way): they are rate-limited and one generated
before an event can arrive after it (seen on 1.11.8: a ``Printing``/100 % ``current`` after ``PrintDone``, and a
``Printing`` one after a poll already showed ``Pausing``). A poll sent less than :data:`EVENT_AUTHORITY_S`
seconds after a lifecycle event cannot change the phase either: OctoPrint fires ``PrintDone`` while its state is
still ``Finishing`` and a poll then would reopen the print. Later polls win again, so a missed event is
corrected by the next poll.

The progress and elapsed time of a ``cancelled`` or ``failed`` print are the last ones seen while it was active
(OctoPrint resets them to null on cancel); a ``finished`` print shows 100 %.

State mapping from flags (never the ``text``): ``paused`` or ``pausing`` → ``paused``; ``printing``,
``cancelling``, ``resuming`` or ``finishing`` → ``printing``; the transient flag (``pausing``, ``cancelling``,
``resuming``, ``finishing``) becomes ``stage``; ``error`` while operational → ``error``. OctoPrint has no job id,
so ``native_job_id`` stays None; ``file_name`` is the file's ``path`` in its storage (folders kept).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from printfleet.domain.materials.slots import tool_slots
from printfleet.domain.printer import OfflineReason, PrinterState, PrinterStatus
from printfleet.domain.printer_errors import octoprint_error_code
from printfleet.printers.limits import INT_RANGE, MAX_TEXT_CHARS

EVENT_AUTHORITY_S = 2.0
"""Seconds after a lifecycle event during which a poll cannot change the phase (the ``Finishing`` state after
``PrintDone`` lasts as long as the ``afterPrintDone`` G-code script; about 0.1 s on the virtual printer)."""

LIFECYCLE_EVENTS = frozenset(
    {"PrintStarted", "PrintDone", "PrintFailed", "PrintCancelled", "PrintPaused", "PrintResumed"}
)
"""The push ``event`` types the adapter reads (docs/events/index.rst, "Printing")."""

_TRANSIENT_FLAGS = ("pausing", "cancelling", "resuming", "finishing")
_STATE_TEXT_AFTER = {
    "PrintStarted": "Printing",
    "PrintPaused": "Paused",
    "PrintResumed": "Printing",
    "PrintDone": "Operational",
    "PrintCancelled": "Operational",
}
_ACTIVE_FLAGS = frozenset({"printing", "paused", *_TRANSIENT_FLAGS})


class OctoPrintPayloadError(ValueError):
    """An OctoPrint body or push message that cannot be read (not JSON, or not the documented shape)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OctoPrintState:
    """Everything the adapter knows about one OctoPrint instance, merged from polls, ``current`` and events.

    Telemetry mirrors the last report: ``flags`` (names of the true flags), ``completion`` (%), ``filament_mm`` (the
    selected file's estimated filament per tool, mm, from OctoPrint's analysis), ``print_time_s``
    and ``print_time_left_s`` (seconds), temperatures (°C). An absent field keeps its value.
    Lifecycle memory: ``phase`` (idle, printing, paused, finished, failed, cancelled, error), ``print_path`` and
    ``print_name`` (the file of the current or last print), ``print_started_at`` (aware UTC, from the
    ``PrintStarted`` event or ``now - printTime``), ``end_progress`` (%), ``end_elapsed_s`` (seconds) and
    ``end_error`` (the error OctoPrint gave, for a failed one) of the print that ended, ``events_rule_until`` (the
    reporter's monotonic seconds up to which the last event's phase stands, see :data:`EVENT_AUTHORITY_S`), and
    ``tools``, how many extruders report temperatures (``tool0`` … ``toolN``: one material slot each).
    """

    operational: bool | None = None
    state_text: str | None = None
    flags: frozenset[str] = frozenset()
    selected_name: str | None = None
    selected_path: str | None = None
    selected_origin: str | None = None
    completion: float | None = None
    print_time_s: int | None = None
    print_time_left_s: int | None = None
    nozzle_temp: float | None = None
    nozzle_target: float | None = None
    bed_temp: float | None = None
    bed_target: float | None = None
    phase: PrinterState = PrinterState.IDLE
    stage: str | None = None
    print_path: str | None = None
    print_name: str | None = None
    print_started_at: datetime | None = None
    filament_mm: tuple[float, ...] = ()
    end_progress: float | None = None
    end_elapsed_s: int | None = None
    end_error: str | None = None
    events_rule_until: float = float("-inf")
    tools: int = 1


def decode_body(raw: bytes | str) -> dict[str, object]:
    """Decode a JSON object body. Raises :class:`OctoPrintPayloadError` when it is not a JSON object, is nested
    too deep for the decoder, or holds an integer past Python's digit limit."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise OctoPrintPayloadError("body is JSON nested too deep") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer with too many digits
        raise OctoPrintPayloadError(f"body is not JSON ({type(exc).__name__})") from None
    if not isinstance(value, dict):
        raise OctoPrintPayloadError(f"body is a JSON {type(value).__name__}, expected an object")
    return value


def _object(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise OctoPrintPayloadError(f"{where} is {type(value).__name__}, expected an object")
    return value


def _number(value: object, where: str) -> float | None:
    """A JSON number as a float; None for null, NaN and ±infinity (no reading). Raises OctoPrintPayloadError for
    another type or an integer too large for a float."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OctoPrintPayloadError(f"{where} is {type(value).__name__}, expected a number")
    try:
        number = float(value)
    except OverflowError:
        raise OctoPrintPayloadError(f"{where} is out of range") from None
    return number if math.isfinite(number) else None


def _seconds(value: object, where: str) -> int | None:
    """A duration in whole seconds. Raises OctoPrintPayloadError when it is not a finite number within ±2⁶³
    (``"printTime": 1e999`` is an unreadable body, not an unknown time)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise OctoPrintPayloadError(f"{where} is not a finite number")
    number = _number(value, where)
    if number is None:
        return None
    if not -INT_RANGE <= number < INT_RANGE:
        raise OctoPrintPayloadError(f"{where} is out of range")
    return round(number)


def _text(value: object, where: str) -> str | None:
    """A string, cut to :data:`~printfleet.printers.limits.MAX_TEXT_CHARS`; raises OctoPrintPayloadError for
    another type."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise OctoPrintPayloadError(f"{where} is {type(value).__name__}, expected a string")
    return value if len(value) <= MAX_TEXT_CHARS else value[:MAX_TEXT_CHARS]


def _flags(state_obj: Mapping[str, object]) -> frozenset[str]:
    flags = _object(state_obj.get("flags"), "state.flags")
    if not isinstance(flags.get("operational"), bool):
        raise OctoPrintPayloadError("state.flags.operational is missing")
    return frozenset(name for name, value in flags.items() if value is True)


_TOOL = re.compile(r"^tool([0-9])$")
MAX_TOOLS = 8
"""The most tools a printer is taken to have (OctoPrint's printer profiles go up to a handful of extruders)."""


def _temperatures(state: OctoPrintState, sample: Mapping[str, object], where: str) -> OctoPrintState:
    changes: dict[str, float | None] = {}
    for heater, actual_field, target_field in (
        ("tool0", "nozzle_temp", "nozzle_target"),
        ("bed", "bed_temp", "bed_target"),
    ):
        if heater not in sample:
            continue
        reading = _object(sample[heater], f"{where}.{heater}")
        if "actual" in reading:
            changes[actual_field] = _number(reading["actual"], f"{where}.{heater}.actual")
        if "target" in reading:
            changes[target_field] = _number(reading["target"], f"{where}.{heater}.target")
    # Each extruder of the printer profile reports as ``toolN``: a multi-tool printer has a slot per tool.
    tools = max((int(match.group(1)) + 1 for key in sample if (match := _TOOL.match(key))), default=0)
    if tools > state.tools:
        changes["tools"] = min(tools, MAX_TOOLS)
    return dataclasses.replace(state, **changes) if changes else state  # type: ignore[arg-type]


def _job_fields(state: OctoPrintState, payload: Mapping[str, object]) -> OctoPrintState:
    job = _object(payload.get("job"), "job")
    file = _object(job.get("file") or {}, "job.file")
    progress = _object(payload.get("progress") or {}, "progress")
    name = _text(file.get("name"), "job.file.name")
    return dataclasses.replace(
        state,
        selected_name=name,
        selected_path=_text(file.get("path"), "job.file.path") or name,
        selected_origin=_text(file.get("origin"), "job.file.origin"),
        completion=_number(progress.get("completion"), "progress.completion"),
        print_time_s=_seconds(progress.get("printTime"), "progress.printTime"),
        print_time_left_s=_seconds(progress.get("printTimeLeft"), "progress.printTimeLeft"),
        filament_mm=_filament(job.get("filament")),
    )


def _filament(value: object) -> tuple[float, ...]:
    """OctoPrint's estimate of the selected file's filament per tool, mm: ``{"tool0": {"length": mm, "volume":
    cm³}, ...}`` (``docs/api/datamodel.rst``, "Job information"), or one ``{"length", "volume"}`` in older
    versions; () when analysis has not run (null) or the value is unreadable."""
    if not isinstance(value, Mapping):
        return ()
    if "length" in value:
        value = {"tool0": value}
    lengths: dict[int, float] = {}
    for key, tool in value.items():
        if not (isinstance(key, str) and key.startswith("tool") and key[4:].isdigit() and isinstance(tool, Mapping)):
            continue
        length = tool.get("length")
        if isinstance(length, int | float) and not isinstance(length, bool) and math.isfinite(length) and length >= 0:
            lengths[int(key[4:])] = float(length)
    if not lengths or max(lengths) > 15:
        return ()
    return tuple(lengths.get(n, 0.0) for n in range(max(lengths) + 1))


def _ended(state: OctoPrintState, before: OctoPrintState, phase: PrinterState) -> OctoPrintState:
    """``state`` with the print ended as ``phase``, its last progress and elapsed time kept from ``before``, and for
    a failed print the error OctoPrint reports (``Offline after error: …``), if any."""
    done = phase is PrinterState.FINISHED
    return dataclasses.replace(
        state,
        phase=phase,
        stage=None,
        end_progress=100.0 if done else before.completion,
        end_elapsed_s=(state.print_time_s if done else None) or before.print_time_s,
        end_error=error_text(state.state_text) if phase is PrinterState.FAILED else None,
    )


def error_text(state_text: str | None) -> str | None:
    """The error in OctoPrint's state text (``Offline after error: Thermal Runaway…``, ``Error: …``), or None when
    it reports none (OctoPrint's ``_state_text``: the error string follows the state's name)."""
    if not state_text:
        return None
    for prefix in ("Offline after error:", "Error:"):
        if state_text.startswith(prefix):
            return state_text[len(prefix) :].strip() or None
    return None


def _settle(before: OctoPrintState, state: OctoPrintState, *, observed_at: float, now: datetime) -> OctoPrintState:
    """Derive the phase of a freshly merged poll (module docstring, "How a print ends")."""
    if observed_at < state.events_rule_until:
        return state  # an event newer than, or as new as, this report decided the phase
    if state.operational is False:
        return _ended(state, before, PrinterState.FAILED) if state.phase.is_active else state
    flags = state.flags
    if flags & _ACTIVE_FLAGS:
        phase = PrinterState.PAUSED if flags & {"paused", "pausing"} else PrinterState.PRINTING
        stage = next((flag for flag in _TRANSIENT_FLAGS if flag in flags), None)
        same_print = state.phase.is_active and state.print_path == state.selected_path
        started_at = state.print_started_at if same_print else None
        if started_at is None and state.print_time_s is not None:
            started_at = now - timedelta(seconds=state.print_time_s)
        return dataclasses.replace(
            state,
            phase=phase,
            stage=stage,
            print_path=state.selected_path,
            print_name=state.selected_name,
            print_started_at=started_at,
        )
    if "error" in flags:
        return dataclasses.replace(state, phase=PrinterState.ERROR, stage=None)
    done = state.completion is not None and state.completion >= 100.0 and state.print_time_s is not None
    if state.phase.is_active and state.selected_path == state.print_path:
        return _ended(state, before, PrinterState.FINISHED if done else PrinterState.CANCELLED)
    if state.phase.is_active:
        # The file is no longer selected: OctoPrint restarted (or the user chose another file) while we were
        # not looking. How the print ended is unknown; the tracker closes it as such.
        return dataclasses.replace(state, phase=PrinterState.IDLE, stage=None)
    if state.phase.is_terminal and state.selected_path == state.print_path:
        return state
    if done and state.selected_path is not None:
        seen_done = dataclasses.replace(
            state, print_path=state.selected_path, print_name=state.selected_name, print_started_at=None
        )
        return _ended(seen_done, state, PrinterState.FINISHED)
    return dataclasses.replace(state, phase=PrinterState.IDLE, stage=None)


def apply_poll(
    state: OctoPrintState,
    printer: Mapping[str, object] | None,
    job: Mapping[str, object],
    *,
    observed_at: float,
    now: datetime,
) -> OctoPrintState:
    """Merge one poll: the ``/api/printer`` body (None when it answered 409) and the ``/api/job`` body.

    ``observed_at`` is the monotonic time (seconds) the poll was *sent*; ``now`` is aware UTC.
    Raises :class:`OctoPrintPayloadError` when a body is not the documented shape.
    """
    before = state
    state = _job_fields(state, job)
    job_state = _text(job.get("state"), "state")
    if printer is None:
        state = dataclasses.replace(state, operational=False, state_text=job_state, flags=frozenset())
    else:
        state_obj = _object(printer.get("state"), "state")
        state = dataclasses.replace(
            state,
            operational=True,
            state_text=_text(state_obj.get("text"), "state.text"),
            flags=_flags(state_obj),
        )
        state = _temperatures(state, _object(printer.get("temperature") or {}, "temperature"), "temperature")
    settled = _settle(before, state, observed_at=observed_at, now=now)
    if settled.phase is PrinterState.FAILED and settled.end_error is None and error_text(settled.state_text):
        # the failure came as an event before the poll that shows its error
        settled = dataclasses.replace(settled, end_error=error_text(settled.state_text))
    return settled


def apply_current(state: OctoPrintState, current: Mapping[str, object]) -> OctoPrintState:
    """Merge the telemetry of one push ``current`` (or ``history``) payload; the phase is left alone.

    Temperatures come from the latest ``temps`` sample; progress and times only while a print is active and the
    message is about that print's file (a late message about the print that just ended is ignored). Raises
    :class:`OctoPrintPayloadError` when the payload is not the documented shape.
    """
    flags = _flags(_object(current.get("state"), "current.state"))
    temps = current.get("temps") or []
    if not isinstance(temps, list):
        raise OctoPrintPayloadError("current.temps is not a list")
    if temps:
        state = _temperatures(state, _object(temps[-1], "current.temps[-1]"), "current.temps[-1]")
    reported = _job_fields(OctoPrintState(), current)
    if state.phase.is_active and flags & _ACTIVE_FLAGS and reported.selected_path == state.print_path:
        state = dataclasses.replace(
            state,
            completion=reported.completion,
            print_time_s=reported.print_time_s,
            print_time_left_s=reported.print_time_left_s,
        )
    return state


def apply_event(
    state: OctoPrintState, event: Mapping[str, object], *, observed_at: float, now: datetime
) -> OctoPrintState:
    """Apply one push ``event`` payload (``{"type": ..., "payload": {...}}``); other event types change nothing.

    ``PrintFailed`` with ``reason: "cancelled"`` is a cancel (OctoPrint fires it after ``PrintCancelled``).
    Raises :class:`OctoPrintPayloadError` when a lifecycle event lacks its payload.
    """
    kind = event.get("type")
    if kind not in LIFECYCLE_EVENTS:
        return state
    payload = _object(event.get("payload"), f"event {kind} payload")
    name = _text(payload.get("name"), f"{kind}.name")
    path = _text(payload.get("path"), f"{kind}.path") or name or state.print_path
    ruled = dataclasses.replace(
        state,
        events_rule_until=observed_at + EVENT_AUTHORITY_S,
        stage=None,
        # What OctoPrint's state text becomes; a failure (link lost) is followed by a poll that knows better.
        state_text=_STATE_TEXT_AFTER.get(kind, state.state_text),
    )
    if kind == "PrintStarted":
        return dataclasses.replace(
            ruled,
            operational=True,
            phase=PrinterState.PRINTING,
            print_path=path,
            print_name=name,
            print_started_at=now,
            selected_name=name,
            selected_path=path,
            selected_origin=_text(payload.get("origin"), f"{kind}.origin"),
            completion=0.0,
            print_time_s=0,
            print_time_left_s=None,
        )
    if kind in ("PrintPaused", "PrintResumed"):
        phase = PrinterState.PAUSED if kind == "PrintPaused" else PrinterState.PRINTING
        return dataclasses.replace(ruled, phase=phase, print_path=path, print_name=name or state.print_name)
    elapsed = _seconds(payload.get("time"), f"{kind}.time")
    if kind == "PrintDone":
        phase = PrinterState.FINISHED
    elif kind == "PrintCancelled" or payload.get("reason") == "cancelled":
        phase = PrinterState.CANCELLED
    else:
        phase = PrinterState.FAILED
    if state.phase.is_terminal and state.print_path == path:
        # PrintFailed (reason cancelled) follows PrintCancelled: keep what the first one recorded.
        return dataclasses.replace(ruled, phase=phase)
    ended = _ended(dataclasses.replace(ruled, print_path=path, print_name=name or state.print_name), state, phase)
    return ended if elapsed is None else dataclasses.replace(ended, end_elapsed_s=elapsed)


def to_status(state: OctoPrintState, *, now: datetime) -> PrinterStatus:
    """Render the merged state as a :class:`PrinterStatus` seen at ``now`` (aware UTC)."""
    if state.operational is False:
        return PrinterStatus.offline(
            OfflineReason.NOT_OPERATIONAL,
            detail=f"OctoPrint reports {state.state_text or 'not operational'!r}",
            last_seen=now,
        )
    active = state.phase.is_active
    in_print = active or state.phase.is_terminal
    extra = {"origin": state.selected_origin} if state.selected_origin else {}
    if state.selected_path and not in_print:
        extra["selected_file"] = state.selected_path
    return PrinterStatus(
        state=state.phase,
        raw_state=state.state_text,
        file_name=state.print_path if in_print else None,
        progress=state.completion if active else (state.end_progress if in_print else None),
        remaining_seconds=state.print_time_left_s if active else None,
        elapsed_seconds=state.print_time_s if active else (state.end_elapsed_s if in_print else None),
        print_start_time=state.print_started_at if in_print else None,
        nozzle_temp=state.nozzle_temp,
        nozzle_target=state.nozzle_target,
        bed_temp=state.bed_temp,
        bed_target=state.bed_target,
        stage=state.stage,
        error_codes=(
            (octoprint_error_code(state.end_error),) if state.phase is PrinterState.FAILED and state.end_error else ()
        ),
        last_seen=now,
        material_slots=tool_slots(state.tools),
        filament_estimate_mm=state.filament_mm if in_print else (),
        extra=extra,
    )
