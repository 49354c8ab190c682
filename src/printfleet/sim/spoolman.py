"""A Spoolman stand-in on loopback, written from Spoolman's published API description (v0.26.1 OpenAPI; research
materials-notifications.md §3) and speaking its wire format, for the tests and the demo (Spoolman itself is not
installable here).

What it reproduces, as Spoolman does it:

- ``GET /api/v1/health`` → ``{"status": "healthy"}``; ``GET /api/v1/info`` → its version;
- ``GET /api/v1/spool`` (``allow_archived``, ``limit``, ``offset``; the total in ``x-total-count``) and
  ``GET /api/v1/spool/{id}``, an unknown id → 404 ``{"message": "No spool with ID 9999 found."}``;
- ``POST /api/v1/spool`` with a ``filament_id`` (``remaining_weight`` or ``used_weight``, never both: 400);
- ``PUT /api/v1/spool/{id}/use`` with ``use_weight`` (g) **or** ``use_length`` (mm; through the filament's density
  and diameter): both or neither → 400 with Spoolman's messages; **each call adds** (not idempotent), negative
  values give back, ``used_weight`` never goes below 0; ``first_used``/``last_used`` set;
- spools nest their filament (``density``, ``diameter``, ``weight``, ``price``, ``material``, ``color_hex``,
  ``vendor``);
- the websocket change feed ``/api/v1/spool``: ``{"type": "added" | "updated" | "deleted", "resource": "spool",
  "date": ..., "payload": <the whole spool>}`` on every change; any text from the client is answered
  ``{"status": "healthy"}``.

Faults for the tests: :meth:`SpoolmanStandIn.fail_next_use` answers the next ``use`` calls with 500 (not applied) or
applies them and then answers too late for the client (``slow_s``: an outcome the client cannot know). Every request
is logged (:attr:`SpoolmanStandIn.requests`).
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from printfleet.sim.http_server import LoopbackHttpServer

VERSION = "0.26.1"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _message(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


@dataclass
class StandInFilament:
    """A Spoolman filament: ``density`` g/cm³, ``diameter`` mm, ``weight`` net g of a full spool, ``price`` of a
    full spool."""

    id: int
    name: str
    material: str
    density: float = 1.24
    diameter: float = 1.75
    weight: float | None = 1000.0
    price: float | None = None
    color_hex: str | None = None
    vendor: str | None = None

    def wire(self) -> dict[str, Any]:
        """As Spoolman sends it."""
        vendor = {"id": 1, "registered": "2026-11-01T10:00:00Z", "name": self.vendor} if self.vendor else None
        return {
            "vendor": vendor,
            "id": self.id,
            "registered": "2026-11-01T10:00:00Z",
            "name": self.name,
            "material": self.material,
            "price": self.price,
            "density": self.density,
            "diameter": self.diameter,
            "weight": self.weight,
            "spool_weight": 250.0,
            "color_hex": self.color_hex,
            "extra": {},
        }


@dataclass
class StandInSpool:
    """A Spoolman spool; ``used_weight`` (g) is the only stored consumption."""

    id: int
    filament: StandInFilament
    initial_weight: float | None = None
    used_weight: float = 0.0
    first_used: str | None = None
    last_used: str | None = None
    archived: bool = False
    location: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        """As Spoolman sends it, with the derived weights and lengths; ``extra`` values are JSON-encoded strings."""
        initial = self.initial_weight if self.initial_weight is not None else self.filament.weight
        remaining = max((initial or 0.0) - self.used_weight, 0.0) if initial is not None else None
        area = math.pi * (self.filament.diameter / 2) ** 2
        per_mm = self.filament.density * area / 1000.0
        return {
            "id": self.id,
            "registered": "2026-11-01T10:00:00Z",
            "first_used": self.first_used,
            "last_used": self.last_used,
            "filament": self.filament.wire(),
            "price": None,
            "initial_weight": initial,
            "spool_weight": 250.0,
            "remaining_weight": remaining,
            "used_weight": self.used_weight,
            "remaining_length": remaining / per_mm if remaining is not None else None,
            "used_length": self.used_weight / per_mm,
            "location": self.location,
            "lot_nr": None,
            "comment": None,
            "archived": self.archived,
            "extra": dict(self.extra),
        }


@dataclass
class LoggedRequest:
    """One request the stand-in answered: method, path, JSON body (None: none) and the status sent."""

    method: str
    path: str
    body: Any
    status: int


@dataclass
class _UseFault:
    mode: Literal["error", "slow"]
    count: int
    slow_s: float = 0.0


@dataclass
class _State:
    filaments: dict[int, StandInFilament] = field(default_factory=dict)
    spools: dict[int, StandInSpool] = field(default_factory=dict)
    fault: _UseFault | None = None


class SpoolmanStandIn:
    """Spoolman on a loopback port (:attr:`url`, e.g. ``http://127.0.0.1:40123``). Use as an async context manager,
    or :meth:`start` / :meth:`stop` (the port is kept across restarts)."""

    def __init__(self) -> None:
        self._state = _State()
        self._listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self.requests: list[LoggedRequest] = []
        self._server = LoopbackHttpServer(self._app())

    @property
    def url(self) -> str:
        """The base URL (Spoolman's API is under ``/api/v1``)."""
        return self._server.url

    async def start(self) -> None:
        """Listen (returns once the port accepts connections)."""
        await self._server.start()

    async def stop(self) -> None:
        """Stop listening: clients see refused connections."""
        await self._server.stop()

    async def __aenter__(self) -> SpoolmanStandIn:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- seeding and faults --------------------------------------------------------------------------------

    def add_filament(self, name: str, material: str, **fields: Any) -> StandInFilament:
        """A new filament (``density``, ``diameter``, ``weight``, ``price``, ``color_hex``)."""
        filament = StandInFilament(id=len(self._state.filaments) + 1, name=name, material=material, **fields)
        self._state.filaments[filament.id] = filament
        return filament

    def add_spool(self, filament: StandInFilament, *, used_weight: float = 0.0, **fields: Any) -> StandInSpool:
        """A new spool of ``filament``."""
        spool = StandInSpool(
            id=max(self._state.spools, default=0) + 1, filament=filament, used_weight=used_weight, **fields
        )
        self._state.spools[spool.id] = spool
        self._announce("added", spool)
        return spool

    def change_spool(self, spool_id: int, **fields: Any) -> StandInSpool:
        """Change a spool's fields (``used_weight``, ``location``, ``archived``...) as a person would in Spoolman."""
        spool = self._state.spools[spool_id]
        for name, value in fields.items():
            setattr(spool, name, value)
        self._announce("updated", spool)
        return spool

    def _announce(self, kind: str, spool: StandInSpool) -> None:
        frame = {"type": kind, "resource": "spool", "date": _now(), "payload": spool.wire()}
        for queue in self._listeners:
            queue.put_nowait(frame)

    @property
    def listeners(self) -> int:
        """Clients following the change feed now."""
        return len(self._listeners)

    def spool(self, spool_id: int) -> StandInSpool:
        """The spool; KeyError when unknown."""
        return self._state.spools[spool_id]

    def delete_spool(self, spool_id: int, *, announce: bool = True) -> None:
        """Remove a spool (its id then answers 404); ``announce=False`` keeps it off the change feed (a client whose
        feed was down at that moment)."""
        spool = self._state.spools.pop(spool_id)
        if announce:
            self._announce("deleted", spool)

    def fail_next_use(self, count: int = 1, *, mode: Literal["error", "slow"] = "error", slow_s: float = 0.0) -> None:
        """The next ``count`` ``use`` calls fail: ``error`` answers 500 without applying it; ``slow`` applies it, then
        waits ``slow_s`` seconds before answering (a client with a shorter timeout cannot know it was applied)."""
        self._state.fault = _UseFault(mode=mode, count=count, slow_s=slow_s)

    def uses(self) -> list[LoggedRequest]:
        """The ``use`` requests received, in order."""
        return [r for r in self.requests if r.method == "PUT" and r.path.endswith("/use")]

    # -- the API -------------------------------------------------------------------------------------------

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/v1/health", self._health, methods=["GET"]),
                Route("/api/v1/info", self._info, methods=["GET"]),
                Route("/api/v1/spool", self._spools, methods=["GET", "POST"]),
                Route("/api/v1/spool/{spool_id:int}", self._spool, methods=["GET"]),
                Route("/api/v1/spool/{spool_id:int}/use", self._use, methods=["PUT"]),
                WebSocketRoute("/api/v1/spool", self._feed),
            ]
        )

    async def _feed(self, websocket: WebSocket) -> None:
        await websocket.accept()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._listeners.add(queue)

        async def pings() -> None:
            while True:
                await websocket.receive_text()
                await websocket.send_json({"status": "healthy"})

        answering = asyncio.create_task(pings())
        try:
            while True:
                getting = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getting, answering}, return_when=asyncio.FIRST_COMPLETED)
                if answering in done:
                    getting.cancel()
                    return
                await websocket.send_json(getting.result())
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            answering.cancel()
            self._listeners.discard(queue)

    async def _body(self, request: Request) -> Any:
        raw = await request.body()
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return ValueError

    def _log(self, request: Request, body: Any, response: JSONResponse) -> JSONResponse:
        self.requests.append(
            LoggedRequest(request.method, request.url.path, None if body is ValueError else body, response.status_code)
        )
        return response

    async def _health(self, request: Request) -> JSONResponse:
        return self._log(request, None, JSONResponse({"status": "healthy"}))

    async def _info(self, request: Request) -> JSONResponse:
        return self._log(request, None, JSONResponse({"version": VERSION, "debug_mode": False}))

    async def _spools(self, request: Request) -> JSONResponse:
        body = await self._body(request) if request.method == "POST" else None
        if request.method == "POST":
            return self._log(request, body, self._create(body))
        archived = request.query_params.get("allow_archived", "false").lower() == "true"
        spools = [s for s in self._state.spools.values() if archived or not s.archived]
        offset = int(request.query_params.get("offset", "0") or 0)
        limit = request.query_params.get("limit")
        page = spools[offset : offset + int(limit)] if limit else spools[offset:]
        response = JSONResponse([s.wire() for s in page], headers={"x-total-count": str(len(spools))})
        return self._log(request, None, response)

    def _create(self, body: Any) -> JSONResponse:
        if not isinstance(body, dict) or not isinstance(body.get("filament_id"), int):
            return _message(422, "filament_id: field required")
        filament = self._state.filaments.get(body["filament_id"])
        if filament is None:
            return _message(404, f"No filament with ID {body['filament_id']} found.")
        if body.get("remaining_weight") is not None and body.get("used_weight") is not None:
            return _message(400, "Only specify either remaining_weight or used_weight.")
        spool = self.add_spool(filament, used_weight=float(body.get("used_weight") or 0.0))
        if body.get("remaining_weight") is not None and filament.weight is not None:
            spool.used_weight = max(filament.weight - float(body["remaining_weight"]), 0.0)
        return JSONResponse(spool.wire())

    async def _spool(self, request: Request) -> JSONResponse:
        spool_id = request.path_params["spool_id"]
        spool = self._state.spools.get(spool_id)
        if spool is None:
            return self._log(request, None, _message(404, f"No spool with ID {spool_id} found."))
        return self._log(request, None, JSONResponse(spool.wire()))

    async def _use(self, request: Request) -> JSONResponse:
        body = await self._body(request)
        spool_id = request.path_params["spool_id"]
        spool = self._state.spools.get(spool_id)
        if spool is None:
            return self._log(request, body, _message(404, f"No spool with ID {spool_id} found."))
        if not isinstance(body, dict):
            return self._log(request, body, _message(422, "body: a JSON object is required"))
        weight, length = body.get("use_weight"), body.get("use_length")
        if weight is not None and length is not None:
            return self._log(request, body, _message(400, "Only specify either use_weight or use_length."))
        if weight is None and length is None:
            return self._log(request, body, _message(400, "Either use_weight or use_length must be specified."))
        fault = self._state.fault
        slow_s = 0.0
        if fault is not None and fault.count > 0:
            fault.count -= 1
            if fault.mode == "error":
                return self._log(request, body, _message(500, "Internal Server Error"))
            slow_s = fault.slow_s
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (weight or 0, length or 0)):
            return self._log(request, body, _message(422, "use_weight/use_length: a number is required"))
        grams = float(weight) if weight is not None else self._grams(spool, float(length or 0.0))
        spool.used_weight = max(spool.used_weight + grams, 0.0)  # use_weight_safe: clamped at 0 in one UPDATE
        now = _now()
        spool.first_used = spool.first_used or now
        spool.last_used = now
        self._announce("updated", spool)
        response = self._log(request, body, JSONResponse(spool.wire()))
        if slow_s > 0:
            await asyncio.sleep(slow_s)
        return response

    def _grams(self, spool: StandInSpool, length_mm: float) -> float:
        area = math.pi * (spool.filament.diameter / 2) ** 2
        return spool.filament.density * area * length_mm / 1000.0
