"""A simulated OctoPrint server with one printer: the REST API of OctoPrint 1.11 on a loopback port.

Enough of ``docs/api/*.rst`` for the OctoPrint adapter and the demo, with what the real server does at the edges
(checked against OctoPrint 1.11.8 and its virtual printer):

- Every ``/api`` call needs the API key in ``X-Api-Key`` (or ``?apikey=``): otherwise 403 ``{"error": ...}``.
- ``GET /api/printer``: state text and flags, temperatures ``tool0`` and ``bed`` (°C); **409** while the printer
  is not connected (after :meth:`~SimulatedOctoPrintPrinter.fail`, or a ``disconnect`` connection command).
- ``GET /api/job``: always 200; the selected file, ``progress.completion`` (%), ``printTime`` and
  ``printTimeLeft`` (s). After a print is done the file stays selected at 100 %; a cancel resets the progress
  to null and keeps the file selected (as 1.11.8 does).
- ``POST /api/job``: ``start``, ``cancel``, ``restart``, ``pause`` with ``action`` pause/resume/toggle; 204, or
  409 when the state does not allow it (the same checks as the real server).
- ``GET``/``POST /api/connection``: ``connect`` and ``disconnect``.
- ``GET /api/files`` and ``POST /api/files/local/{path}`` ``{"command": "select", "print": true}`` for files
  uploaded or added with :meth:`~SimulatedOctoPrintPrinter.add_file` (404 for others).
- ``POST /api/files/local`` multipart upload (``file``, ``select``, ``print``, ``noOverwrite``): 411 without
  ``Content-Length``, 415 for anything but G-code, 409 when it would replace the file being printed (or exists
  with ``noOverwrite``); otherwise 201 with ``effectiveSelect``/``effectivePrint``, which are false (the file
  stored all the same) while printing or not operational, as the real server answers. An uploaded file prints
  for its predicted time divided by ``speed_factor`` (:mod:`printfleet.sim.uploads`).
- No push socket (``/sockjs`` answers 404, so the adapter polls only), no access control beyond the one key.

Times are seconds, temperatures °C, progress %. Usage::

    async with SimulatedOctoPrintPrinter("ender") as sim:
        config = sim.printer_config()          # PrinterConfig for OctoPrintConnection
        await sim.start_print("benchy.gcode", duration_s=5)
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from printfleet.domain.printer import PrinterConfig, PrinterKind, Secret
from printfleet.sim.base import SimPhase, SimPrint
from printfleet.sim.http_server import HttpSimulatorNetwork
from printfleet.sim.uploads import GCODE_SUFFIXES, timing_of

Handler = Callable[[Request], Awaitable[Response]]

log = structlog.get_logger("printfleet.sim.octoprint")

MALFORMED_BODY = b'{"state": {"text": "Print'
"""What the malformed switch serves: a JSON document cut off mid-way."""

AMBIENT_C = 21.3  # the virtual printer's ambientTemperature
NOZZLE_TARGET_C = 210.0
BED_TARGET_C = 60.0

_FLAG_NAMES = (
    "operational",
    "printing",
    "paused",
    "pausing",
    "cancelling",
    "resuming",
    "finishing",
    "ready",
    "error",
    "closedOrError",
    "sdReady",
)


ANALYSED_MM_PER_S = 30.0
"""Filament length, mm per second of print time, that the simulator's "analysis" of a file says it uses."""


@dataclass
class SimFile:
    """A file in the simulated ``local`` storage; ``size`` in bytes, ``date`` epoch seconds; ``duration_s`` how
    long printing it takes in seconds (None: the server's default), over ``total_layers``."""

    name: str
    path: str
    size: int
    date: int
    duration_s: float | None = None
    total_layers: int = 100


def _error(status: int, text: str) -> JSONResponse:
    """OctoPrint's error body ``{"error": text}`` with ``status``."""
    return JSONResponse({"error": text}, status_code=status)


class SimulatedOctoPrintPrinter(HttpSimulatorNetwork):
    """OctoPrint on ``127.0.0.1:<port>`` implementing :class:`printfleet.sim.base.SimulatedPrinter`.

    ``port=None`` takes a free port at :meth:`start`, kept across :meth:`disconnect` and :meth:`restart`.
    ``api_key`` defaults to a random value. ``remote_print_duration_s`` is how long a print started over the API
    lasts when its file predicts no time; ``speed_factor`` divides an uploaded file's predicted time.
    ``reboot_s`` is how long :meth:`restart` keeps the server off the network. ``error_recovery_s`` is how long
    after :meth:`fail` the serial link is connected again, as a user clicking Connect would (None: stays
    disconnected until a ``connect`` command).
    """

    def __init__(
        self,
        printer_id: str = "octoprint-sim",
        *,
        name: str | None = None,
        port: int | None = None,
        api_key: str | None = None,
        poll_interval: float = 5.0,
        remote_print_duration_s: float = 60.0,
        speed_factor: float = 1.0,
        reboot_s: float = 0.5,
        error_recovery_s: float | None = 5.0,
    ) -> None:
        self.printer_id = printer_id
        self.speed_factor = speed_factor
        self.name = name or printer_id
        self._api_key = api_key or secrets.token_hex(16)
        self.poll_interval = poll_interval
        self.remote_print_duration_s = remote_print_duration_s
        self.reboot_s = reboot_s
        self.error_recovery_s = error_recovery_s
        self.files: dict[str, SimFile] = {}
        self.current: SimPrint | None = None
        self.selected: str | None = None
        self.link_up = True
        self.link_error: str | None = None
        self._malformed = 0
        self._background: set[asyncio.Task[None]] = set()
        self.requests_served = 0
        self._init_network(self._build_app(), port=port)

    # --- lifecycle -------------------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Take the server off the network for good (cancels pending reconnects and background work)."""
        for task in self._background:
            task.cancel()
        self._background.clear()
        await super().stop()

    def printer_config(self, *, poll_interval: float | None = None) -> PrinterConfig:
        """How printfleet reaches this server: ``url`` http://127.0.0.1:PORT and its API key."""
        return PrinterConfig(
            id=self.printer_id,
            name=self.name,
            kind=PrinterKind.OCTOPRINT,
            url=self.url,
            api_key=Secret(self._api_key),
            poll_interval=self.poll_interval if poll_interval is None else poll_interval,
        )

    # --- scenario controls (SimulatedPrinter) ---------------------------------------------------------------

    def add_file(self, file_name: str, *, size: int = 1_048_576) -> str:
        """Put ``file_name`` (a path in the ``local`` storage) there if missing; return its path."""
        path = file_name.strip("/")
        self.files.setdefault(path, SimFile(path.rsplit("/", 1)[-1], path, size, int(time.time())))
        return path

    async def start_print(self, file_name: str, *, duration_s: float = 60.0, total_layers: int = 100) -> None:
        """Select and print ``file_name`` (added if missing) as if started from OctoPrint's web page.

        Raises RuntimeError when the printer is not connected or already printing.
        """
        if not self.link_up:
            raise RuntimeError(f"{self.printer_id}: printer not connected")
        if self._active():
            raise RuntimeError(f"{self.printer_id}: already printing {self.selected}")
        self._begin(self.add_file(file_name), duration_s=duration_s, total_layers=total_layers)

    def _begin(self, path: str, *, duration_s: float, total_layers: int = 100) -> None:
        self.selected = path
        self.current = SimPrint(file_name=path, duration_s=duration_s, total_layers=total_layers)
        self.current.tick()
        log.info("sim.octoprint.print_started", printer_id=self.printer_id, file=path)

    def _active(self) -> bool:
        return self.current is not None and self.current.tick() in (
            SimPhase.PREPARING,
            SimPhase.PRINTING,
            SimPhase.PAUSED,
        )

    async def pause(self) -> None:
        """Pause from the web page (no-op when nothing prints)."""
        if self.current is not None:
            self.current.pause()

    async def resume(self) -> None:
        """Resume from the web page (no-op when not paused)."""
        if self.current is not None:
            self.current.resume()

    async def cancel(self) -> None:
        """Cancel from the web page: Operational again, the file stays selected, progress reset."""
        if self.current is not None:
            self.current.end(SimPhase.CANCELLED)

    async def fail(self) -> None:
        """A serial error mid-print: ``Offline after error`` (``/api/printer`` 409), the print is lost.

        The link comes back after ``error_recovery_s`` with the file still selected and no progress.
        """
        if self.current is not None:
            self.current.end(SimPhase.FAILED)
        self.link_up = False
        self.link_error = "Too many consecutive timeouts, printer still connected and alive?"
        if self.error_recovery_s is not None:
            self._spawn(self._reconnect_link(self.error_recovery_s))

    async def _reconnect_link(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.link_up, self.link_error = True, None

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def restart(self) -> None:
        """Restart OctoPrint: off the network for ``reboot_s``; back with no print, nothing selected, the
        printer connected (``serial.autoconnect``). Returns once back online."""
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
            self._reconnect_task = None
        await self._server.stop()
        self.current, self.selected = None, None
        self.link_up, self.link_error = True, None
        await asyncio.sleep(self.reboot_s)
        await self._server.start()

    def set_malformed(self, enabled: bool = True, *, times: int = 1) -> None:
        """Serve the next ``times`` ``/api/printer`` bodies cut off mid-way, then normal bodies again."""
        self._malformed = times if enabled else 0

    # --- rendering -------------------------------------------------------------------------------------------

    def state_text(self) -> str:
        """The state text OctoPrint would show now."""
        if not self.link_up:
            return f"Offline after error: {self.link_error}" if self.link_error else "Offline"
        if self._active() and self.current is not None:
            return "Paused" if self.current.phase is SimPhase.PAUSED else "Printing"
        return "Operational"

    def flags(self) -> dict[str, bool]:
        """``state.flags`` as the real server sets them."""
        active = self.link_up and self._active() and self.current is not None
        paused = active and self.current is not None and self.current.phase is SimPhase.PAUSED
        true = {
            "operational": self.link_up,
            "printing": active and not paused,
            "paused": paused,
            "ready": self.link_up and not active,
            "sdReady": self.link_up,
            "error": self.link_error is not None,
            "closedOrError": not self.link_up,
        }
        return {name: true.get(name, False) for name in _FLAG_NAMES}

    def _temperatures(self) -> dict[str, dict[str, float]]:
        heating = self._active() and self.current is not None and self.current.phase is not SimPhase.PAUSED
        nozzle_target, bed_target = (NOZZLE_TARGET_C, BED_TARGET_C) if heating else (0.0, 0.0)
        nozzle = nozzle_target - 0.4 if heating else AMBIENT_C
        bed = bed_target - 0.2 if heating else AMBIENT_C
        return {
            "tool0": {"actual": round(nozzle, 2), "target": nozzle_target, "offset": 0},
            "bed": {"actual": round(bed, 2), "target": bed_target, "offset": 0},
        }

    def printer_body(self) -> dict[str, object]:
        """The ``/api/printer`` body (only served while the link is up)."""
        return {
            "state": {"text": self.state_text(), "error": "", "flags": self.flags()},
            "temperature": self._temperatures(),
            "sd": {"ready": True},
        }

    @staticmethod
    def _analysis(duration_s: float | None) -> dict[str, object]:
        """``job.filament`` as OctoPrint's G-code analysis gives it, per tool (``{"tool0": {"length": mm, "volume":
        cm³}}``): :data:`ANALYSED_MM_PER_S` of the print's time; unanalysed (nulls) without a selected print."""
        if duration_s is None:
            return {"length": None, "volume": None}
        length = round(duration_s * ANALYSED_MM_PER_S, 1)
        return {"tool0": {"length": length, "volume": round(length * 2.405282 / 1000, 3)}}

    def job_body(self) -> dict[str, object]:
        """The ``/api/job`` body."""
        file = self.files.get(self.selected) if self.selected else None
        completion = print_time = time_left = None
        job = self.current
        if job is not None and job.file_name == self.selected:
            phase = job.tick()
            if phase in (SimPhase.PREPARING, SimPhase.PRINTING, SimPhase.PAUSED):
                completion, print_time, time_left = job.progress(), int(job.elapsed_s()), int(job.remaining_s())
            elif phase is SimPhase.FINISHED:
                completion, print_time, time_left = 100.0, int(job.duration_s), 0
        return {
            "job": {
                "file": {
                    "name": file.name if file else None,
                    "path": file.path if file else None,
                    "origin": "local" if file else None,
                    "size": file.size if file else None,
                    "date": file.date if file else None,
                },
                "estimatedPrintTime": job.duration_s if job is not None and file is not None else None,
                "filament": self._analysis(job.duration_s if job is not None and file is not None else None),
                "user": "printfleet" if file else None,
            },
            "progress": {
                "completion": completion,
                "filepos": None,
                "printTime": print_time,
                "printTimeLeft": time_left,
                "printTimeLeftOrigin": "estimate" if time_left is not None else None,
            },
            "state": self.state_text(),
        }

    # --- HTTP ------------------------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/version", self._guarded(self._version)),
                Route("/api/printer", self._guarded(self._printer)),
                Route("/api/job", self._guarded(self._job), methods=["GET", "POST"]),
                Route("/api/connection", self._guarded(self._connection), methods=["GET", "POST"]),
                Route("/api/files", self._guarded(self._files)),
                Route("/api/files/local", self._guarded(self._upload), methods=["POST"]),
                Route("/api/files/local/{path:path}", self._guarded(self._file_command), methods=["POST"]),
            ]
        )

    def _guarded(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            self.requests_served += 1
            key = request.headers.get("X-Api-Key") or request.query_params.get("apikey")
            # Bytes, not str: compare_digest refuses non-ASCII str (a 500 for a key like "é").
            if key is None or not secrets.compare_digest(key.encode(), self._api_key.encode()):
                return _error(
                    403,
                    "You don't have the permission to access the requested resource. "
                    "It is either read-protected or not readable by the server.",
                )
            return await handler(request)

        return endpoint

    async def _version(self, request: Request) -> Response:
        return JSONResponse({"api": "0.1", "server": "1.11.8", "text": "OctoPrint 1.11.8 (printfleet simulator)"})

    async def _printer(self, request: Request) -> Response:
        if not self.link_up:
            return _error(409, "Printer is not operational")
        if self._malformed > 0:
            self._malformed -= 1
            return Response(MALFORMED_BODY, media_type="application/json")
        return JSONResponse(self.printer_body())

    async def _job(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(self.job_body())
        body = await self._json(request)
        if body is None:
            return _error(400, "Malformed JSON body or wrong content-type in request")
        return self._job_command(body)

    def _job_command(self, body: dict[str, object]) -> Response:
        command = body.get("command")
        if not self.link_up:
            return _error(409, "Printer is not operational")
        job = self.current
        active = self._active()
        if command == "start":
            if active or self.selected is None:
                return _error(409, "Printer is already printing" if active else "No file selected")
            self._begin_file(self.selected)
        elif command == "cancel":
            if not active or job is None:
                return _error(409, "Printer is neither printing nor paused, 'cancel' command cannot be performed")
            job.end(SimPhase.CANCELLED)
        elif command == "restart":
            if job is None or job.phase is not SimPhase.PAUSED:
                return _error(409, "Printer is not paused, 'restart' command cannot be performed")
            job.end(SimPhase.CANCELLED)
            self._begin(job.file_name, duration_s=job.duration_s, total_layers=job.total_layers)
        elif command == "pause":
            if not active or job is None:
                return _error(409, "Printer is neither printing nor paused, 'pause' command cannot be performed")
            action = body.get("action", "toggle")
            if action == "pause" or (action == "toggle" and job.phase is not SimPhase.PAUSED):
                job.pause()
            elif action in ("resume", "toggle"):
                job.resume()
            else:
                return _error(400, f"Unknown action: {action}")
        else:
            return _error(400, f"Unknown command: {command}")
        log.info("sim.octoprint.job_command", printer_id=self.printer_id, command=command)
        return Response(status_code=204)

    async def _connection(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(
                {
                    "current": {
                        "state": self.state_text() if self.link_up else "Closed",
                        "port": "VIRTUAL" if self.link_up else None,
                        "baudrate": 115200 if self.link_up else None,
                        "printerProfile": "_default",
                    },
                    "options": {"ports": ["VIRTUAL"], "baudrates": [115200], "printerProfiles": []},
                }
            )
        body = await self._json(request) or {}
        command = body.get("command")
        if command == "connect":
            self.link_up, self.link_error = True, None
        elif command == "disconnect":
            if self.current is not None:
                self.current.end(SimPhase.FAILED)  # OctoPrint fails a print whose link closes
            self.link_up = False
        else:
            return _error(400, f"Unknown command: {command}")
        return Response(status_code=204)

    async def _files(self, request: Request) -> Response:
        return JSONResponse(
            {
                "files": [
                    {"name": f.name, "path": f.path, "origin": "local", "size": f.size, "date": f.date}
                    for f in self.files.values()
                ],
                "free": 10**10,
                "total": 10**11,
            }
        )

    async def _file_command(self, request: Request) -> Response:
        path = request.path_params["path"]
        if path not in self.files:
            return _error(404, f"File not found on 'local': {path}")
        body = await self._json(request)
        if body is None or body.get("command") != "select":
            return _error(400, "Unknown command")
        if not self.link_up and body.get("print"):
            return _error(409, "Printer is not operational")
        if self._active():
            return _error(409, "Printer is already printing, cannot select a new file")
        self.selected = path
        if body.get("print"):
            self._begin_file(path)
        return Response(status_code=204)

    def _begin_file(self, path: str) -> None:
        file = self.files.get(path)
        if file is None or file.duration_s is None:
            self._begin(path, duration_s=self.remote_print_duration_s)
        else:
            self._begin(path, duration_s=file.duration_s, total_layers=file.total_layers)

    async def _upload(self, request: Request) -> Response:
        if not request.headers.get("content-length", "").isdigit():
            return _error(411, "Length Required")
        form = await request.form()
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str) or not upload.filename:
                return _error(400, "No file to upload and no folder to create")
            path = upload.filename.strip("/").replace(" ", "_")
            if not path.lower().endswith(GCODE_SUFFIXES):
                return _error(415, f'Could not upload the file "{upload.filename}", invalid type')
            if self._active() and self.current is not None and self.current.file_name == path:
                return _error(409, "Trying to overwrite file that is currently being printed")
            if path in self.files and str(form.get("noOverwrite", "")).lower() in ("true", "yes", "1"):
                return _error(409, "File already exists and noOverwrite was set")
            timing = timing_of(
                path, upload.file, speed_factor=self.speed_factor, default_s=self.remote_print_duration_s
            )
            size = upload.size if upload.size is not None else upload.file.seek(0, 2)
        finally:
            await form.close()
        requested = {key: str(form.get(key, "")).lower() in ("true", "yes", "1") for key in ("select", "print")}
        ready = self.link_up and not self._active()
        to_print = requested["print"] and ready
        to_select = (requested["select"] or requested["print"]) and ready
        name = path.rsplit("/", 1)[-1]
        self.files[path] = SimFile(name, path, size, int(time.time()), timing.duration_s, timing.total_layers)
        log.info("sim.octoprint.file_stored", printer_id=self.printer_id, file=path, print=to_print)
        if to_print:
            self._begin_file(path)
        elif to_select:
            self.selected = path
        location = f"{self.url}/api/files/local/{path}"
        body = {
            "files": {"local": {"name": name, "path": path, "origin": "local", "refs": {"resource": location}}},
            "done": True,
            "effectiveSelect": to_select,
            "effectivePrint": to_print,
        }
        return JSONResponse(body, status_code=201, headers={"Location": location})

    @staticmethod
    async def _json(request: Request) -> dict[str, object] | None:
        try:
            value = json.loads(await request.body())
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        return value if isinstance(value, dict) else None
