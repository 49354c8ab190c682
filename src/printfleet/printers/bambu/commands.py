"""Bambu Lab LAN MQTT requests: what printfleet publishes on ``device/<serial>/request``.

Shapes from OpenBambuAPI ``mqtt.md`` and PROTOCOLS.md (Bambu section); the start commands (``project_file``,
``gcode_file``) field by field from research dispatch-scheduling-orders.md section 1a. Publish with QoS 1. The
printer's reply, when it sends one, echoes ``command`` and ``sequence_id`` and adds ``"result": "success"`` (any
case) or a ``reason``; ``project_file`` has no reliable reply at all: a start is confirmed from the reports.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from printfleet.domain.dispatch.sending import PrintOptions

__all__ = ["MAX_TASK_ID", "BambuCommands", "encode_command", "gcode_path", "job_name_of", "uses_ams"]

MAX_TASK_ID: Final = 2**31 - 1
"""Largest task/subtask/project id a printer keeps: P1S 01.10.00.00 clamps bigger ones to it, so every start got
the same id and the printer stayed IDLE (research 1a, Bambuddy #1042)."""

SD_ROOT: Final = "/sdcard"
"""Where the SD card is mounted in the printer's file system, for ``gcode_file``'s absolute path. OpenBambuAPI says
the command takes an absolute path; Home Assistant's integration addresses files on X1/P1/A1 as
``file:///sdcard/<path>``, which names this mount."""

_EXTERNAL_SPOOL_FIRST: Final = 254
"""Global tray ids 254 and above are external spools; 0-253 are AMS trays (research 1a, ``use_ams``)."""


def job_name_of(file_name: str) -> str:
    """The name a Bambu printer shows for ``file_name``: the base name without ``.gcode.3mf``/``.3mf``/``.gcode``."""
    name = file_name.rsplit("/", 1)[-1]
    for suffix in (".gcode.3mf", ".3mf", ".gcode"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def uses_ams(options: PrintOptions) -> bool:
    """``use_ams`` as sent: the option when given, else True iff ``ams_mapping`` names an AMS tray (0-253)."""
    if options.use_ams is not None:
        return options.use_ams
    return any(0 <= tray < _EXTERNAL_SPOOL_FIRST for tray in options.ams_mapping)


def gcode_path(remote_path: str) -> str:
    """The absolute path ``gcode_file`` takes for ``remote_path``, a path on the SD card (``/name.gcode``)."""
    return f"{SD_ROOT}/{remote_path.lstrip('/')}"


class BambuCommands:
    """Builds request payloads with increasing ``sequence_id`` strings (``"1"``, ``"2"``, ...) and fresh task ids.

    One instance per connection. ``clock`` gives epoch seconds (tests pass a fixed one); task ids are epoch
    milliseconds modulo :data:`MAX_TASK_ID` (never 0), each larger than the last one this instance minted, so two
    attempts never share one even within a millisecond (Bambuddy mints the same way; research 1a).
    """

    def __init__(self, *, start: int = 0, clock: Callable[[], float] = time.time) -> None:
        self._sequence = start
        self._clock = clock
        self._last_task_id = 0

    def next_sequence_id(self) -> str:
        """Count and return the next ``sequence_id``."""
        self._sequence += 1
        return str(self._sequence)

    def next_task_id(self) -> str:
        """A fresh task id as a decimal string in 1..2^31-1: epoch ms modulo 2^31-1, bumped past the last one."""
        minted = int(self._clock() * 1000) % MAX_TASK_ID or 1
        if minted <= self._last_task_id:
            minted = self._last_task_id + 1 if self._last_task_id < MAX_TASK_ID else 1
        self._last_task_id = minted
        return str(minted)

    def pushall(self) -> dict[str, Any]:
        """``{"pushing": {"command": "pushall"}}``: ask for a full ``push_status`` (at most every 5 minutes)."""
        return {"pushing": {"sequence_id": self.next_sequence_id(), "command": "pushall"}}

    def get_version(self) -> dict[str, Any]:
        """``{"info": {"command": "get_version"}}``: a cheap request whose reply proves the link is alive."""
        return {"info": {"sequence_id": self.next_sequence_id(), "command": "get_version"}}

    def _print(self, command: str) -> dict[str, Any]:
        return {"print": {"sequence_id": self.next_sequence_id(), "command": command, "param": ""}}

    def pause(self) -> dict[str, Any]:
        """Pause the current print."""
        return self._print("pause")

    def resume(self) -> dict[str, Any]:
        """Resume a paused print."""
        return self._print("resume")

    def stop(self) -> dict[str, Any]:
        """Stop the current print (the printer then reports FAILED with print_error 50348044)."""
        return self._print("stop")

    def print_speed(self, level: int) -> dict[str, Any]:
        """Print at speed ``level`` (1 silent, 2 standard, 3 sport, 4 ludicrous; ``param`` a string of it)."""
        return {"print": {"sequence_id": self.next_sequence_id(), "command": "print_speed", "param": str(level)}}

    def project_file(
        self,
        file_name: str,
        *,
        plate: int = 1,
        subtask_name: str | None = None,
        options: PrintOptions | None = None,
    ) -> dict[str, Any]:
        """Start ``file_name``, a sliced 3MF on the printer's SD card (path from its root), plate ``plate``.

        Fields (research 1a): ``param`` ``Metadata/plate_<plate>.gcode``; ``url`` ``ftp:///<path>``; ``md5`` ``""``
        (accepted as "do not check"; a wrong digest could turn checking on); one fresh id for ``task_id``,
        ``subtask_id`` and ``project_id``, ``profile_id`` ``"0"``; ``subtask_name`` the name the printer shows
        (default: the file name without its extension); and the ``options``: ``use_ams`` a JSON bool (H2D reads an
        int as a nozzle), ``ams_mapping`` one global tray id per filament slot, ``bed_leveling`` bool with
        BambuStudio's ``auto_bed_leveling`` int (0 off, 1 on) and the ``bed_levelling`` spelling of OpenBambuAPI,
        ``flow_cali`` with ``extrude_cali_flag``, ``vibration_cali``, ``timelapse``, ``bed_type``.
        Raises ValueError when ``plate`` < 1.
        """
        if plate < 1:
            raise ValueError(f"plate is 1-based, got {plate}")
        options = options or PrintOptions()
        path = file_name.lstrip("/")
        task_id = self.next_task_id()
        return {
            "print": {
                "sequence_id": self.next_sequence_id(),
                "command": "project_file",
                "param": f"Metadata/plate_{plate}.gcode",
                "url": f"ftp:///{path}",
                "file": path,
                "md5": "",
                "subtask_name": job_name_of(path) if subtask_name is None else subtask_name,
                "project_id": task_id,
                "profile_id": "0",
                "task_id": task_id,
                "subtask_id": task_id,
                "bed_type": options.bed_type,
                "timelapse": options.timelapse,
                "bed_leveling": options.bed_leveling,
                "bed_levelling": options.bed_leveling,
                "auto_bed_leveling": 1 if options.bed_leveling else 0,
                "flow_cali": options.flow_cali,
                "extrude_cali_flag": 1 if options.flow_cali else 0,
                "vibration_cali": options.vibration_cali,
                "layer_inspect": False,
                "use_ams": uses_ams(options),
                "ams_mapping": list(options.ams_mapping),
                "cfg": "0",
            }
        }

    def gcode_file(self, remote_path: str) -> dict[str, Any]:
        """Print plain G-code at ``remote_path`` on the SD card (``/name.gcode``): ``param`` is its absolute path
        in the printer's file system, ``/sdcard/name.gcode`` (OpenBambuAPI ``print.gcode_file``; see
        :data:`SD_ROOT`). The printer shows the file name as the job; no ids or options go with it."""
        return {
            "print": {"sequence_id": self.next_sequence_id(), "command": "gcode_file", "param": gcode_path(remote_path)}
        }


def encode_command(command: Mapping[str, Any]) -> bytes:
    """The wire form of a command: compact UTF-8 JSON."""
    return json.dumps(command, separators=(",", ":")).encode()
