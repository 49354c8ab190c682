"""A simulated PrusaLink printer: the HTTP API of Prusa-Link-Web ``spec/openapi.yaml`` on a loopback port.

Two shapes, chosen with ``storage_shape``:

- ``"buddy"`` (MK4, Core One, MINI, XL firmware): realm ``Printer API``, Digest without ``qop`` (RFC 2069
  style) and nonces valid 5 s, answered with ``stale=true`` afterwards (Prusa-Firmware-Buddy
  ``valid_nonce_period``, Prusa-Link-Web issue 386); ``status.storage`` is an object ``{"path": "/usb/", ...}``;
  job files have an 8.3 ``name`` and the folder in ``path``; after a print ends the job stays visible (200 on
  ``/api/v1/job`` with state FINISHED/STOPPED/ERROR) until the next print starts, as the printer keeps it until
  the user dismisses the end screen, which nobody does here.
- ``"pi"`` (Prusa-Link on a Raspberry Pi, MK3): realm ``Administrator``, Digest with ``qop="auth"``,
  ``algorithm=MD5`` and ``opaque`` (RFC 7616, MD5), nonces valid 300 s; a wrong ``X-Api-Key`` is a 403
  ``Bad X-Api-Key.``; ``status.storage`` is a list; ``file.path`` is the whole path; the job disappears (204)
  as soon as a print ends while ``printer.state`` keeps FINISHED/STOPPED until the next print
  (prusa3d/Prusa-Link ``state_manager.py``: "the user needs to confirm those manually").

Uploads follow the spec's ``PUT /api/v1/files/{storage}/{path}``: ``Content-Length`` is required (411
without, as Prusa-Link answers), the body must be ``application/octet-stream`` (or ``text/x.gcode``) and a
``.gcode``/``.bgcode`` file (415 otherwise), ``Overwrite: ?1`` replaces a file (409 ``File already exists``
without), one upload at a time (409 ``Already in transfer process``), and the printed file cannot be replaced
(409 ``File is busy``). With ``Print-After-Upload: ?1`` the stored file is printed at once, or, when the printer
is busy, kept with a 409 ``Not in state to print``. The print lasts the file's predicted time divided by
``speed_factor`` (:mod:`printfleet.sim.uploads`). ``GET``/``HEAD`` on a file's path describe it (404 when
absent).

Auth is ``"digest"`` (user ``maker`` and a random password, the Buddy default) or ``"api_key"`` (``X-Api-Key``).
Job ids count up per print, across reboots. A print being prepared shows as PRINTING (Buddy preheats inside
the print). Times are seconds, temperatures °C, progress %. Usage::

    async with SimulatedPrusaLinkPrinter("mk4") as sim:
        config = sim.printer_config()           # PrinterConfig for PrusaLinkConnection
        await sim.start_print("benchy.bgcode", duration_s=5)
"""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from printfleet.domain.printer import PrinterConfig, PrinterKind, Secret
from printfleet.sim.base import SimPhase, SimPrint, SimulatedPrinter
from printfleet.sim.digest import DigestAuthority
from printfleet.sim.http_server import HttpSimulatorNetwork
from printfleet.sim.samples import PNG
from printfleet.sim.uploads import PRUSA_SUFFIXES, new_spool, timing_of

StorageShape = Literal["buddy", "pi"]
AuthMode = Literal["digest", "api_key"]
Handler = Callable[[Request], Awaitable[Response]]

log = structlog.get_logger("printfleet.sim.prusalink")

_RAW_STATE = {
    SimPhase.PREPARING: "PRINTING",
    SimPhase.PRINTING: "PRINTING",
    SimPhase.PAUSED: "PAUSED",
    SimPhase.FINISHED: "FINISHED",
    SimPhase.CANCELLED: "STOPPED",
    SimPhase.FAILED: "ERROR",
}
_LEGACY_TEXT = {
    "IDLE": "Operational",
    "PRINTING": "Printing",
    "PAUSED": "Paused",
    "FINISHED": "Operational",
    "STOPPED": "Operational",
    "ERROR": "Error",
}
# What the malformed-body switch serves: a JSON document cut off mid-way, as a dropped Wi-Fi frame would.
MALFORMED_BODY = b'{"printer": {"state": "PRINT'


def _error(status: int, title: str, text: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The spec's ``Error`` body (``title``, ``text``) with ``status``."""
    return JSONResponse({"title": title, "text": text}, status_code=status, headers=headers)


@dataclass
class SimFile:
    """A file on a simulated storage. ``size`` in bytes, ``m_timestamp`` epoch seconds; ``duration_s`` how long
    printing it takes in seconds (None: the printer's default), over ``total_layers``; ``filament_g`` the slicer's
    estimate the job's ``file.meta`` carries (``"filament used [g]"``; None: no ``meta``, as Buddy may send)."""

    display_name: str
    size: int
    m_timestamp: int
    duration_s: float | None = None
    total_layers: int = 100
    filament_g: float | None = None


def short_name(display_name: str) -> str:
    """The 8.3 name FAT gives a long name, as Buddy shows it: ``benchy_0.2mm.bgcode`` → ``BENCHY~1.BGC``."""
    stem, _, ext = display_name.rpartition(".") if "." in display_name else (display_name, "", "")
    clean = re.sub(r"[^A-Za-z0-9]", "", stem).upper()
    if len(clean) <= 8 and len(ext) <= 3 and clean == stem.upper():
        return display_name.upper()
    return f"{clean[:6]}~1" + (f".{ext[:3].upper()}" if ext else "")


class SimulatedPrusaLinkPrinter(HttpSimulatorNetwork):
    """A PrusaLink printer on ``127.0.0.1:<port>`` implementing :class:`printfleet.sim.base.SimulatedPrinter`.

    ``port=None`` takes a free port at :meth:`start`; it is kept across :meth:`disconnect` and :meth:`restart`.
    ``password``/``api_key`` default to random values. ``nonce_lifetime_s`` defaults to 5 s (buddy) or
    300 s (pi). ``remote_print_duration_s`` is how long a print started over the API lasts when its file
    predicts no time; ``speed_factor`` divides an uploaded file's predicted time. ``reboot_s`` is how long
    :meth:`restart` keeps the printer off the network.
    """

    def __init__(
        self,
        printer_id: str = "prusalink-sim",
        *,
        name: str | None = None,
        port: int | None = None,
        auth: AuthMode = "digest",
        username: str = "maker",
        password: str | None = None,
        api_key: str | None = None,
        storage_shape: StorageShape = "buddy",
        nonce_lifetime_s: float | None = None,
        first_job_id: int = 1,
        poll_interval: float = 5.0,
        remote_print_duration_s: float = 60.0,
        speed_factor: float = 1.0,
        reboot_s: float = 0.5,
    ) -> None:
        self.printer_id = printer_id
        self.speed_factor = speed_factor
        self.name = name or printer_id
        self.auth: AuthMode = auth
        self.username = username
        self._password = password or secrets.token_hex(5)
        self._api_key = api_key or secrets.token_hex(8)
        self.storage_shape: StorageShape = storage_shape
        self.poll_interval = poll_interval
        self.remote_print_duration_s = remote_print_duration_s
        self.reboot_s = reboot_s
        buddy = storage_shape == "buddy"
        self._digest = DigestAuthority(
            username=username,
            password=self._password,
            realm="Printer API" if buddy else "Administrator",
            with_qop=not buddy,
            nonce_lifetime_s=nonce_lifetime_s if nonce_lifetime_s is not None else (5.0 if buddy else 300.0),
        )
        self.storage = "usb" if buddy else "local"
        self.files: dict[str, SimFile] = {}
        self.current: SimPrint | None = None
        self._next_job_id = first_job_id
        self._error = False
        self._malformed = 0
        self._transferring = False
        self._start_on_upload: tuple[str, float] | None = None
        self.requests_served = 0
        self.thumbnail_requests = 0
        self._init_network(self._build_app(), port=port)

    # --- lifecycle -------------------------------------------------------------------------------------------

    def printer_config(self, *, poll_interval: float | None = None) -> PrinterConfig:
        """How printfleet reaches this printer: host 127.0.0.1, its port, ``maker`` + password or an API key."""
        digest = self.auth == "digest"
        return PrinterConfig(
            id=self.printer_id,
            name=self.name,
            kind=PrinterKind.PRUSALINK,
            host="127.0.0.1",
            port=self.port,
            username=self.username if digest else None,
            password=Secret(self._password) if digest else None,
            api_key=None if digest else Secret(self._api_key),
            poll_interval=self.poll_interval if poll_interval is None else poll_interval,
        )

    # --- scenario controls (SimulatedPrinter) ---------------------------------------------------------------

    async def start_print(self, file_name: str, *, duration_s: float = 60.0, total_layers: int = 100) -> None:
        """Start ``file_name`` (put on the storage root if missing) as if from the printer's screen.

        Raises RuntimeError when a print is under way.
        """
        if self.current is not None and self.current.active:
            raise RuntimeError(f"{self.printer_id}: already printing {self.current.file_name}")
        path = self.add_file(file_name)
        self._begin(path, duration_s=duration_s, total_layers=total_layers)

    def add_file(self, file_name: str, *, size: int = 1_048_576) -> str:
        """Put ``file_name`` (a path inside the storage) on the storage if missing; return its path."""
        path = file_name.strip("/")
        self.files.setdefault(path, SimFile(path.rsplit("/", 1)[-1], size, int(time.time())))
        return path

    def _find_file(self, path: str) -> str | None:
        # Buddy accepts the long name and the 8.3 name a job reports (``BENCHY~1.BGC``).
        if path in self.files:
            return path
        folder, _, name = path.rpartition("/")
        for known, file in self.files.items():
            if known.rpartition("/")[0] == folder and short_name(file.display_name) == name.upper():
                return known
        return None

    def _begin(self, path: str, *, duration_s: float, total_layers: int) -> SimPrint:
        self._error = False
        self.current = SimPrint(
            file_name=path, duration_s=duration_s, total_layers=total_layers, job_id=self._next_job_id
        )
        self._next_job_id += 1
        self.current.tick()
        log.info("sim.prusalink.print_started", printer_id=self.printer_id, job_id=self.current.job_id, file=path)
        return self.current

    async def pause(self) -> None:
        """Pause from the screen (no-op when nothing prints)."""
        if self.current is not None:
            self.current.pause()

    async def resume(self) -> None:
        """Resume from the screen (no-op when not paused)."""
        if self.current is not None:
            self.current.resume()

    async def cancel(self) -> None:
        """Stop from the screen: the printer shows STOPPED."""
        if self.current is not None:
            self.current.end(SimPhase.CANCELLED)

    async def fail(self) -> None:
        """A printer error (thermal runaway, say): state ERROR until the next print or a restart."""
        self._error = True
        if self.current is not None:
            self.current.end(SimPhase.FAILED)

    async def restart(self) -> None:
        """Reboot: off the network for ``reboot_s``, the print is lost, back idle. Returns once back online."""
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
            self._reconnect_task = None
        await self._server.stop()
        self.current = None
        self._error = False
        await asyncio.sleep(self.reboot_s)
        await self._server.start()

    def start_during_next_upload(self, file_name: str, *, duration_s: float = 60.0) -> None:
        """Someone starts ``file_name`` at the printer while the next upload is arriving: the printer is busy when
        that upload's file is stored (so ``Print-After-Upload`` gets 409 with the file kept)."""
        self._start_on_upload = (file_name, duration_s)

    def set_malformed(self, enabled: bool = True, *, times: int = 1) -> None:
        """Serve the next ``times`` ``/api/v1/status`` bodies cut off mid-way, then normal bodies again."""
        self._malformed = times if enabled else 0

    # --- rendering -------------------------------------------------------------------------------------------

    def raw_state(self) -> str:
        """``printer.state`` as the printer would report it now."""
        if self._error:
            return "ERROR"
        if self.current is None:
            return "IDLE"
        return _RAW_STATE[self.current.tick()]

    def _job_visible(self) -> bool:
        if self.current is None:
            return False
        return self.current.active or self.storage_shape == "buddy"

    def _temperatures(self) -> dict[str, float]:
        heating = self.current is not None and self.current.tick() in (SimPhase.PREPARING, SimPhase.PRINTING)
        nozzle, bed = (215.0, 60.0) if heating else (0.0, 0.0)
        return {
            "temp_nozzle": nozzle - 0.3 if heating else 24.1,
            "target_nozzle": nozzle,
            "temp_bed": bed - 0.4 if heating else 23.6,
            "target_bed": bed,
        }

    def _storage_entries(self) -> list[dict[str, object]]:
        if self.storage_shape == "buddy":
            return [{"path": "/usb/", "name": "usb", "read_only": False}]
        return [
            {"path": "/local", "name": "PrusaLink gcodes", "read_only": False, "free_space": 28_248_391_680},
            {"path": "/sdcard", "name": "SD Card", "read_only": True},
        ]

    def _job_numbers(self, job: SimPrint) -> dict[str, object]:
        progress = job.progress()
        return {
            "id": job.job_id,
            "progress": round(progress) if self.storage_shape == "buddy" else round(progress, 2),
            "time_remaining": round(job.remaining_s()),
            "time_printing": round(job.elapsed_s()),
        }

    def status_body(self) -> dict[str, object]:
        """The ``/api/v1/status`` body."""
        printer: dict[str, object] = {"state": self.raw_state(), **self._temperatures()}
        printer |= {"axis_z": 0.2, "flow": 100, "speed": 100, "fan_hotend": 0, "fan_print": 0}
        storages = self._storage_entries()
        body: dict[str, object] = {
            "storage": storages[0] if self.storage_shape == "buddy" else storages,
            "printer": printer,
        }
        if self.current is not None and self._job_visible():
            body["job"] = self._job_numbers(self.current)
        return body

    def job_body(self) -> dict[str, object] | None:
        """The ``/api/v1/job`` body, None when the printer answers 204."""
        job = self.current
        if job is None or not self._job_visible():
            return None
        file = self.files.get(job.file_name) or SimFile(job.file_name, 0, 0)
        folder, _, _ = job.file_name.rpartition("/")
        if self.storage_shape == "buddy":
            file_body: dict[str, object] = {
                "name": short_name(file.display_name),
                "display_name": file.display_name,
                "path": f"/{self.storage}" + (f"/{folder}" if folder else ""),
            }
        else:
            full = f"/{self.storage}/{job.file_name}"
            file_body = {"name": file.display_name, "display_name": file.display_name, "path": full}
            file_body["display_path"] = full
        file_body |= {"size": file.size, "m_timestamp": file.m_timestamp}
        file_body["refs"] = {"thumbnail": self._thumbnail_ref(file, job.file_name)}
        if file.filament_g is not None:
            file_body["meta"] = {"filament used [g]": file.filament_g, "filament_type": "PLA"}
        return {"state": self.raw_state(), **self._job_numbers(job), "file": file_body}

    def _thumbnail_ref(self, file: SimFile, path: str) -> str:
        """Where the printer serves the file's preview: Buddy ``/thumb/l/<storage>/<8.3 name>``, the Pi version
        ``/api/thumbnails/<storage>/<path>.orig.png`` (PrusaLink OpenAPI ``PrintFileRefs``)."""
        if self.storage_shape == "buddy":
            return f"/thumb/l/{self.storage}/{short_name(file.display_name)}"
        return f"/api/thumbnails/{self.storage}/{path}.orig.png"

    async def _thumbnail(self, request: Request) -> Response:
        """A preview image (the same small PNG for every file, as its bytes are all a client needs)."""
        self.thumbnail_requests += 1
        return Response(PNG, media_type="image/png")

    # --- HTTP ------------------------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        guard = self._guarded
        routes = [
            Route("/api/version", guard(self._version), methods=["GET"]),
            Route("/api/v1/info", guard(self._info), methods=["GET"]),
            Route("/api/v1/status", guard(self._status), methods=["GET"]),
            Route("/api/v1/job", guard(self._job), methods=["GET"]),
            Route("/api/v1/job/{job_id:int}", guard(self._stop_job), methods=["DELETE"]),
            Route("/api/v1/job/{job_id:int}/{command}", guard(self._job_command), methods=["PUT"]),
            Route("/api/v1/storage", guard(self._storage), methods=["GET"]),
            Route("/api/v1/files/{storage}/{path:path}", guard(self._files), methods=["GET", "HEAD", "PUT", "POST"]),
            Route("/thumb/l/{path:path}", guard(self._thumbnail), methods=["GET"]),
            Route("/api/thumbnails/{path:path}", guard(self._thumbnail), methods=["GET"]),
            Route("/api/printer", guard(self._legacy_printer), methods=["GET"]),
            Route("/api/job", guard(self._legacy_job), methods=["GET"]),
        ]
        return Starlette(routes=routes)

    def _guarded(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            self.requests_served += 1
            denied = self._authenticate(request)
            return denied if denied is not None else await handler(request)

        return endpoint

    def _authenticate(self, request: Request) -> Response | None:
        if self.auth == "api_key":
            key = request.headers.get("x-api-key")
            if key is None:
                return _error(401, "Unauthorized", "X-Api-Key header missing.")
            if not hmac.compare_digest(key.encode(), self._api_key.encode()):
                return Response("Bad X-Api-Key.", status_code=403, media_type="text/plain")
            return None
        # The Digest ``uri`` is the request target exactly as sent (percent-escapes kept).
        raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
        query: bytes = request.scope.get("query_string", b"")
        uri = (raw_path + (b"?" + query if query else b"")).decode("latin-1")
        verdict = self._digest.check(method=request.method, uri=uri, authorization=request.headers.get("authorization"))
        if verdict == "ok":
            return None
        challenge = self._digest.challenge(stale=verdict == "stale")
        return _error(401, "Unauthorized", "Authorization required.", {"WWW-Authenticate": challenge})

    async def _version(self, request: Request) -> Response:
        return JSONResponse(
            {
                "api": "2.0.0",
                "server": "2.1.2",
                "nozzle_diameter": 0.4,
                "text": "PrusaLink",
                "hostname": self.printer_id,
                "capabilities": {"upload-by-put": True},
            }
        )

    async def _info(self, request: Request) -> Response:
        return JSONResponse(
            {"name": self.name, "hostname": self.printer_id, "serial": f"SIM{self.port:05d}", "mmu": False}
        )

    async def _status(self, request: Request) -> Response:
        if self._malformed > 0:
            self._malformed -= 1
            return Response(MALFORMED_BODY, media_type="application/json")
        return JSONResponse(self.status_body())

    async def _job(self, request: Request) -> Response:
        body = self.job_body()
        return Response(status_code=204) if body is None else JSONResponse(body)

    def _current_job(self, job_id: int) -> SimPrint | Response:
        if self.current is None or self.current.job_id != job_id:
            return _error(404, "Not Found", f"Job {job_id} is not the current job.")
        return self.current

    async def _stop_job(self, request: Request) -> Response:
        job = self._current_job(request.path_params["job_id"])
        if isinstance(job, Response):
            return job
        if not job.end(SimPhase.CANCELLED):
            return _error(409, "Conflict", "Not printing.")
        return Response(status_code=204)

    async def _job_command(self, request: Request) -> Response:
        job = self._current_job(request.path_params["job_id"])
        if isinstance(job, Response):
            return job
        command = request.path_params["command"]
        if command == "pause":
            done = job.pause()
        elif command == "resume":
            done = job.resume()
        elif command == "continue":
            done = job.active
        else:
            return _error(404, "Not Found", f"Unknown command {command!r}.")
        return Response(status_code=204) if done else _error(409, "Conflict", f"Cannot {command} now.")

    async def _storage(self, request: Request) -> Response:
        entries = [
            {"type": "USB" if e["path"] == "/usb/" else "LOCAL" if e["path"] == "/local" else "SDCARD"}
            | {"path": e["path"], "name": e["name"], "read_only": e["read_only"], "available": True}
            for e in self._storage_entries()
        ]
        return JSONResponse({"storage_list": entries})

    def _busy(self) -> bool:
        return self._error or (self.current is not None and self.current.active)

    def _begin_file(self, path: str) -> None:
        file = self.files[path]
        duration = self.remote_print_duration_s if file.duration_s is None else file.duration_s
        self._begin(path, duration_s=duration, total_layers=file.total_layers)

    async def _files(self, request: Request) -> Response:
        storage, path = request.path_params["storage"], request.path_params["path"].strip("/")
        if storage != self.storage or not path:
            return _error(404, "Not Found", f"No storage {storage!r} or no path.")
        if request.method == "PUT":
            return await self._upload(request, path)
        found = self._find_file(path)
        if found is None:
            return _error(404, "Not Found", f"No file {path!r}.")
        if request.method in ("GET", "HEAD"):
            return self._file_info(request, found)
        if self._busy():
            return _error(409, "Conflict", "Not in state to print.")
        self._begin_file(found)
        return Response(status_code=204)

    def _file_info(self, request: Request, path: str) -> Response:
        file = self.files[path]
        printing = self.current is not None and self.current.active and self.current.file_name == path
        headers = {"Read-Only": "?0", "Currently-Printed": "?1" if printing else "?0"}
        if request.method == "HEAD":
            return Response(status_code=200, headers=headers)
        body = {
            "name": short_name(file.display_name) if self.storage_shape == "buddy" else file.display_name,
            "display_name": file.display_name,
            "path": f"/{self.storage}/{path}",
            "type": "PRINT_FILE",
            "size": file.size,
            "m_timestamp": file.m_timestamp,
        }
        return JSONResponse(body, headers=headers)

    async def _upload(self, request: Request, path: str) -> Response:
        declared = request.headers.get("content-length")
        if declared is None or not declared.isdigit():
            return _error(411, "Length Required", "Missing Content-Length header.")
        media_type = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip().lower()
        if media_type not in ("application/octet-stream", "text/x.gcode") or not path.lower().endswith(PRUSA_SUFFIXES):
            return _error(415, "Unsupported Media Type", "Only G-Code for FDM printer can be uploaded.")
        if path in self.files and request.headers.get("overwrite") != "?1":
            return _error(409, "Conflict", "File already exists.")
        if self.current is not None and self.current.active and self.current.file_name == path:
            return _error(409, "Conflict", "File is busy.")
        if self._transferring:
            return _error(409, "Conflict", "Already in transfer process: Only one file at time can be transferred.")
        self._transferring = True
        if self._start_on_upload is not None and not self._busy():
            file_name, duration_s = self._start_on_upload
            self._start_on_upload = None
            self._begin(self.add_file(file_name), duration_s=duration_s, total_layers=100)
        try:
            with new_spool() as spool:
                received = 0
                async for chunk in request.stream():
                    received += len(chunk)
                    spool.write(chunk)
                if received != int(declared):
                    return _error(400, "Bad Request", "File Upload Failed.")
                timing = timing_of(path, spool, speed_factor=self.speed_factor, default_s=self.remote_print_duration_s)
        finally:
            self._transferring = False
        name = path.rsplit("/", 1)[-1]
        self.files[path] = SimFile(name, received, int(time.time()), timing.duration_s, timing.total_layers)
        log.info("sim.prusalink.file_stored", printer_id=self.printer_id, file=path, size_bytes=received)
        if request.headers.get("print-after-upload") == "?1":
            if self._busy():
                return _error(409, "Conflict", "Not in state to print.")
            self._begin_file(path)
        return Response(status_code=201)

    async def _legacy_printer(self, request: Request) -> Response:
        raw = self.raw_state()
        temps = self._temperatures()
        return JSONResponse(
            {
                "temperature": {
                    "tool0": {"actual": temps["temp_nozzle"], "target": temps["target_nozzle"]},
                    "bed": {"actual": temps["temp_bed"], "target": temps["target_bed"]},
                },
                "state": {
                    "text": _LEGACY_TEXT[raw],
                    "flags": {
                        "operational": raw in ("IDLE", "FINISHED", "STOPPED"),
                        "printing": raw == "PRINTING",
                        "paused": raw == "PAUSED",
                        "error": raw == "ERROR",
                        "ready": raw == "IDLE",
                        "finished": raw == "FINISHED",
                        "link_state": raw,
                    },
                },
                "telemetry": {"temp-bed": temps["temp_bed"], "temp-nozzle": temps["temp_nozzle"]},
            }
        )

    async def _legacy_job(self, request: Request) -> Response:
        job = self.current if self._job_visible() else None
        printing = job is not None and job.active
        return JSONResponse(
            {
                "state": _LEGACY_TEXT[self.raw_state()],
                "job": {
                    "estimatedPrintTime": round(job.duration_s) if job else None,
                    "file": {"name": job.file_name.rsplit("/", 1)[-1], "path": job.file_name} if job else None,
                },
                "progress": {
                    # The legacy API gives completion as a fraction (0-1), not %.
                    "completion": job.progress() / 100 if job and printing else None,
                    "printTime": round(job.elapsed_s()) if job and printing else None,
                    "printTimeLeft": round(job.remaining_s()) if job and printing else None,
                },
            }
        )


if TYPE_CHECKING:  # mypy proves the simulator offers the whole scenario surface
    _conforms: SimulatedPrinter = SimulatedPrusaLinkPrinter()
