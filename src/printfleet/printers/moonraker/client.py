"""Moonraker adapter: one JSON-RPC 2.0 websocket per Klipper printer; live state, pause/resume/cancel.

Protocol facts (Moonraker docs ``docs/external_api/*.md``; checked against Moonraker 0.11.0 with a batch-mode
Klippy, research moonraker-auth-scale.md A1):

- ``ws://host:7125/websocket``; requests ``{"jsonrpc": "2.0", "method", "params", "id"}``, errors
  ``{"code", "message"}`` with HTTP codes reused (503: Klippy not connected; 401 or -32602: unauthorised).
- ``server.connection.identify {client_name, version, type, url, api_key?}``, once per connection. Only one
  connection per ``client_name`` may identify as ``agent``: a second gets ``400 "Agent 'printfleet' already
  registered"``, which here means another printfleet owns the printer (offline ``owned_elsewhere``, retried with
  the backoff). The API key also goes in the ``X-Api-Key`` header of the upgrade request.
- Start-up: poll ``server.info`` until ``klippy_state`` is ``ready`` (offline ``host_not_ready`` meanwhile), then
  ``printer.objects.subscribe``; its answer is the full state. ``notify_status_update`` brings deltas.
  ``notify_klippy_disconnected``: Moonraker has dropped every subscription; back to polling ``server.info``, then
  subscribe again.
- Moonraker never times out a call it forwards to Klippy, so each call has a client-side deadline here.
- ``printer.print.pause``/``resume``/``cancel`` answer ``"ok"`` when accepted; the state follows in updates.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import websockets
from websockets.exceptions import InvalidStatus

from printfleet.aio import within
from printfleet.domain.dispatch.sending import PrinterBusy, PrintRequest, PrintSender, StartRejected, Uploaded
from printfleet.domain.files.model import Thumbnail
from printfleet.domain.printer import (
    OfflineReason,
    PrinterCommandRejected,
    PrinterConfig,
    PrinterKind,
    PrinterNotConnected,
    PrinterState,
)
from printfleet.domain.schedule.model import PrintSpeed
from printfleet.printers.base import (
    Backoff,
    ConnectionFailed,
    ConnectionObserver,
    PrinterConnectionBase,
    StatusSink,
    utcnow,
)
from printfleet.printers.limits import MAX_RESPONSE_BYTES, UNREADABLE_ERRORS
from printfleet.printers.moonraker.previews import MoonrakerPreviews, fetch_preview
from printfleet.printers.moonraker.protocol import (
    SUBSCRIBED_OBJECTS,
    MoonrakerPayloadError,
    MoonrakerState,
    apply_history,
    apply_objects,
    decode_frame,
    extruder_count,
    objects_of,
    to_status,
    update_params,
)
from printfleet.printers.moonraker.rpc import Handler, MoonrakerRpcError, RpcChannel
from printfleet.printers.moonraker.sending import MoonrakerUploader

CALL_TIMEOUT_S = 10.0
"""Client-side deadline of each JSON-RPC call, seconds."""

DRIFT_CHECK_S = 60.0
"""Seconds between full re-queries of the subscribed objects (a check on the deltas, not the main source)."""

READY_POLL_S = 2.0
"""Seconds between ``server.info`` polls while Klippy is not ready."""

PING_INTERVAL_S = 10.0
"""Websocket ping interval, seconds; a pong missing for as long again closes the connection."""

_UNREADABLE: tuple[type[Exception], ...] = (MoonrakerPayloadError, *UNREADABLE_ERRORS)

AGENT_NAME = "printfleet"
"""The ``client_name`` printfleet identifies with, as an ``agent``."""


class MoonrakerConnection(PrinterConnectionBase):
    """One Moonraker and the Klipper printer behind it.

    ``config`` needs ``url`` (``http://host:port``; ``ValueError`` otherwise) and may have ``api_key``.
    ``call_timeout_s`` bounds each call, ``drift_check_s`` is the full re-query period (seconds). Offline reasons:
    refused or dropped → ``unreachable``; no answer in time → ``timeout``; key refused → ``auth_failed``; another
    ``printfleet`` agent connected → ``owned_elsewhere``; Klippy not connected or not ready → ``host_not_ready``.
    An unreadable frame is logged, counted as a parse error and skipped: it never ends the connection.
    """

    kind = PrinterKind.MOONRAKER
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
        call_timeout_s: float = CALL_TIMEOUT_S,
        drift_check_s: float = DRIFT_CHECK_S,
    ) -> None:
        if not config.url:
            raise ValueError(f"Moonraker printer {config.id!r} needs a url")
        super().__init__(config, sink=sink, observer=observer, backoff=backoff)
        self.base_url = config.url.rstrip("/")
        self.call_timeout_s = call_timeout_s
        self.drift_check_s = drift_check_s
        self._state = MoonrakerState()
        self._rpc: RpcChannel | None = None
        self._klippy_down = asyncio.Event()
        self._klippy_ready = asyncio.Event()
        self._lock = asyncio.Lock()
        self._previews = MoonrakerPreviews(printer_id=config.id, call=self._call, found=self._republish)
        self._uploader = MoonrakerUploader(
            printer_id=config.id,
            base_url=self.base_url,
            api_key=config.api_key,
            timeout_s=call_timeout_s,
            max_response_bytes=MAX_RESPONSE_BYTES,
        )

    @property
    def websocket_url(self) -> str:
        """``ws://host:port/websocket`` (``wss://`` for ``https://``)."""
        scheme, _, rest = self.base_url.partition("://")
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/websocket"

    # --- session ---------------------------------------------------------------------------------------------

    async def _session(self) -> None:
        headers = {"X-Api-Key": self.config.api_key.reveal()} if self.config.api_key else {}
        try:
            socket = await websockets.connect(
                self.websocket_url,
                additional_headers=headers,
                open_timeout=self.call_timeout_s,
                ping_interval=PING_INTERVAL_S,
                ping_timeout=PING_INTERVAL_S,
                max_size=2**22,
                compression=None,
            )
        except InvalidStatus as exc:
            code = exc.response.status_code
            if code in (401, 403):
                raise ConnectionFailed(
                    OfflineReason.AUTH_FAILED, f"Moonraker refused the API key (HTTP {code})"
                ) from None
            raise ConnectionFailed(OfflineReason.PROTOCOL_ERROR, f"websocket refused (HTTP {code})") from None
        except TimeoutError:
            raise ConnectionFailed(OfflineReason.TIMEOUT, "no websocket within the deadline") from None
        except (OSError, websockets.WebSocketException) as exc:
            raise ConnectionFailed(OfflineReason.UNREACHABLE, f"{type(exc).__name__}: {exc}") from None
        self._rpc = RpcChannel(socket, timeout_s=self.call_timeout_s)
        reader = asyncio.create_task(self._read(socket), name=f"moonraker-read:{self.printer_id}")
        try:
            main = asyncio.create_task(self._drive(), name=f"moonraker-drive:{self.printer_id}")
            done, _ = await asyncio.wait({reader, main}, return_when=asyncio.FIRST_COMPLETED)
            if main in done:
                main.result()  # raises ConnectionFailed
            else:
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionFailed):
                    await main
                reader.result()
        finally:
            rpc, self._rpc = self._rpc, None
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            await socket.close()
            rpc.close()
            await self._previews.close()  # a question in flight went with the socket: asked again after a reconnect

    async def _drive(self) -> None:
        try:
            await self._run_protocol()
        except MoonrakerRpcError as exc:  # a refusal the start-up sequence cannot go on after
            if exc.code == 503:  # "Klippy Host not connected": Klippy went away between two calls
                raise ConnectionFailed(OfflineReason.HOST_NOT_READY, exc.message) from None
            raise ConnectionFailed(OfflineReason.PROTOCOL_ERROR, f"Moonraker refused: {exc}") from None

    async def _run_protocol(self) -> None:
        await self._identify()
        while True:
            await self._wait_for_klippy()
            await self._subscribe()
            self._backoff.reset()
            while not self._klippy_down.is_set():
                try:
                    await within(self._klippy_down.wait(), self.drift_check_s)
                except TimeoutError:
                    await self._requery()
            await self._mark_offline(OfflineReason.HOST_NOT_READY, "Klippy disconnected from Moonraker")

    async def _identify(self) -> None:
        params: dict[str, object] = {
            "client_name": AGENT_NAME,
            "version": "1",
            "type": "agent",
            "url": "https://github.com/printfleet",
        }
        if self.config.api_key:
            params["api_key"] = self.config.api_key.reveal()
        try:
            await self._call("server.connection.identify", params)
        except MoonrakerRpcError as exc:
            if "already registered" in exc.message:
                raise ConnectionFailed(
                    OfflineReason.OWNED_ELSEWHERE, f"another printfleet is connected as agent: {exc.message}"
                ) from None
            raise

    async def _wait_for_klippy(self) -> None:
        while True:
            self._klippy_down.clear()
            self._klippy_ready.clear()
            info = await self._call("server.info", {})
            state = info.get("klippy_state") if isinstance(info, Mapping) else None
            if state == "ready":
                return
            await self._mark_offline(OfflineReason.HOST_NOT_READY, f"Klippy is {str(state)[:40]}")
            with contextlib.suppress(TimeoutError):
                await within(self._klippy_ready.wait(), READY_POLL_S)

    async def _subscribe(self) -> None:
        try:
            tools = extruder_count(await self._call("printer.objects.list", {}))
        except MoonrakerRpcError:  # an older or partial Moonraker: one tool, as before
            tools = self._state.tools
        if tools != self._state.tools:
            async with self._lock:
                self._state = self._state.replace(tools=tools)
        # The full state is applied by the reader, in frame order: a delta right behind the answer builds on it.
        await self._call("printer.objects.subscribe", {"objects": SUBSCRIBED_OBJECTS}, on_result=self._apply_full)
        await self._backfill_history()
        await self._detect_spoolman()

    async def _detect_spoolman(self) -> None:
        """Whether Moonraker reports filament use to Spoolman itself: its ``[spoolman]`` component answers
        ``server.spoolman.status`` (Moonraker docs, external_api/integrations.md); without the component the method is
        unknown. printfleet then does not report that printer's use again (research materials-notifications.md
        §3.6, S4)."""
        try:
            answer = await self._call("server.spoolman.status", {})
        except MoonrakerRpcError:
            answer = None
        linked = isinstance(answer, Mapping)
        if linked != self._state.spoolman:
            self.log.info("moonraker.spoolman", linked=linked)
            await self._publish(self._state.replace(spoolman=linked))

    async def _requery(self) -> None:
        await self._call("printer.objects.query", {"objects": SUBSCRIBED_OBJECTS}, on_result=self._apply_full)

    async def _apply_full(self, result: object) -> None:
        try:
            if not isinstance(result, Mapping):
                raise MoonrakerPayloadError("objects answer is not an object")
            objects = objects_of(result.get("status"))
        except _UNREADABLE as exc:
            raise ConnectionFailed(OfflineReason.PROTOCOL_ERROR, f"unreadable objects: {exc}") from None
        async with self._lock:
            await self._publish(apply_objects(self._state, objects, now=utcnow(), replace=True))

    async def _backfill_history(self) -> None:
        """Name a print found under way with its history entry (after a restart of printfleet or Moonraker)."""
        if self._state.print_started_at is None or self._state.history is not None:
            return
        try:
            answer = await self._call("server.history.list", {"limit": 3, "order": "desc"})
        except MoonrakerRpcError as exc:  # history component off: the file name and continuity still identify
            self.log.info("moonraker.no_history", detail=exc.message[:200])
            return
        jobs = answer.get("jobs") if isinstance(answer, Mapping) else None
        async with self._lock:
            state = self._state
            for job in jobs if isinstance(jobs, list) else []:
                state = apply_history(state, job)
            await self._publish(state)

    # --- frames ----------------------------------------------------------------------------------------------

    async def _read(self, socket: Any) -> None:
        try:
            async for frame in socket:
                await self._on_frame(frame)
        except websockets.ConnectionClosed as exc:
            raise ConnectionFailed(OfflineReason.UNREACHABLE, f"websocket closed ({exc.rcvd})") from None

    async def _on_frame(self, frame: str | bytes) -> None:
        try:
            message = decode_frame(frame)
            if "id" in message and "method" not in message:
                if self._rpc is not None:
                    await self._rpc.answer(message)
                return
            method, params = message.get("method"), message.get("params")
            if method == "notify_status_update":
                delta = update_params(params)
                async with self._lock:
                    await self._publish(apply_objects(self._state, delta, now=utcnow()))
            elif method == "notify_history_changed":
                if isinstance(params, list) and params and isinstance(params[0], Mapping):
                    async with self._lock:
                        await self._publish(apply_history(self._state, params[0].get("job")))
            elif method == "notify_klippy_disconnected":
                self._klippy_down.set()
            elif method == "notify_klippy_ready":
                self._klippy_ready.set()
            else:
                return  # proc stats, gcode responses, file changes...: not ours
            self._observer.report_received(self.kind)
        except _UNREADABLE as exc:
            self._observer.parse_error(self.kind)
            self.log.warning("moonraker.unreadable_frame", detail=f"{type(exc).__name__}: {str(exc)[:200]}")

    async def _call(self, method: str, params: Mapping[str, object], *, on_result: Handler | None = None) -> Any:
        """One call on the open websocket (:meth:`RpcChannel.call`); ConnectionFailed when there is none."""
        if self._rpc is None:
            raise ConnectionFailed(OfflineReason.UNREACHABLE, "not connected")
        return await self._rpc.call(method, params, on_result=on_result)

    async def _publish(self, state: MoonrakerState) -> None:
        status = to_status(state, now=utcnow())
        if status.state.is_active and status.file_name and (preview := self._previews.path(status.file_name)):
            status = status.replace(extra={**status.extra, "thumbnail": preview})
        if state.inferred_start:
            state = state.replace(inferred_start=False)  # once: later history notes must not start it again
            if not self._status.state.is_active:
                # Started and ended between two updates: report the start first, so it is one job that ends.
                await self._emit(status.replace(state=PrinterState.PRINTING, raw_state="printing", extra={}))
        self._state = state
        previous = self._status
        if await self._emit_changed(status) and (
            previous.state != status.state or previous.file_name != status.file_name
        ):
            self.log.info(
                "moonraker.state", state=status.state.value, raw_state=status.raw_state, file=status.file_name
            )

    async def _republish(self) -> None:
        """Publish the status again (a preview became known)."""
        async with self._lock:
            await self._publish(self._state)

    async def preview(self, path: str) -> Thumbnail:
        """The preview image Moonraker serves at ``path`` (``status.extra["thumbnail"]``: see
        :mod:`printfleet.printers.moonraker.previews`). Raises PrinterNotConnected, PrinterCommandRejected."""
        return await fetch_preview(
            printer_id=self.printer_id,
            base_url=self.base_url,
            api_key=self.config.api_key,
            path=path,
            timeout_s=self.call_timeout_s,
            max_bytes=MAX_RESPONSE_BYTES,
        )

    # --- commands --------------------------------------------------------------------------------------------

    async def pause(self) -> None:
        """Pause the current print: ``printer.print.pause``. Raises PrinterNotConnected when offline,
        PrinterCommandRejected when Moonraker refuses it."""
        await self._command("pause", "printer.print.pause")

    async def resume(self) -> None:
        """Resume the paused print: ``printer.print.resume``. Raises as :meth:`pause`."""
        await self._command("resume", "printer.print.resume")

    async def stop(self) -> None:
        """Cancel the current print: ``printer.print.cancel``. Raises as :meth:`pause`."""
        await self._command("stop", "printer.print.cancel")

    async def set_print_speed(self, speed: PrintSpeed) -> None:
        """Print at ``speed`` as a feed-rate factor: ``printer.gcode.script`` with ``M220 S<percent>`` (Klipper's
        speed factor). Raises as :meth:`pause`."""
        await self._command("speed", "printer.gcode.script", {"script": f"M220 S{speed.percent}"})

    async def _command(self, action: str, method: str, params: dict[str, object] | None = None) -> None:
        if self._rpc is None or not self.connected:
            raise PrinterNotConnected(self.printer_id, f"cannot {action}: the printer is offline")
        try:
            await self._call(method, params or {})
        except ConnectionFailed as exc:
            raise PrinterNotConnected(self.printer_id, f"{action} failed: {exc.detail}") from exc
        except MoonrakerRpcError as exc:
            raise PrinterCommandRejected(self.printer_id, f"{action}: {exc.message} ({exc.code})") from exc
        self.log.info("moonraker.command", action=action)

    # --- sending a print (PrintSender) -------------------------------------------------------------------------

    async def upload(self, request: PrintRequest, *, start: bool) -> Uploaded:
        """Upload ``request.source`` into Moonraker's ``gcodes`` root, with ``start`` printing it at once
        (:meth:`MoonrakerUploader.upload` says how it answers). Raises PrinterNotConnected when offline, and
        UploadFailed, PrinterBusy or StartRejected as :meth:`MoonrakerUploader.upload`."""
        if not self.connected:
            raise PrinterNotConnected(self.printer_id, "cannot upload: the printer is offline")
        loaded = self._status.file_name if self._status.state.is_active else None
        return await self._uploader.upload(request, start=start, loaded_file=loaded)

    async def start(self, request: PrintRequest, remote_path: str) -> None:
        """Print ``remote_path`` (relative to the ``gcodes`` root): ``printer.print.start {filename}``.

        Raises PrinterNotConnected when offline; PrinterBusy(stored=True) on ``SD busy``; StartRejected on any other
        refusal (``Unable to open file``)."""
        if self._rpc is None or not self.connected:
            raise PrinterNotConnected(self.printer_id, "cannot start the print: the printer is offline")
        try:
            await self._call("printer.print.start", {"filename": remote_path})
        except ConnectionFailed as exc:
            raise PrinterNotConnected(self.printer_id, f"start failed: {exc.detail}") from exc
        except MoonrakerRpcError as exc:
            if "busy" in exc.message.lower():
                raise PrinterBusy(self.printer_id, f"Klipper is busy ({exc.message})", stored=True) from exc
            raise StartRejected(self.printer_id, f"start refused: {exc.message} ({exc.code})") from exc
        self.log.info("moonraker.start_file", file=request.remote_name)


if TYPE_CHECKING:  # mypy proves the connection offers the send side the dispatch service drives

    def _sends_prints(connection: MoonrakerConnection) -> PrintSender:
        return connection
