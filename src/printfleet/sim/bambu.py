"""Simulated Bambu Lab printers speaking the LAN MQTT protocol through a real mosquitto broker.

A real printer is its own TLS MQTT broker; here each :class:`SimulatedBambuPrinter` is a mosquitto process (its own
port, certificate CN = serial, access code) plus an MQTT client playing the printer's firmware: it listens on
``device/<serial>/request`` and publishes on ``device/<serial>/report``. Like a P1/A1 it answers ``pushall`` with a
full ``push_status`` and otherwise publishes only the fields that changed, about once a second while printing.
Facts: PROTOCOLS.md (Bambu section), OpenBambuAPI ``mqtt.md``.

Start a farm and get the configs printfleet needs::

    async with BambuFarm(3, report_interval_s=0.2) as farm:
        configs = farm.printer_configs()          # host, port, serial, access_code, ca_file, ftp_port
        await farm.printers[0].start_print("benchy.gcode.3mf", duration_s=30)

Started remotely (``project_file``, ``gcode_file``), a printer prints the uploaded file from its FTPS root as
:mod:`printfleet.sim.bambu_start` describes; a busy printer ignores the start, as firmware does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import secrets
import ssl
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import aiomqtt
import structlog

from printfleet.aio import within
from printfleet.domain.printer import PrinterConfig, PrinterKind, Secret
from printfleet.printers.bambu.protocol import CANCELLED_PRINT_ERROR, report_topic, request_topic
from printfleet.sim.bambu_ams import SimulatedAms
from printfleet.sim.bambu_ftps import SimulatedBambuFtps
from printfleet.sim.bambu_start import Pacing, PlannedPrint, StartIgnored, plan_start, stem
from printfleet.sim.base import SimPhase, SimPrint
from printfleet.sim.mqtt_broker import MosquittoBroker
from printfleet.sim.samples import screen_print_3mf
from printfleet.sim.tls import SimCertificateAuthority

__all__ = ["FAILURE_PRINT_ERROR", "BambuFarm", "SimulatedBambuPrinter"]

log = structlog.get_logger("printfleet.sim.bambu")

USER_PAUSE_PRINT_ERROR = 0x03008001
"""``print_error`` of a print a person paused at the printer ("paused by the user", ha-bambulab's device texts)."""
FAILURE_PRINT_ERROR = 0x0300800A
"""The ``print_error`` :meth:`SimulatedBambuPrinter.fail` reports (a made-up but well-formed code)."""

_GCODE_STATE = {
    SimPhase.PREPARING: "PREPARE",
    SimPhase.PRINTING: "RUNNING",
    SimPhase.PAUSED: "PAUSE",
    SimPhase.FINISHED: "FINISH",
    SimPhase.FAILED: "FAILED",
    SimPhase.CANCELLED: "FAILED",
}


_ROOM_C = 25.0


def _diff(old: Any, new: Any) -> Any:
    """What a P1 would send: changed keys of objects, per-``id`` changes of lists of ``{"id"}`` objects."""
    if type(old) is dict and type(new) is dict:
        out = {}
        for key, value in new.items():
            if key not in old:
                out[key] = value
            elif old[key] != value:
                out[key] = _diff(old[key], value)
        return out
    if (
        type(old) is list
        and type(new) is list
        and new
        and all(type(item) is dict and "id" in item for item in (*old, *new))
    ):
        before = {item["id"]: item for item in old}
        changed = []
        for item in new:
            previous = before.get(item["id"])
            if previous == item:
                continue
            if previous is None or len(item) == 1:  # new entry, or an emptied slot: send it whole
                changed.append(item)
            else:
                changed.append({"id": item["id"], **_diff(previous, item)})
        return changed
    return new


_SPEED_MAGNITUDE = {1: 50, 2: 100, 3: 124, 4: 166}
"""``spd_mag`` (% of the sliced speed) per ``spd_lvl``, as the firmware reports them."""


class SimulatedBambuPrinter:
    """One simulated Bambu printer (implements :class:`printfleet.sim.base.SimulatedPrinter`).

    ``broker`` is the printer's own broker (started and stopped with the printer), or None when the printer
    shares a broker its owner runs. ``report_interval_s`` is the partial-report period in seconds;
    ``default_duration_s`` the printing time of remote starts whose file gives no prediction; ``prepare_s`` the
    PREPARE phase before RUNNING. ``send_start_time`` adds ``gcode_start_time`` (absent on current firmware).
    ``ftps`` is the printer's implicit-FTPS server (uploads; started and stopped with the printer, off the network
    with it), reachable on :attr:`ftps_port`.

    Remote starts (``project_file``, ``gcode_file``) print the named file from the FTPS root for its predicted time
    divided by ``speed_factor`` (at least ``min_print_s`` seconds; ``default_duration_s`` without a prediction or
    without an FTPS server); they are ignored, without a reply, while busy, when the file is missing, and the next
    :attr:`drop_starts` times (a lost command). :attr:`start_commands` keeps every start received, obeyed or not.
    """

    def __init__(
        self,
        *,
        printer_id: str,
        serial: str,
        access_code: str,
        port: int,
        ca_file: Path,
        broker: MosquittoBroker | None = None,
        host: str = "127.0.0.1",
        name: str | None = None,
        report_interval_s: float = 1.0,
        default_duration_s: float = 60.0,
        prepare_s: float = 1.0,
        send_start_time: bool = False,
        ftps: SimulatedBambuFtps | None = None,
        speed_factor: float = 60.0,
        min_print_s: float = 1.0,
    ) -> None:
        self.printer_id = printer_id
        self.serial = serial
        self.access_code = access_code
        self.host = host
        self.port = port
        self.ca_file = ca_file
        self.name = name or f"Simulated Bambu {serial[-4:]}"
        self.broker = broker
        self.report_interval_s = report_interval_s
        self.default_duration_s = default_duration_s
        self.prepare_s = prepare_s
        self.send_start_time = send_start_time
        self.ftps = ftps
        self.speed_factor = speed_factor
        self.min_print_s = min_print_s
        self.drop_starts = 0
        self.start_latency_s = 0.0
        """Seconds between an obeyed start command and the print showing in the reports (real printers take a few,
        an H2D up to ~50 s: research dispatch-scheduling-orders.md 1a step 3)."""
        """How many of the next start commands to drop silently (a command the printer never acts on)."""
        self.start_commands: list[dict[str, Any]] = []
        """Every ``project_file``/``gcode_file`` body received, in order, whether obeyed, ignored or dropped."""
        self.print: SimPrint | None = None
        self._started: PlannedPrint | None = None  # what the running remote start reports; None: started on screen
        self._print_error = 0
        self._hms: list[dict[str, int]] = []
        self.speed_level = 2
        """The speed level (``print_speed`` 1-4) the current print runs at; back to 2 (standard) at each start."""
        self.ams = SimulatedAms(serial)
        """AMS 0 and the external spool; change them with the tray methods below."""
        self._published: dict[str, Any] | None = None
        self._push_sequence = 0
        self._rng = random.Random(serial)
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._link_task: asyncio.Task[None] | None = None
        self._report_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.commands_received: deque[dict[str, Any]] = deque(maxlen=100)
        self.log = log.bind(serial=serial)

    # -- lifecycle -------------------------------------------------------------------------------------------

    def printer_config(self) -> PrinterConfig:
        """How printfleet reaches this printer: host 127.0.0.1, its port, serial, access code, the sim CA, and the
        FTPS server's port as ``ftp_port`` (once started: it picks a free port)."""
        return PrinterConfig(
            id=self.printer_id,
            name=self.name,
            kind=PrinterKind.BAMBU,
            host=self.host,
            port=self.port,
            serial=self.serial,
            access_code=Secret(self.access_code),
            ca_file=str(self.ca_file),
            ftp_port=self.ftps.port if self.ftps is not None else None,
        )

    async def start(self, *, timeout_s: float = 30.0) -> None:
        """Start the broker (if owned) and the firmware client; return once the printer is on its broker (within
        ``timeout_s`` seconds: a machine busy with browser tests can take more than ten to start a broker)."""
        if self.broker is not None:
            await self.broker.start()
        if self.ftps is not None:
            self.ftps.start()
        self._link_task = asyncio.create_task(self._link(), name=f"sim-bambu-link-{self.serial}")
        self._report_task = asyncio.create_task(self._report_loop(), name=f"sim-bambu-report-{self.serial}")
        await within(self._connected.wait(), timeout_s)

    async def stop(self) -> None:
        """Stop reporting, leave the broker, and stop the broker if owned."""
        tasks = [task for task in (self._report_task, self._link_task) if task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a cancelled MQTT client may wait on a broker that no longer answers to say goodbye.
            await asyncio.wait(tasks, timeout=5.0)
        self._report_task = self._link_task = None
        if self.ftps is not None:
            self.ftps.stop()
        if self.broker is not None:
            await self.broker.stop()

    @property
    def ftps_port(self) -> int:
        """The port of the printer's implicit-FTPS server (990 on a real printer); ValueError when it has none."""
        if self.ftps is None:
            raise ValueError(f"simulated printer {self.serial} has no FTPS server")
        return self.ftps.port

    async def wait_connected(self, timeout_s: float = 10.0) -> None:
        """Wait until the firmware client is (again) connected to the broker."""
        await within(self._connected.wait(), timeout_s)

    def _tls(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # the printer talking to itself: nothing to verify
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    async def _link(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    username="bblp",
                    password=self.access_code,
                    identifier=f"sim-{self.serial}",
                    tls_context=self._tls(),
                    keepalive=30,
                ) as client:
                    await client.subscribe(request_topic(self.serial), qos=1)
                    self._client = client
                    self._connected.set()
                    if self._published is None:  # just booted: announce everything once
                        await self._publish_full()
                    async for message in client.messages:
                        await self._on_request(message.payload)
            except aiomqtt.MqttError:
                pass
            finally:
                self._client = None
                self._connected.clear()
            await asyncio.sleep(0.1)

    async def _report_loop(self) -> None:
        while True:
            await asyncio.sleep(self.report_interval_s)
            await self._publish_changes()

    # -- rendering -------------------------------------------------------------------------------------------

    def _render(self) -> dict[str, Any]:
        """The full ``print`` object as the firmware would push it now."""
        now = time.monotonic()
        job = self.print
        started = self._started
        phase = job.tick(now) if job is not None else SimPhase.IDLE
        active = phase in (SimPhase.PREPARING, SimPhase.PRINTING, SimPhase.PAUSED)
        nozzle_target, bed_target = (220.0, 60.0) if active else (0.0, 0.0)
        if phase is SimPhase.PREPARING and job is not None:
            warm = min(1.0, (now - job.started_at - job.paused_total) / max(job.prepare_s, 0.001))
            nozzle = _ROOM_C + (nozzle_target - _ROOM_C) * warm
            bed = _ROOM_C + (bed_target - _ROOM_C) * warm
            stage = 2 if warm < 0.5 else 1
        elif active:
            nozzle = nozzle_target + self._rng.uniform(-0.3, 0.3)
            bed = bed_target + self._rng.uniform(-0.2, 0.2)
            stage = 16 if phase is SimPhase.PAUSED else 0
        else:
            nozzle = bed = _ROOM_C
            stage = -1
        # float residue makes a finished print 99.99999 %; the printer shows 100
        progress = 100.0 if phase is SimPhase.FINISHED else job.progress(now) if job is not None else 0.0
        used = int(progress / 10) if active or phase is SimPhase.FINISHED else 0
        report: dict[str, Any] = {
            "gcode_state": _GCODE_STATE.get(phase, "IDLE"),
            "mc_percent": int(progress) if job is not None else 0,
            "mc_remaining_time": math.ceil(job.remaining_s(now) / 60) if job is not None and active else 0,
            "layer_num": job.layer(now) if job is not None and phase is not SimPhase.PREPARING else 0,
            "total_layer_num": job.total_layers if job is not None else 0,
            "gcode_file": job.file_name if job is not None else "",
            "subtask_name": stem(job.file_name) if job is not None else "",
            "gcode_file_prepare_percent": "100" if job is not None else "0",
            "stg_cur": stage,
            "mc_print_stage": "2" if active else "1",
            "print_type": "local" if job is not None else "idle",
            "print_error": self._print_error,
            "hms": list(self._hms),
            "task_id": started.task_id if started is not None else "0",
            "subtask_id": started.subtask_id if started is not None else "0",
            "project_id": started.project_id if started is not None else "0",
            "profile_id": "0",
            "nozzle_temper": round(nozzle, 1),
            "nozzle_target_temper": nozzle_target,
            "bed_temper": round(bed, 1),
            "bed_target_temper": bed_target,
            "chamber_temper": 28.0 if active else _ROOM_C,
            "spd_lvl": self.speed_level,
            "spd_mag": _SPEED_MAGNITUDE[self.speed_level],
            "wifi_signal": "-45dBm",
            "sdcard": True,
            "lights_report": [{"node": "chamber_light", "mode": "on"}],
            "ams": self.ams.render(used=used, feeding=phase in (SimPhase.PRINTING, SimPhase.PAUSED), loading=active),
            "vt_tray": self.ams.external(),
        }
        if job is not None:  # the firmware's slot per slicer filament: the sim feeds every print from AMS 0 tray 0
            report["mapping"] = [0]
        if started is not None and job is not None:
            report["gcode_file"] = started.gcode_file  # P1 in LAN mode: the file's name on the SD card
            report["subtask_name"] = started.subtask_name
        if self.send_start_time:
            report["gcode_start_time"] = str(int(job.started_wall)) if job is not None else "0"
        return report

    # -- publishing ------------------------------------------------------------------------------------------

    async def _publish(self, payload: dict[str, Any] | bytes) -> None:
        client = self._client
        if client is None:
            return  # like a printer whose network is down: nobody hears it
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        with contextlib.suppress(aiomqtt.MqttError):
            await client.publish(report_topic(self.serial), body, qos=0)

    def _envelope(self, fields: dict[str, Any]) -> dict[str, Any]:
        self._push_sequence += 1
        return {"print": {"command": "push_status", "msg": 1, "sequence_id": str(self._push_sequence), **fields}}

    async def _publish_full(self) -> None:
        async with self._lock:
            self._published = self._render()
            envelope = self._envelope(self._published)
            envelope["print"]["msg"] = 0
            await self._publish(envelope)

    async def _publish_changes(self) -> None:
        """Publish what changed since the last report (even unheard: the printer does not know who listens)."""
        async with self._lock:
            if self._published is None:
                return  # booting: the link announces the full state once it is connected
            current = self._render()
            changes = _diff(self._published, current)
            self._published = current
            if changes:
                await self._publish(self._envelope(changes))

    # -- requests from clients -------------------------------------------------------------------------------

    async def _reply(self, kind: str, body: dict[str, Any], *, ok: bool, reason: str = "") -> None:
        reply = {**body, "result": "success" if ok else "failed"}
        if reason:
            reply["reason"] = reason
        await self._publish({kind: reply})

    async def _on_request(self, raw: Any) -> None:
        try:
            request = json.loads(raw)
        except (TypeError, ValueError):
            self.log.debug("sim.bambu_bad_request")
            return
        if type(request) is not dict:
            return
        self.commands_received.append(request)
        if type(pushing := request.get("pushing")) is dict and pushing.get("command") == "pushall":
            await self._publish_full()
        elif type(info := request.get("info")) is dict and info.get("command") == "get_version":
            module = [{"name": "ota", "sw_ver": "01.08.02.00", "hw_ver": "", "sn": self.serial}]
            await self._reply("info", {**info, "module": module}, ok=True)
        elif type(body := request.get("print")) is dict:
            if body.get("command") in ("project_file", "gcode_file"):
                if self._obey_start(body):
                    await self._reply("print", body, ok=True)
            else:
                ok, reason = self._act(body)
                await self._reply("print", body, ok=ok, reason=reason)
            await self._publish_changes()

    def _act(self, body: dict[str, Any]) -> tuple[bool, str]:
        command = body.get("command")
        job = self.print
        if command == "pause":
            return (job is not None and job.pause(), "nothing to pause")
        if command == "resume":
            return (job is not None and job.resume(), "not paused")
        if command == "stop":
            return (self._end(SimPhase.CANCELLED), "nothing to stop")
        if command == "print_speed":
            level = str(body.get("param", ""))
            if job is None or level not in ("1", "2", "3", "4"):
                return False, "nothing printing" if job is None else f"no speed level {level!r}"
            self.speed_level = int(level)
            return True, ""
        return False, f"unsupported command {command!r}"

    def _obey_start(self, body: dict[str, Any]) -> bool:
        """Start printing what ``body`` (``project_file`` or ``gcode_file``) names; False when ignored, as
        firmware ignores a start while busy (it shows HMS 0500_4004 and keeps printing) or for a missing file."""
        self.start_commands.append(dict(body))
        if self.drop_starts > 0:
            self.drop_starts -= 1
            self.log.info("sim.bambu_start_dropped", command=body.get("command"))
            return False
        if self.print is not None and self.print.active:
            self.log.info("sim.bambu_start_ignored", reason="busy", command=body.get("command"))
            return False
        pacing = Pacing(
            speed_factor=self.speed_factor, min_print_s=self.min_print_s, default_duration_s=self.default_duration_s
        )
        try:
            planned = plan_start(body, sd_root=self.ftps.root if self.ftps is not None else None, pacing=pacing)
        except StartIgnored as exc:
            self.log.info("sim.bambu_start_ignored", reason=str(exc), command=body.get("command"))
            return False
        if self.start_latency_s > 0:  # the firmware fetches and parses the file before it reports anything
            asyncio.get_running_loop().call_later(self.start_latency_s, self._begin_planned, planned)
        else:
            self._begin_planned(planned)
        return True

    def _begin_planned(self, planned: PlannedPrint) -> None:
        self._begin(
            planned.gcode_file,
            duration_s=planned.duration_s,
            total_layers=planned.total_layers,
            prepare_s=self.prepare_s,
        )
        self._started = planned
        self.log.info("sim.bambu_start_obeyed", file=planned.gcode_file, duration_s=round(planned.duration_s, 2))

    def _begin(self, file_name: str, *, duration_s: float, total_layers: int, prepare_s: float) -> None:
        self._print_error = 0
        self.speed_level = 2
        self._hms = []
        self._started = None
        self.print = SimPrint(
            file_name=file_name, duration_s=duration_s, prepare_s=prepare_s, total_layers=total_layers
        )

    def _end(self, phase: SimPhase) -> bool:
        if self.print is None or not self.print.end(phase):
            return False
        if phase is SimPhase.CANCELLED:
            self._print_error = CANCELLED_PRINT_ERROR
        else:
            self._print_error = FAILURE_PRINT_ERROR
            self._hms = [{"attr": 0x03000200, "code": 0x0001000A}]
        return True

    # -- scenario controls (SimulatedPrinter protocol) -------------------------------------------------------

    async def start_print(
        self, file_name: str, *, duration_s: float = 60.0, total_layers: int = 100, prepare_s: float | None = None
    ) -> None:
        """Start ``file_name`` as if from the printer's screen: PREPARE for ``prepare_s``, RUNNING, FINISH. The
        project file is on the SD card as a slicer's "send" leaves it (``cache/<name>.gcode.3mf``, one plate of
        ``total_layers`` layers using AMS tray 0's filament; see :func:`screen_print_3mf`), unless one is there."""
        if self.ftps is not None:
            self._leave_project_file(file_name, duration_s=duration_s, total_layers=total_layers)
        self._begin(
            file_name,
            duration_s=duration_s,
            total_layers=total_layers,
            prepare_s=self.prepare_s if prepare_s is None else prepare_s,
        )
        await self._publish_changes()

    def _leave_project_file(self, file_name: str, *, duration_s: float, total_layers: int) -> None:
        assert self.ftps is not None
        name = stem(file_name) + ".gcode.3mf"
        cache = self.ftps.root / "cache"
        if (self.ftps.root / name).exists() or (cache / name).exists():
            return
        cache.mkdir(parents=True, exist_ok=True)
        tray = self.ams.trays[0]
        content = screen_print_3mf(
            material=tray.kind or "PLA",
            color="#" + (tray.color or "FFFFFFFF")[:6],
            duration_s=duration_s,
            layers=total_layers,
        )
        (cache / name).write_bytes(content)

    async def pause(self) -> None:
        """Pause from the screen (PAUSE, stg_cur 16, ``print_error`` 0x03008001 "paused by the user": the code the
        firmware shows for a person's own pause, which bambuddy drops as an echo, not a fault)."""
        if self.print is not None:
            self.print.pause()
        self._print_error = USER_PAUSE_PRINT_ERROR
        await self._publish_changes()

    async def resume(self) -> None:
        """Resume from the screen (the error shown, if any, is acknowledged)."""
        if self.print is not None:
            self.print.resume()
        self._hms = []
        if self._print_error == USER_PAUSE_PRINT_ERROR:
            self._print_error = 0
        await self._publish_changes()

    async def show_hms(self, attr: int, code: int) -> None:
        """Show the HMS entry ``{"attr": attr, "code": code}`` besides those shown (module, unit and part in ``attr``,
        level and message in ``code``: Bambu Studio ``DevHMS.cpp``); it stays until the print is resumed or ends."""
        self._hms = [*self._hms, {"attr": attr, "code": code}]
        await self._publish_changes()

    async def run_out(self, tray_id: int = 0) -> None:
        """AMS 0 slot ``tray_id`` (0-3) runs out: the print pauses and the printer shows the HMS runout code
        ``0700_2000_0002_000N`` (N the slot, 1-4), as the firmware reports a runout (ha-bambulab#489: an HMS error,
        not a stage)."""
        if self.print is not None:
            self.print.pause()
        self._hms = [{"attr": 0x07002000, "code": 0x00020000 | (tray_id + 1)}]
        await self._publish_changes()

    async def cancel(self) -> None:
        """Cancel from the screen: FAILED with print_error 50348044, as a real stop shows."""
        self._end(SimPhase.CANCELLED)
        await self._publish_changes()

    async def fail(self) -> None:
        """Fail the print: FAILED with :data:`FAILURE_PRINT_ERROR` and one HMS entry."""
        self._end(SimPhase.FAILED)
        await self._publish_changes()

    async def set_ams_tray(
        self, tray_id: int, *, tray_type: str | None = None, color: str | None = None, remain: int | None = None
    ) -> None:
        """Change AMS 0 slot ``tray_id`` (0-3); the next report names only that tray's changed fields."""
        self.ams.set_tray(tray_id, tray_type=tray_type, color=color, remain=remain)
        await self._publish_changes()

    async def remove_ams_tray(self, tray_id: int) -> None:
        """Take the spool out of AMS 0 slot ``tray_id`` (see :meth:`SimulatedAms.remove`)."""
        self.ams.remove(tray_id)
        await self._publish_changes()

    async def insert_ams_tray(
        self, tray_id: int, *, tray_type: str, color: str, remain: int = 100, rfid: bool = True, sub_brand: str = ""
    ) -> str | None:
        """Put a spool in AMS 0 slot ``tray_id`` (see :meth:`SimulatedAms.insert`); its ``tray_uuid`` or None. The
        next report carries the whole tray (the firmware reports the tag it has just read)."""
        uuid = self.ams.insert(tray_id, tray_type=tray_type, color=color, remain=remain, rfid=rfid, sub_brand=sub_brand)
        async with self._lock:
            if self._published is not None:  # the tag just read is reported whole, not as a difference
                self._published["ams"]["ams"][0]["tray"][tray_id] = {"id": str(tray_id)}
        await self._publish_changes()
        return uuid

    async def disconnect(self, seconds: float) -> None:
        """Drop off the network for ``seconds`` and come back; returns when back. Printing goes on meanwhile.

        With its own broker, the broker goes down (connections cut, new ones refused). On a shared broker only
        this printer's firmware client leaves, so clients see silence (their watchdog's case) instead. Its FTPS
        server is off the network for the same time (open transfers cut, new connections refused).
        """
        if self.ftps is not None:
            self.ftps.go_offline(seconds)
        if self.broker is not None:
            await self.broker.restart(down_s=seconds)
            await self.wait_connected()
            return
        if self._link_task is not None:
            self._link_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._link_task
        await asyncio.sleep(seconds)
        self._link_task = asyncio.create_task(self._link(), name=f"sim-bambu-link-{self.serial}")
        await self.wait_connected()

    async def restart(self, *, boot_s: float = 0.0) -> None:
        """Reboot: the print is lost, the printer comes back IDLE and pushes its full state once."""
        async with self._lock:
            self.print = None
            self._started = None
            self._print_error = 0
            self._hms = []
            self._published = None
        if self.broker is not None:
            await self.broker.restart(down_s=boot_s)
        elif self._client is not None:
            await self._publish_full()
        await self.wait_connected()

    async def send_raw(self, payload: bytes) -> None:
        """Publish ``payload`` unchanged on the report topic (malformed-message tests)."""
        await self._publish(payload)

    async def push_all(self) -> None:
        """Publish the whole state again, as the answer to a ``pushall`` (an X1 sends it all the time)."""
        await self._publish_full()

    async def send_placeholder(self) -> None:
        """Publish what some firmwares send right after a reconnect: empty ``gcode_state`` and ``subtask_name``."""
        await self._publish(self._envelope({"gcode_state": "", "subtask_name": "", "gcode_file": "", "mc_percent": 0}))


class BambuFarm:
    """Starts ``count`` simulated Bambu printers as an async context manager (demo, tests, benchmarks).

    Faithful mode (default): one mosquitto per printer, own port, certificate CN = serial, own 8-digit access
    code. ``shared_broker=True``: one mosquitto for all, one access code, one certificate naming every serial in
    subjectAltName (so strict clients still pass their serial check). Files go to ``workdir`` or a temporary
    directory removed on exit. Serials are ``01S00C000000001`` upwards; ids ``<id_prefix>-1`` upwards. With
    ``ftps`` (default) each printer also serves implicit FTPS on its own port (``printer.ftps_port``) with its own
    certificate (CN = serial) and access code, storing uploads under ``<workdir>/<serial>/sd``; remote starts print
    those files ``speed_factor`` times faster than the slicer predicted.
    Raises :class:`printfleet.sim.mqtt_broker.BrokerError` when mosquitto is missing or does not start.
    """

    def __init__(
        self,
        count: int = 1,
        *,
        workdir: Path | None = None,
        shared_broker: bool = False,
        report_interval_s: float = 1.0,
        default_duration_s: float = 60.0,
        prepare_s: float = 1.0,
        id_prefix: str = "sim-bambu",
        mosquitto: str | None = None,
        ftps: bool = True,
        speed_factor: float = 60.0,
    ) -> None:
        self.count = count
        self.speed_factor = speed_factor
        self.ftps = ftps
        self.shared_broker = shared_broker
        self._workdir = workdir
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self.report_interval_s = report_interval_s
        self.default_duration_s = default_duration_s
        self.prepare_s = prepare_s
        self._id_prefix = id_prefix
        self._mosquitto = mosquitto
        self.printers: list[SimulatedBambuPrinter] = []
        self.shared: MosquittoBroker | None = None
        self.ca_file = Path()

    def printer_configs(self) -> list[PrinterConfig]:
        """One bambu :class:`PrinterConfig` per simulated printer, verifying against the farm's CA."""
        return [printer.printer_config() for printer in self.printers]

    def __getitem__(self, index: int) -> SimulatedBambuPrinter:
        return self.printers[index]

    def __len__(self) -> int:
        return len(self.printers)

    def _build(self, root: Path) -> None:
        authority = SimCertificateAuthority.create()
        self.ca_file = authority.write_ca(root / "ca.pem")
        serials = [f"01S00C{n:09d}" for n in range(1, self.count + 1)]
        shared_code = f"{secrets.randbelow(10**8):08d}"
        if self.shared_broker:
            files = authority.issue("printfleet-sim-shared", directory=root / "certs", name="shared", dns_names=serials)
            self.shared = MosquittoBroker(
                workdir=root / "shared",
                cert_file=files.cert_file,
                key_file=files.key_file,
                users={"bblp": shared_code},
                binary=self._mosquitto,
            )
        for n, serial in enumerate(serials, start=1):
            code = shared_code if self.shared else f"{secrets.randbelow(10**8):08d}"
            broker = self.shared
            own: MosquittoBroker | None = None
            if broker is None or self.ftps:
                files = authority.issue(serial, directory=root / "certs", name=serial)
            if broker is None:
                own = broker = MosquittoBroker(
                    workdir=root / serial,
                    cert_file=files.cert_file,
                    key_file=files.key_file,
                    users={"bblp": code},
                    binary=self._mosquitto,
                )
            self.printers.append(
                SimulatedBambuPrinter(
                    printer_id=f"{self._id_prefix}-{n}",
                    serial=serial,
                    access_code=code,
                    port=broker.port,
                    ca_file=self.ca_file,
                    broker=own,
                    report_interval_s=self.report_interval_s,
                    default_duration_s=self.default_duration_s,
                    prepare_s=self.prepare_s,
                    speed_factor=self.speed_factor,
                    ftps=SimulatedBambuFtps(cert=files, access_code=code, root=root / serial / "sd")
                    if self.ftps
                    else None,
                )
            )

    async def __aenter__(self) -> BambuFarm:
        if self._workdir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="printfleet-bambu-")
            root = Path(self._tempdir.name)
        else:
            root = self._workdir
            root.mkdir(parents=True, exist_ok=True)
        try:
            self._build(root)
            if self.shared is not None:
                await self.shared.start()
            await asyncio.gather(*(printer.start() for printer in self.printers))
        except BaseException:
            await self._close()
            raise
        return self

    async def _close(self) -> None:
        await asyncio.gather(*(printer.stop() for printer in self.printers), return_exceptions=True)
        if self.shared is not None:
            await self.shared.stop()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close()

    def by_serial(self, serial: str) -> SimulatedBambuPrinter:
        """The printer with ``serial``; KeyError when none."""
        for printer in self.printers:
            if printer.serial == serial:
                return printer
        raise KeyError(serial)

    @property
    def serials(self) -> Sequence[str]:
        """Serials of the farm's printers, in order."""
        return [printer.serial for printer in self.printers]
