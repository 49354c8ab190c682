"""A simulated Klipper printer behind Moonraker: its JSON-RPC websocket and file upload on a loopback port.

Enough of Moonraker 0.11.0 for the adapter and the demo, shaped like frames captured from a real Moonraker with a
batch-mode Klippy (research moonraker-auth-scale.md A1, samples/moonraker/):

- ``/websocket``: JSON-RPC 2.0. ``server.connection.identify`` (once per connection; one ``agent`` per
  ``client_name``: a second gets ``400 "Agent '<name>' already registered and connected'"``), ``server.info``
  (``klippy_state: ready``), ``printer.objects.subscribe``/``query`` (full status in the answer; a new subscribe
  replaces the old), ``printer.print.start``/``pause``/``resume``/``cancel`` (``"ok"``; ``400 "SD busy"`` and
  ``400 "Unable to open file"`` as Klipper refuses), ``server.history.list``.
- ``notify_status_update`` every 250 ms at most with only the fields that changed, nested objects included;
  ``notify_history_changed`` ``added`` for each new print (hex ``job_id``, ``start_time``).
- ``POST /server/files/upload``: multipart ``file``, ``print``, ``checksum`` (SHA-256, 422 on a mismatch); ``201``
  with ``print_started``; 403 for the file being printed. An uploaded file prints for its predicted time divided by
  ``speed_factor`` (:mod:`printfleet.sim.uploads`).
- ``print_stats`` keeps the last print's state and file name until the next print, as Klipper does.

Usage::

    async with SimulatedMoonrakerPrinter("voron") as sim:
        config = sim.printer_config()          # PrinterConfig for MoonrakerConnection
        await sim.start_print("benchy.gcode", duration_s=5)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import time
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from printfleet.domain.printer import PrinterConfig, PrinterKind
from printfleet.sim.base import SimPhase, SimPrint
from printfleet.sim.http_server import HttpSimulatorNetwork
from printfleet.sim.uploads import GCODE_SUFFIXES, timing_of

log = structlog.get_logger("printfleet.sim.moonraker")

UPDATE_INTERVAL_S = 0.25
"""Klippy's subscription refresh (``webhooks.py`` ``SUBSCRIPTION_REFRESH_TIME``), seconds."""

NOZZLE_TARGET_C = 215.0
BED_TARGET_C = 60.0
AMBIENT_C = 22.0

_PRINT_STATE = {
    SimPhase.PREPARING: "printing",
    SimPhase.PRINTING: "printing",
    SimPhase.PAUSED: "paused",
    SimPhase.FINISHED: "complete",
    SimPhase.CANCELLED: "cancelled",
    SimPhase.FAILED: "error",
}


class RpcError(Exception):
    """A JSON-RPC error answer: ``code`` (HTTP status reused, as Moonraker does) and ``message``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def delta_of(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``new`` that differ from ``old``, nested objects compared field by field."""
    out: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            nested = delta_of(before, value)
            if nested:
                out[key] = nested
        elif key not in old or before != value:
            out[key] = value
    return out


class SimulatedMoonrakerPrinter(HttpSimulatorNetwork):
    """Moonraker on ``127.0.0.1:<port>`` implementing :class:`printfleet.sim.base.SimulatedPrinter`.

    ``port=None`` takes a free port at :meth:`start`, kept across :meth:`disconnect` and :meth:`restart`.
    ``remote_print_duration_s`` is how long a file without a predicted time prints (seconds); ``speed_factor``
    divides an uploaded file's predicted time; ``reboot_s`` is how long :meth:`restart` stays off the network.
    :attr:`spoolman_linked` makes it answer ``server.spoolman.status`` as a Moonraker with a ``[spoolman]`` section.
    """

    def __init__(
        self,
        printer_id: str = "moonraker-sim",
        *,
        name: str | None = None,
        port: int | None = None,
        remote_print_duration_s: float = 60.0,
        speed_factor: float = 1.0,
        reboot_s: float = 0.5,
    ) -> None:
        self.printer_id = printer_id
        self.spoolman_linked = False  # a [spoolman] section: server.spoolman.status answers
        self.name = name or printer_id
        self.remote_print_duration_s = remote_print_duration_s
        self.speed_factor = speed_factor
        self.reboot_s = reboot_s
        self.files: dict[str, tuple[float | None, int]] = {}
        self.current: SimPrint | None = None
        self.message = ""
        self.history: list[dict[str, Any]] = []
        self._job_ids = itertools.count(1)
        self._agents: set[str] = set()
        self._init_network(self._build_app(), port=port)

    def printer_config(self) -> PrinterConfig:
        """How printfleet reaches this printer: ``url`` http://127.0.0.1:PORT, trusted (no API key)."""
        return PrinterConfig(id=self.printer_id, name=self.name, kind=PrinterKind.MOONRAKER, url=self.url)

    # --- scenario controls (SimulatedPrinter) ---------------------------------------------------------------

    async def start_print(self, file_name: str, *, duration_s: float = 60.0, total_layers: int = 100) -> None:
        """Print ``file_name`` as if started from Mainsail. Raises RuntimeError when a print is under way."""
        if self._active():
            raise RuntimeError(f"{self.printer_id}: SD busy")
        self.files.setdefault(file_name, (duration_s, total_layers))
        self._begin(file_name, duration_s=duration_s, total_layers=total_layers)

    def _begin(self, file_name: str, *, duration_s: float, total_layers: int) -> None:
        job_id = next(self._job_ids)
        self.current = SimPrint(file_name=file_name, duration_s=duration_s, total_layers=total_layers, job_id=job_id)
        self.current.tick()
        self.message = ""
        self.history.insert(0, {"job_id": f"{job_id:06X}", "filename": file_name, "start_time": time.time()})
        log.info("sim.moonraker.print_started", printer_id=self.printer_id, file=file_name)

    def _active(self) -> bool:
        return self.current is not None and self.current.tick() in (
            SimPhase.PREPARING,
            SimPhase.PRINTING,
            SimPhase.PAUSED,
        )

    async def pause(self) -> None:
        """``PAUSE`` from the printer's screen (no-op when nothing prints)."""
        if self.current is not None:
            self.current.pause()

    async def resume(self) -> None:
        """``RESUME`` (no-op when not paused)."""
        if self.current is not None:
            self.current.resume()

    async def cancel(self) -> None:
        """``CANCEL_PRINT``: ``print_stats`` becomes ``cancelled``."""
        if self.current is not None:
            self.current.end(SimPhase.CANCELLED)

    async def fail(self) -> None:
        """The print ends in ``error`` with Klipper's message (a move out of range)."""
        if self.current is not None and self.current.end(SimPhase.FAILED):
            self.message = "Move out of range: 0.000 260.000 0.200 [0.000]"

    async def restart(self) -> None:
        """Reboot the host: off the network for ``reboot_s``; back in ``standby`` with no print."""
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
            self._reconnect_task = None
        await self._server.stop()
        self.current, self.message = None, ""
        self._agents.clear()
        await asyncio.sleep(self.reboot_s)
        await self._server.start()

    # --- printer objects ---------------------------------------------------------------------------------------

    def objects(self) -> dict[str, dict[str, Any]]:
        """Every printer object this simulator knows, in full."""
        job = self.current
        phase = job.tick() if job is not None else None
        heating = phase in (SimPhase.PREPARING, SimPhase.PRINTING)
        stats: dict[str, Any] = {
            "filename": job.file_name if job is not None else "",
            "total_duration": 0.0,
            "print_duration": 0.0,
            "filament_used": 0.0,
            "state": _PRINT_STATE[phase] if phase is not None else "standby",
            "message": self.message,
            "info": {"total_layer": None, "current_layer": None},
        }
        progress = 0.0
        if job is not None:
            now = time.monotonic()
            end = job.ended_at if job.ended_at is not None else now
            stats["total_duration"] = round(max(0.0, end - job.started_at), 3)
            stats["print_duration"] = round(job.elapsed_s(now), 3)
            stats["filament_used"] = round(job.elapsed_s(now) * 12.5, 1)
            stats["info"] = {"total_layer": job.total_layers, "current_layer": job.layer(now)}
            progress = round(job.progress(now) / 100, 4)
        return {
            "print_stats": stats,
            "virtual_sdcard": {
                "progress": progress,
                "is_active": phase in (SimPhase.PREPARING, SimPhase.PRINTING),
                "file_path": f"/home/pi/printer_data/gcodes/{job.file_name}" if self._active() and job else None,
            },
            "display_status": {"progress": progress, "message": None},
            "webhooks": {"state": "ready", "state_message": "Printer is ready"},
            "pause_resume": {"is_paused": phase is SimPhase.PAUSED},
            "idle_timeout": {"state": "Printing" if heating else "Ready"},
            "extruder": {
                "temperature": NOZZLE_TARGET_C - 0.3 if heating else AMBIENT_C,
                "target": NOZZLE_TARGET_C if heating else 0.0,
            },
            "heater_bed": {
                "temperature": BED_TARGET_C - 0.1 if heating else AMBIENT_C,
                "target": BED_TARGET_C if heating else 0.0,
            },
        }

    def _selected(self, wanted: dict[str, Any]) -> dict[str, Any]:
        everything = self.objects()
        out: dict[str, Any] = {}
        for name, fields in wanted.items():
            if name not in everything:
                continue
            values = everything[name]
            out[name] = values if fields is None else {k: v for k, v in values.items() if k in fields}
        return out

    # --- JSON-RPC --------------------------------------------------------------------------------------------

    def _rpc(self, method: str, params: dict[str, Any], session: dict[str, Any]) -> Any:
        if method == "server.connection.identify":
            if session.get("identified"):
                raise RpcError(400, f"Connection already identified: {session['identified']}")
            name = str(params.get("client_name", ""))
            if params.get("type") == "agent":
                if name in self._agents:
                    raise RpcError(400, f"Agent '{name}' already registered and connected'")
                self._agents.add(name)
                session["agent"] = name
            session["identified"] = name
            return {"connection_id": id(session)}
        if method == "server.info":
            return {"klippy_connected": True, "klippy_state": "ready", "moonraker_version": "v0.11.0-sim"}
        if method in ("printer.objects.subscribe", "printer.objects.query"):
            wanted = params.get("objects") or {}
            if method == "printer.objects.subscribe":
                session["subscription"] = wanted
                session["sent"] = self._selected(wanted)
                return {"eventtime": time.monotonic(), "status": session["sent"]}
            return {"eventtime": time.monotonic(), "status": self._selected(wanted)}
        if method == "printer.print.start":
            name = str(params.get("filename", ""))
            if self._active():
                raise RpcError(400, "SD busy")
            if name not in self.files:
                raise RpcError(400, "Unable to open file")
            duration, layers = self.files[name]
            self._begin(name, duration_s=duration or self.remote_print_duration_s, total_layers=layers)
            return "ok"
        if method in ("printer.print.pause", "printer.print.resume", "printer.print.cancel"):
            job = self.current
            if job is not None:
                if method == "printer.print.pause":
                    job.pause()
                elif method == "printer.print.resume":
                    job.resume()
                else:
                    job.end(SimPhase.CANCELLED)
            return "ok"
        if method == "server.spoolman.status":
            if not self.spoolman_linked:
                raise RpcError(404, f"Method not found: {method}")
            return {"spoolman_connected": True, "pending_reports": [], "spool_id": None}
        if method == "server.history.list":
            return {"count": len(self.history), "jobs": self.history[: int(params.get("limit", 50))]}
        raise RpcError(404, f"Method not found: {method}")

    async def _websocket(self, socket: WebSocket) -> None:
        await socket.accept()
        session: dict[str, Any] = {}
        pusher = asyncio.create_task(self._push(socket, session))
        try:
            while True:
                request = json.loads(await socket.receive_text())
                try:
                    answer = {"result": self._rpc(request["method"], request.get("params") or {}, session)}
                except RpcError as exc:
                    answer = {"error": {"code": exc.code, "message": exc.message}}
                await socket.send_text(json.dumps({"jsonrpc": "2.0", **answer, "id": request.get("id")}))
        except (WebSocketDisconnect, ValueError, KeyError, TypeError):
            pass
        finally:
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pusher
            if "agent" in session:
                self._agents.discard(session["agent"])

    async def _push(self, socket: WebSocket, session: dict[str, Any]) -> None:
        """Send what changed in the subscribed objects, every :data:`UPDATE_INTERVAL_S` seconds at most."""
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                await asyncio.sleep(UPDATE_INTERVAL_S)
                wanted = session.get("subscription")
                if not wanted:
                    continue
                now = self._selected(wanted)
                delta = delta_of(session.get("sent", {}), now)
                session["sent"] = now
                if delta:
                    frame = {"jsonrpc": "2.0", "method": "notify_status_update", "params": [delta, time.monotonic()]}
                    await socket.send_text(json.dumps(frame))
                if self.history and session.get("announced") != self.history[0]["job_id"]:
                    session["announced"] = self.history[0]["job_id"]
                    job = {**self.history[0], "status": "in_progress", "user": "_TRUSTED_USER_"}
                    note = {
                        "jsonrpc": "2.0",
                        "method": "notify_history_changed",
                        "params": [{"action": "added", "job": job}],
                    }
                    await socket.send_text(json.dumps(note))

    # --- HTTP ------------------------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        return Starlette(
            routes=[
                WebSocketRoute("/websocket", self._websocket),
                Route("/server/files/upload", self._upload, methods=["POST"]),
            ]
        )

    async def _upload(self, request: Request) -> Response:
        form = await request.form()
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str) or not upload.filename:
                return JSONResponse({"error": {"code": 400, "message": "No file"}}, status_code=400)
            name = upload.filename.strip("/")
            if not name.lower().endswith(GCODE_SUFFIXES):
                return JSONResponse({"error": {"code": 400, "message": "Invalid file extension"}}, status_code=400)
            content = await upload.read()
            expected = str(form.get("checksum", "")).lower()
            if expected and hashlib.sha256(content).hexdigest() != expected:
                message = "File checksum mismatch"
                return JSONResponse({"error": {"code": 422, "message": message}}, status_code=422)
            if self._active() and self.current is not None and self.current.file_name == name:
                return JSONResponse({"error": {"code": 403, "message": "Forbidden"}}, status_code=403)
            await upload.seek(0)
            timing = timing_of(
                name, upload.file, speed_factor=self.speed_factor, default_s=self.remote_print_duration_s
            )
            wants_print = str(form.get("print", "")).lower() == "true"
        finally:
            await form.close()
        self.files[name] = (timing.duration_s, timing.total_layers)
        started = wants_print and not self._active()
        if started:
            self._begin(name, duration_s=timing.duration_s, total_layers=timing.total_layers)
        body = {
            "item": {"path": name, "root": "gcodes", "size": len(content), "modified": time.time()},
            "action": "create_file",
            "print_started": started,
            "print_queued": False,
        }
        return JSONResponse(body, status_code=201)
