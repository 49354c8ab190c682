"""OctoPrint adapter: polls the REST API, listens on the push socket, and sends pause/resume/cancel/start.

Protocol facts (OctoPrint 1.11 docs ``docs/api/*.rst``, ``docs/events/index.rst``; checked against 1.11.8):

- Auth: a user's API key in ``X-Api-Key``. A wrong or missing key is a 403 (401 behind some proxies).
- Each poll reads ``GET /api/printer`` (409 while OctoPrint has no serial link to its printer) then
  ``GET /api/job`` (always 200). See :mod:`printfleet.printers.octoprint.protocol` for the mapping.
- Push: ``POST /api/login {"passive": true}`` with the API key answers ``{"name", "session", ...}``; the
  websocket ``/sockjs/websocket`` (SockJS's raw websocket: one JSON object per text frame, no SockJS framing)
  takes ``{"auth": "<name>:<session>"}`` and then sends ``connected``, ``history``, ``current`` (at most every
  500 ms) and ``event`` messages; ``reauthRequired`` asks for a new login.
- ``POST /api/job`` ``{"command": "pause", "action": "pause"|"resume"}`` or ``{"command": "cancel"}``: 204, or
  409 when no print is active. ``POST /api/files/local/{path}`` ``{"command": "select", "print": true}``: 204,
  404 when the file does not exist, 409 when the printer is not operational or already printing.

- Sending a print: ``POST /api/files/local`` multipart with ``select`` and ``print``
  (:mod:`printfleet.printers.octoprint.sending`); a 201 with ``effectivePrint: false`` is a refusal.

Polling runs all the time at ``config.poll_interval``; the push socket is an addition that catches prints
shorter than a poll interval and tells a finish from a cancel by its events. When the socket fails it is
retried every poll interval, and the polls go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx
import websockets

from printfleet.domain.dispatch.sending import PrinterBusy, PrintRequest, PrintSender, StartRejected, Uploaded
from printfleet.domain.printer import (
    OfflineReason,
    PrinterCommandRejected,
    PrinterConfig,
    PrinterKind,
    PrinterNotConnected,
)
from printfleet.domain.schedule.model import PrintSpeed
from printfleet.printers.base import (
    Backoff,
    ConnectionFailed,
    ConnectionObserver,
    StatusSink,
    utcnow,
)
from printfleet.printers.limits import MAX_RESPONSE_BYTES, UNREADABLE_ERRORS
from printfleet.printers.octoprint.protocol import (
    OctoPrintPayloadError,
    OctoPrintState,
    apply_current,
    apply_event,
    apply_poll,
    decode_body,
    to_status,
)
from printfleet.printers.octoprint.sending import OctoPrintUploader, error_text
from printfleet.printers.polling import (
    DEFAULT_REQUEST_TIMEOUT_S,
    ApiKeyAuth,
    HttpAnswer,
    PolledConnectionBase,
    ResponseTooLarge,
    bounded_request,
    http_timeouts,
)

PUSH_RETRY_MAX_S = 300.0
"""Longest wait, in seconds, between attempts to open the push socket (OctoPrint without it, or a proxy that
does not pass websockets, would otherwise be asked every poll interval)."""


class OctoPrintConnection(PolledConnectionBase):
    """One OctoPrint server and the printer behind it.

    ``config`` needs ``url`` (``http://host:port``, a path prefix is kept for OctoPrint behind a reverse proxy)
    and ``api_key``; otherwise ``ValueError``. ``timeout_s`` bounds each HTTP request, answer included (however
    slowly it trickles in), and the websocket opening, in seconds; ``max_response_bytes`` caps each answer's body.
    ``push=False`` polls only. Every answer and push message reaches ``sink`` (one that changes nothing
    but ``last_seen`` at most once per :data:`~printfleet.printers.base.SEEN_REFRESH_S`). Wrong API key →
    offline ``auth_failed``; refused → ``unreachable``; no whole
    answer in time → ``timeout``; OctoPrint up without its printer → ``not_operational``; an answer over the cap →
    ``protocol_error``; :data:`~printfleet.printers.base.MAX_BAD_POLLS` unreadable polls in a row (not JSON, wrong
    shape, nested too deep, numbers out of range; each counted as a parse error) → ``protocol_error``. An
    unreadable push message is counted and skipped. Each is retried with the backoff.
    """

    kind = PrinterKind.OCTOPRINT
    upload_starts_print = True
    """The upload itself starts the print (``print=true``): the send side of
    :class:`~printfleet.domain.dispatch.sending.PrintSender`."""

    def __init__(
        self,
        config: PrinterConfig,
        *,
        sink: StatusSink,
        observer: ConnectionObserver | None = None,
        backoff: Backoff | None = None,
        timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        push: bool = True,
    ) -> None:
        if not config.url:
            raise ValueError(f"OctoPrint printer {config.id!r} needs a url")
        if not config.api_key:
            raise ValueError(f"OctoPrint printer {config.id!r} needs an api_key")
        super().__init__(config, sink=sink, observer=observer, backoff=backoff)
        self._api_key = config.api_key
        self.push = push
        self.base_url = config.url.rstrip("/")
        self._client: httpx.AsyncClient | None = None
        self._state = OctoPrintState()
        self._lock = asyncio.Lock()  # polls and push messages update one state, in order
        self._init_polling(timeout_s=timeout_s, max_response_bytes=max_response_bytes)
        self._push_open = False
        self._uploader = OctoPrintUploader(
            printer_id=config.id,
            base_url=self.base_url,
            api_key=config.api_key,
            timeout_s=timeout_s,
            max_response_bytes=max_response_bytes,
        )

    # --- session ---------------------------------------------------------------------------------------------

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url,
            auth=ApiKeyAuth(self._api_key),
            timeout=http_timeouts(self.timeout_s),
            headers={"Accept": "application/json"},
        )

    async def _session(self) -> None:
        async with self._new_client() as client:
            self._client = client
            self._bad_polls = 0
            push_task: asyncio.Task[None] | None = None
            try:
                await self._poll(client)
                if self.push:
                    push_task = asyncio.create_task(self._push_loop(), name=f"octoprint-push:{self.printer_id}")
                while True:
                    await self._wait_for_next_poll()
                    await self._poll(client)
            finally:
                self._client = None
                if push_task is not None:
                    push_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await push_task

    async def _poll(self, client: httpx.AsyncClient) -> None:
        observed_at = asyncio.get_running_loop().time()
        printer_response = await self._get(client, "/api/printer")
        job_response = await self._get(client, "/api/job")
        async with self._lock:
            try:
                printer_body = None if printer_response.status_code == 409 else self._body(printer_response)
                job_body = self._body(job_response)
                state = apply_poll(self._state, printer_body, job_body, observed_at=observed_at, now=utcnow())
            except OctoPrintPayloadError as exc:
                self._unreadable(str(exc))
                return
            except UNREADABLE_ERRORS as exc:  # the protocol module raises its own error; never let a stray one out
                self._unreadable(type(exc).__name__)
                return
            await self._publish(state)
        self._bad_polls = 0
        self._observer.report_received(self.kind)
        self._backoff.reset()

    async def _get(self, client: httpx.AsyncClient, path: str) -> HttpAnswer:
        response = await self._fetch(client, "GET", path)
        if response.status_code in (401, 403):
            self.log.error(
                "octoprint.auth_rejected",
                http_status=response.status_code,
                hint="OctoPrint rejected the API key; create one under Settings > Application Keys",
            )
            raise ConnectionFailed(
                OfflineReason.AUTH_FAILED, f"OctoPrint rejected the API key (HTTP {response.status_code})"
            )
        return response

    @staticmethod
    def _body(response: HttpAnswer) -> dict[str, object]:
        path = response.path
        if response.status_code != 200:
            raise OctoPrintPayloadError(f"{path} answered HTTP {response.status_code}")
        try:
            return decode_body(response.content)
        except OctoPrintPayloadError as exc:
            raise OctoPrintPayloadError(f"{path}: {exc}") from exc

    async def _publish(self, state: OctoPrintState) -> None:
        """Keep ``state`` and emit its status (one that changes nothing but ``last_seen`` at most once a second)."""
        self._state = state
        status = to_status(state, now=utcnow())
        previous = self._status
        if await self._emit_changed(status) and (
            previous.state != status.state or previous.file_name != status.file_name
        ):
            self.log.info(
                "octoprint.state", state=status.state.value, raw_state=status.raw_state, file=status.file_name
            )

    # --- push ------------------------------------------------------------------------------------------------

    async def _push_loop(self) -> None:
        """Keep one push socket open. After a failure wait, from one poll interval doubling up to
        :data:`PUSH_RETRY_MAX_S`, and open a new one; the polls cover the gap."""
        delay = self.poll_interval_s
        failures = 0
        while True:
            self._push_open = False
            try:
                await self._push_once()
                detail = "closed by the server"
            except (OSError, TimeoutError, httpx.HTTPError, websockets.WebSocketException, _PushRefused) as exc:
                detail = f"{type(exc).__name__}: {exc}"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug here must not end the push for good: polls go on, retry later
                self.log.exception("octoprint.push_crashed")
                detail = type(exc).__name__
            if self._push_open:
                delay, failures = self.poll_interval_s, 0
            failures += 1
            # The first failure in a row is worth a line; a server without the socket would repeat it forever.
            level = "info" if failures == 1 else "debug"
            getattr(self.log, level)("octoprint.push_unavailable", detail=detail, retry_in_s=round(delay, 1))
            await asyncio.sleep(delay)
            delay = min(delay * 2, PUSH_RETRY_MAX_S)

    async def _login(self) -> str:
        """``POST /api/login {"passive": true}`` on a cookie-less client; return ``"<name>:<session>"``."""
        # Its own short-lived client, so that no login cookie can ever ride along with the API-key requests
        # (OctoPrint applies its CSRF check to cookie sessions; 1.11.8 sets no cookie for an API-key login).
        async with self._new_client() as login_client:
            try:
                response = await bounded_request(
                    login_client,
                    "POST",
                    "/api/login",
                    deadline_s=self.timeout_s,
                    max_bytes=self.max_response_bytes,
                    json={"passive": True},
                )
            except ResponseTooLarge as exc:
                raise _PushRefused(f"passive login: {exc}") from None
        if response.status_code != 200:
            raise _PushRefused(f"passive login answered HTTP {response.status_code}")
        try:
            body = decode_body(response.content)
        except OctoPrintPayloadError as exc:
            raise _PushRefused(f"passive login: {exc}") from exc
        name, session = body.get("name"), body.get("session")
        if not isinstance(name, str) or not isinstance(session, str):
            raise _PushRefused("passive login answered without name and session")
        return f"{name}:{session}"

    @property
    def push_url(self) -> str:
        """The raw SockJS websocket: ``ws://host:port/sockjs/websocket`` (``wss://`` for ``https://``)."""
        scheme, _, rest = self.base_url.partition("://")
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/sockjs/websocket"

    async def _push_once(self) -> None:
        auth = await self._login()
        async with websockets.connect(
            self.push_url, open_timeout=self.timeout_s, max_size=2**22, compression=None
        ) as socket:
            await socket.send(json.dumps({"auth": auth}))
            self._push_open = True
            self.log.info("octoprint.push_open")
            async for frame in socket:
                if not await self._on_push_message(frame):
                    return

    async def _on_push_message(self, frame: str | bytes) -> bool:
        """Apply one push frame; return False when the socket must be reopened (``reauthRequired``)."""
        loop_time = asyncio.get_running_loop().time()
        async with self._lock:
            state = self._state
            try:
                message = decode_body(frame)
                for key, payload in message.items():
                    if key == "reauthRequired":
                        return False
                    if key in ("current", "history"):
                        state = apply_current(state, _mapping(payload))
                    elif key == "event":
                        state = apply_event(state, _mapping(payload), observed_at=loop_time, now=utcnow())
                    else:
                        continue  # connected, plugin, timelapse...: "clients must ignore unknown messages"
                    self._observer.report_received(self.kind)
            except OctoPrintPayloadError as exc:
                self._unreadable_push(str(exc))
                return True
            except UNREADABLE_ERRORS as exc:  # the protocol module raises its own error; never let a stray one out
                self._unreadable_push(type(exc).__name__)
                return True
            if state is not self._state:
                await self._publish(state)
        return True

    def _unreadable_push(self, detail: str) -> None:
        self._observer.parse_error(self.kind)
        self.log.warning("octoprint.unreadable_push_message", detail=detail)

    # --- commands --------------------------------------------------------------------------------------------

    async def pause(self) -> None:
        """Pause the current print: ``POST /api/job {"command": "pause", "action": "pause"}``.

        Raises PrinterNotConnected when offline (including OctoPrint without its printer),
        PrinterCommandRejected when OctoPrint answers 409 (nothing printing) or anything but 204.
        """
        await self._command("pause", "/api/job", {"command": "pause", "action": "pause"})

    async def resume(self) -> None:
        """Resume the paused print: ``POST /api/job {"command": "pause", "action": "resume"}``. Raises as pause."""
        await self._command("resume", "/api/job", {"command": "pause", "action": "resume"})

    async def stop(self) -> None:
        """Cancel the current print: ``POST /api/job {"command": "cancel"}``. Raises as :meth:`pause`."""
        await self._command("stop", "/api/job", {"command": "cancel"})

    async def set_print_speed(self, speed: PrintSpeed) -> None:
        """Print at ``speed`` as a feed-rate factor: ``POST /api/printer/printhead {"command": "feedrate",
        "factor": <percent>}`` (OctoPrint REST API, printhead; OctoPrint sends ``M220 S<percent>``). Raises as
        :meth:`pause`."""
        await self._command("speed", "/api/printer/printhead", {"command": "feedrate", "factor": speed.percent})

    async def start_print(self, path: str, *, origin: str = "local") -> None:
        """Select and print a file already stored in OctoPrint: ``POST /api/files/{origin}/{path}``.

        ``path`` is the file's path in the storage (``file_name`` of a status), ``origin`` ``local`` or
        ``sdcard``. Raises PrinterNotConnected when offline, PrinterCommandRejected when OctoPrint has no such
        file (404) or is busy or not operational (409).
        """
        url = f"/api/files/{quote(origin, safe='')}/{quote(path.lstrip('/'), safe='/')}"
        await self._command("start print", url, {"command": "select", "print": True})

    async def _command(self, action: str, url: str, body: dict[str, object]) -> None:
        client = self._client
        if client is None or not self.connected:
            raise PrinterNotConnected(self.printer_id, f"cannot {action}: the printer is offline")
        try:
            response = await self._fetch(client, "POST", url, json=body)
        except ConnectionFailed as exc:
            raise PrinterNotConnected(self.printer_id, f"{action} failed: {exc.detail}") from exc
        code = response.status_code
        self.log.info("octoprint.command", action=action, http_status=code)
        if code in (200, 204):
            self._poll_soon()
            return
        reason = {
            409: "OctoPrint refused it in the printer's current state",
            404: "no such file on OctoPrint",
            401: "the API key was rejected",
            403: "the API key was rejected or lacks the PRINT permission",
        }.get(code, "unexpected answer")
        raise PrinterCommandRejected(self.printer_id, f"{action}: {reason} (HTTP {code})")

    # --- sending a print (PrintSender) -------------------------------------------------------------------------

    async def upload(self, request: PrintRequest, *, start: bool) -> Uploaded:
        """Upload ``request.source`` to OctoPrint's ``local`` storage as ``request.remote_name``, streamed from
        disk, and with ``start`` select and print it (:meth:`OctoPrintUploader.upload` says how it answers).

        Raises PrinterNotConnected when the server is offline, and UploadFailed, PrinterBusy or StartRejected
        as :meth:`OctoPrintUploader.upload`.
        """
        if not self.connected:
            raise PrinterNotConnected(self.printer_id, "cannot upload: OctoPrint is offline")
        try:
            return await self._uploader.upload(request, start=start)
        finally:
            self._poll_soon()

    async def start(self, request: PrintRequest, remote_path: str) -> None:
        """Select and print ``remote_path`` (a path in the ``local`` storage, as :meth:`upload` returns it):
        ``POST /api/files/local/{path} {"command": "select", "print": true}`` (204).

        Raises PrinterNotConnected when offline or the request fails on the way; PrinterBusy(stored=True) on
        409 (printing, or the printer not operational); StartRejected on 404 (no such file), 415 (not G-code)
        and any other refusal.
        """
        client = self._client
        if client is None or not self.connected:
            raise PrinterNotConnected(self.printer_id, "cannot start the print: OctoPrint is offline")
        url = f"/api/files/local/{quote(remote_path.lstrip('/'), safe='/')}"
        try:
            response = await self._fetch(client, "POST", url, json={"command": "select", "print": True})
        except ConnectionFailed as exc:
            raise PrinterNotConnected(self.printer_id, f"start failed: {exc.detail}") from exc
        code, text = response.status_code, error_text(response.content)
        self.log.info("octoprint.start_file", file=request.remote_name, http_status=code, detail=text or None)
        if code in (200, 204):
            self._poll_soon()
            return
        if code == 409:
            raise PrinterBusy(self.printer_id, f"OctoPrint cannot start now (HTTP 409 {text})".strip(), stored=True)
        raise StartRejected(self.printer_id, f"start refused (HTTP {code} {text})".strip())


class _PushRefused(Exception):
    """The push socket cannot be opened (login refused or unreadable); polling goes on."""


def _mapping(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise OctoPrintPayloadError(f"push payload is {type(value).__name__}, expected an object")
    return value


if TYPE_CHECKING:  # mypy proves the connection offers the send side the dispatch service drives

    def _sends_prints(connection: OctoPrintConnection) -> PrintSender:
        return connection
