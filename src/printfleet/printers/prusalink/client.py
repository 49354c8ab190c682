"""PrusaLink adapter: polls the printer's HTTP API and sends pause/resume/stop/start commands.

Protocol facts (Prusa-Link-Web ``spec/openapi.yaml``, prusa3d/Prusa-Link, Prusa-Firmware-Buddy):

- Auth is HTTP Digest, MD5 (Buddy: user ``maker``, password shown on the printer; realm ``Printer API``, no
  ``qop``, nonces stale after about 5 s) or, on the Raspberry Pi version, an ``X-Api-Key`` header. A wrong
  password is a 401, a wrong API key a 401 (Buddy) or 403 (Pi).
- Each poll reads ``GET /api/v1/status`` then ``GET /api/v1/job`` (204 = no job).
- ``PUT /api/v1/job/{id}/pause|resume`` and ``DELETE /api/v1/job/{id}`` act on the current job (204; 409 when the
  state does not allow it; 404 when ``id`` is not the current job). ``POST /api/v1/files/{storage}/{path}``
  prints a stored file (204; 409 when busy; 404 when missing).
- The Pi version answers 503 while its serial link to the printer is down.
- Sending a print (:meth:`PrusaLinkConnection.upload`): ``PUT /api/v1/files/{storage}/{name}`` with the file as
  an ``application/octet-stream`` body, ``Content-Length`` (Prusa-Link answers 411 without it),
  ``Overwrite: ?1`` and ``Print-After-Upload: ?1`` to start it (RFC 8941 booleans); 201 when stored (and
  started). See :mod:`printfleet.printers.prusalink.sending` for the 409s; research
  dispatch-scheduling-orders.md 1b.

Digest: the httpx auth is pyprusalink's ``DigestAuthWorkaround`` (pyprusalink ≥ 2.1): httpx's own
``DigestAuth`` sends ``algorithm=MD5`` even when the challenge has no ``qop``, which Buddy firmware before the fix
in Prusa-Firmware-Buddy PR 3665 rejects; pyprusalink leaves it out in that case. Only that class is used:
pyprusalink's ``PrusaLink`` client has no API-key mode, no file start, and reads bodies with ``response.json()``
where this adapter needs the raw body to count an unreadable one and carry on. httpx re-challenges by itself on
a stale nonce (one extra round trip), so the short Buddy nonce lifetime needs nothing more.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx
from pyprusalink.client import DigestAuthWorkaround

from printfleet.domain.dispatch.sending import (
    PrinterBusy,
    PrintRequest,
    PrintSender,
    StartRejected,
    Uploaded,
    UploadFailed,
)
from printfleet.domain.files.model import Thumbnail, image_media_type
from printfleet.domain.printer import (
    OfflineReason,
    PrinterCommandRejected,
    PrinterConfig,
    PrinterKind,
    PrinterNotConnected,
    PrinterStatus,
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
from printfleet.printers.polling import (
    DEFAULT_REQUEST_TIMEOUT_S,
    ApiKeyAuth,
    HttpAnswer,
    PolledConnectionBase,
    http_timeouts,
)
from printfleet.printers.prusalink.protocol import PrusaLinkPayloadError, decode_body, parse_status
from printfleet.printers.prusalink.sending import (
    DEFAULT_STORAGE,
    error_text,
    files_url,
    refused_before_storing,
    storage_of_path,
    writable_storage,
)
from printfleet.printers.uploads import (
    FileBody,
    refusal,
    source_size,
    upload_deadline_s,
    upload_request,
    upload_timeouts,
)


class PrusaLinkConnection(PolledConnectionBase):
    """One PrusaLink printer, polled every ``config.poll_interval`` seconds (:attr:`poll_interval_s`).

    ``config`` needs ``host`` (``port`` defaults to 80) and either ``username`` + ``password`` (HTTP Digest) or
    ``api_key``; otherwise ``ValueError``. ``timeout_s`` bounds each HTTP request, answer included, in seconds
    (however slowly it trickles in); ``max_response_bytes`` caps each answer's body. Every answer
    reaches ``sink`` (one that changes nothing but ``last_seen`` at most once per
    :data:`~printfleet.printers.base.SEEN_REFRESH_S`), so ``last_seen`` is the time of the last answer. Wrong
    credentials → offline ``auth_failed``; refused or unroutable →
    ``unreachable``; no whole answer in time → ``timeout``; HTTP 503 → ``not_operational``; an answer over the cap
    → ``protocol_error``; :data:`~printfleet.printers.base.MAX_BAD_POLLS` unreadable polls in a row (not JSON,
    wrong shape, nested too deep, numbers out of range; each counted as a parse error) → ``protocol_error``.
    Each is retried with the backoff.
    """

    kind = PrinterKind.PRUSALINK
    upload_starts_print = True
    """The upload itself starts the print (``Print-After-Upload``): the send side of
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
    ) -> None:
        if not config.host:
            raise ValueError(f"PrusaLink printer {config.id!r} needs a host")
        if config.api_key is None and not (config.username and config.password):
            raise ValueError(f"PrusaLink printer {config.id!r} needs username and password, or an API key")
        super().__init__(config, sink=sink, observer=observer, backoff=backoff)
        self._client: httpx.AsyncClient | None = None
        self._init_polling(timeout_s=timeout_s, max_response_bytes=max_response_bytes)

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the printer."""
        host = self.config.host or ""
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"http://{host}:{self.config.effective_port}"

    @property
    def _auth_mode(self) -> str:
        return "api_key" if self.config.api_key is not None else "digest"

    def _make_auth(self) -> httpx.Auth:
        if self.config.api_key is not None:
            return ApiKeyAuth(self.config.api_key)
        # Both checked in __init__.
        assert self.config.username is not None
        assert self.config.password is not None
        auth: httpx.Auth = DigestAuthWorkaround(username=self.config.username, password=self.config.password.reveal())
        return auth

    # --- polling ---------------------------------------------------------------------------------------------

    async def _session(self) -> None:
        async with httpx.AsyncClient(
            base_url=self.base_url,
            auth=self._make_auth(),
            timeout=http_timeouts(self.timeout_s),
            headers={"Accept": "application/json"},
        ) as client:
            self._client = client
            self._bad_polls = 0
            try:
                while True:
                    await self._poll(client)
                    await self._wait_for_next_poll()
            finally:
                self._client = None

    async def _poll(self, client: httpx.AsyncClient) -> None:
        status_response = await self._get(client, "/api/v1/status")
        job_response = await self._get(client, "/api/v1/job")
        try:
            status_body = self._body(status_response)
            job_body = None if job_response.status_code == 204 else self._body(job_response)
            status = parse_status(status_body, job_body, now=utcnow())
        except PrusaLinkPayloadError as exc:
            self._unreadable(str(exc))
            return
        except UNREADABLE_ERRORS as exc:  # the protocol module raises its own error; never let a stray one through
            self._unreadable(type(exc).__name__)
            return
        self._bad_polls = 0
        self._observer.report_received(self.kind)
        self._backoff.reset()
        await self._publish(status)

    async def _get(self, client: httpx.AsyncClient, path: str) -> HttpAnswer:
        response = await self._fetch(client, "GET", path)
        if response.status_code in (401, 403):
            what = "API key" if self._auth_mode == "api_key" else "username or password"
            self.log.error(
                "prusalink.auth_rejected",
                http_status=response.status_code,
                auth=self._auth_mode,
                hint=f"the printer rejected the {what}; check the printer's PrusaLink settings",
            )
            raise ConnectionFailed(
                OfflineReason.AUTH_FAILED, f"the printer rejected the {what} (HTTP {response.status_code})"
            )
        if response.status_code == 503:
            raise ConnectionFailed(
                OfflineReason.NOT_OPERATIONAL, "PrusaLink answers but has no link to the printer (HTTP 503)"
            )
        return response

    @staticmethod
    def _body(response: HttpAnswer) -> dict[str, object]:
        path = response.path
        if response.status_code != 200:
            raise PrusaLinkPayloadError(f"{path} answered HTTP {response.status_code}")
        try:
            return decode_body(response.content)
        except PrusaLinkPayloadError as exc:
            raise PrusaLinkPayloadError(f"{path}: {exc}") from exc

    async def _publish(self, status: PrinterStatus) -> None:
        previous = self._status
        if await self._emit_changed(status) and previous.state != status.state:
            self.log.info(
                "prusalink.state", state=status.state.value, raw_state=status.raw_state, job_id=status.native_job_id
            )

    # --- commands --------------------------------------------------------------------------------------------

    async def pause(self) -> None:
        """Pause the current print (``PUT /api/v1/job/{id}/pause``).

        Raises PrinterNotConnected when offline, PrinterCommandRejected when there is no job or the printer
        answers 409 (not printing) or 404 (the job is no longer current).
        """
        await self._job_command("pause", "PUT", "/pause")

    async def resume(self) -> None:
        """Resume the paused print (``PUT /api/v1/job/{id}/resume``). Raises as :meth:`pause`."""
        await self._job_command("resume", "PUT", "/resume")

    async def stop(self) -> None:
        """Stop (cancel) the current print (``DELETE /api/v1/job/{id}``). Raises as :meth:`pause`."""
        await self._job_command("stop", "DELETE", "")

    async def set_print_speed(self, speed: PrintSpeed) -> None:
        """Always raises PrinterCommandRejected: PrusaLink's API (OpenAPI v1) has no command that changes the print
        speed, nor one that sends G-code; the speed is set on the printer's own screen."""
        raise PrinterCommandRejected(self.printer_id, f"PrusaLink cannot set the print speed ({speed.value})")

    async def start_print(self, path: str) -> None:
        """Print a file already on the printer: ``POST /api/v1/files/{storage}/{path}``.

        ``path`` starts with the storage, as ``file_name`` in a status shows it: ``/usb/BENCHY~1.BGC`` (Buddy)
        or ``/local/examples/benchy.gcode`` (Pi). Raises ValueError when it names no storage,
        PrinterNotConnected when offline, PrinterCommandRejected when the printer is busy (409) or has no such
        file (404).
        """
        storage, _, rest = path.strip("/").partition("/")
        if not storage or not rest:
            raise ValueError(f"{path!r} is not '<storage>/<file>', e.g. '/usb/benchy.bgcode'")
        await self._command("start print", "POST", f"/api/v1/files/{quote(storage)}/{quote(rest, safe='/~')}")

    async def _job_command(self, action: str, method: str, suffix: str) -> None:
        self._require_client(action)
        job_id = self._status.native_job_id
        if job_id is None or not self._status.state.is_active:
            raise PrinterCommandRejected(self.printer_id, f"cannot {action}: no print under way")
        await self._command(action, method, f"/api/v1/job/{job_id}{suffix}")

    async def preview(self, path: str) -> Thumbnail:
        """The preview image the printer serves at ``path`` (the job file's ``refs.thumbnail``). Raises
        PrinterNotConnected when offline, PrinterCommandRejected when the printer has none there or it is not a PNG
        or JPEG image."""
        return await self._preview_with(self._require_client("fetch the preview"), path)

    async def preview_once(self, path: str) -> Thumbnail:
        """:meth:`preview` over an HTTP client of its own, whether this connection runs or not: a process of a farm
        that does not own the printer shows its preview too (PrusaLink serves any number of HTTP clients, as its own
        web page does). Raises PrinterNotConnected when the printer cannot be reached, PrinterCommandRejected as
        :meth:`preview`."""
        async with httpx.AsyncClient(
            base_url=self.base_url, auth=self._make_auth(), timeout=http_timeouts(self.timeout_s)
        ) as client:
            return await self._preview_with(client, path)

    async def _preview_with(self, client: httpx.AsyncClient, path: str) -> Thumbnail:
        try:
            answer = await self._fetch(client, "GET", path)
        except ConnectionFailed as exc:
            raise PrinterNotConnected(self.printer_id, f"preview failed: {exc.detail}") from exc
        media_type = image_media_type(answer.content) if answer.status_code == 200 else None
        if media_type is None:
            raise PrinterCommandRejected(self.printer_id, f"preview: no image (HTTP {answer.status_code})")
        return Thumbnail(answer.content, media_type)

    def _require_client(self, action: str) -> httpx.AsyncClient:
        client = self._client
        if client is None or not self.connected:
            raise PrinterNotConnected(self.printer_id, f"cannot {action}: the printer is offline")
        return client

    async def _command(self, action: str, method: str, url: str) -> None:
        client = self._require_client(action)
        try:
            response = await self._fetch(client, method, url)
        except ConnectionFailed as exc:
            raise PrinterNotConnected(self.printer_id, f"{action} failed: {exc.detail}") from exc
        code = response.status_code
        self.log.info("prusalink.command", action=action, http_status=code)
        if code in (200, 201, 204):
            self._poll_soon()
            return
        reason = {
            409: "the printer refused it in its current state",
            404: "the job or file is not current on the printer",
            401: "authentication was rejected",
            403: "authentication was rejected",
        }.get(code, "unexpected answer")
        raise PrinterCommandRejected(self.printer_id, f"{action}: {reason} (HTTP {code})")

    # --- sending a print (PrintSender) -------------------------------------------------------------------------

    async def upload(self, request: PrintRequest, *, start: bool) -> Uploaded:
        """Send ``request.source`` as ``request.remote_name`` to the printer's storage, streamed from disk;
        with ``start``, the printer starts it once stored (``Print-After-Upload: ?1``). An existing file of that
        name is replaced (``Overwrite: ?1``).

        The storage is the first writable one ``GET /api/v1/status`` reports just before (``usb`` on Buddy,
        ``local`` on the Pi), ``usb`` when it says none; that request also refreshes the Digest nonce, so the
        file goes out once. The deadline grows with the file (:func:`~printfleet.printers.uploads.upload_deadline_s`).
        Returns ``Uploaded(remote_path="/{storage}/{remote_name}", started=start)``. Buddy reports the print's
        file with its 8.3 name in ``file_name`` and the long name in ``job_name`` (``display_name``).

        Raises PrinterNotConnected when the printer is offline; UploadFailed when the connection fails or times
        out, the printer answers 5xx or 408, or the local file cannot be read; PrinterBusy on 409:
        ``stored=True`` when the printer stored the file but did not start it, ``stored=False`` when it refused
        the file itself (another upload running, the file in use; :mod:`printfleet.printers.prusalink.sending`);
        StartRejected on any other 4xx (credentials rejected, unsupported file, bad name).
        """
        if not self.connected:
            raise PrinterNotConnected(self.printer_id, "cannot upload: the printer is offline")
        try:
            size = source_size(request.source)
        except OSError as exc:
            raise UploadFailed(self.printer_id, f"cannot read {request.source.name}: {exc.strerror or exc}") from exc
        async with self._upload_client() as client:
            storage = await self._upload_storage(client)
            url = files_url(storage, request.remote_name)
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Length": str(size),
                "Overwrite": "?1",
                "Print-After-Upload": "?1" if start else "?0",
            }
            began = time.monotonic()
            self.log.info("prusalink.upload_started", file=request.remote_name, storage=storage, size_bytes=size)
            answer = await self._send(
                client,
                "PUT",
                url,
                deadline_s=upload_deadline_s(size, self.timeout_s),
                content=FileBody(request.source, size),
                headers=headers,
            )
        code, text = answer.status_code, error_text(answer.content)
        self.log.info(
            "prusalink.upload_answered",
            file=request.remote_name,
            http_status=code,
            seconds=round(time.monotonic() - began, 2),
            detail=text or None,
        )
        if code in (200, 201, 204):
            self._poll_soon()
            return Uploaded(remote_path=f"/{storage}/{request.remote_name}", started=start)
        if code == 409:
            stored = start and not refused_before_storing(text)
            what = "stored the file but did not start it" if stored else "refused the file"
            raise PrinterBusy(self.printer_id, f"the printer {what} (HTTP 409 {text})".strip(), stored=stored)
        raise self._refusal("upload", code, text)

    async def start(self, request: PrintRequest, remote_path: str) -> None:
        """Print ``remote_path``, a file already on the printer: ``/{storage}/{name}`` as :meth:`upload` returns
        it, or a bare name in the storage the printer last reported (``usb`` when none):
        ``POST /api/v1/files/{storage}/{name}`` (204). ``request`` is not needed beyond the log.

        Raises PrinterNotConnected when offline or the request fails on the way; PrinterBusy(stored=True) on
        409 (printing, or not ready); StartRejected on 404 (no such file) and any other refusal.
        """
        storage, _, rest = remote_path.strip("/").partition("/")
        if not rest:
            storage = storage_of_path(self._status.extra.get("storage")) or DEFAULT_STORAGE
            rest = remote_path.strip("/")
        client = self._require_client("start the print")
        try:
            response = await self._fetch(client, "POST", files_url(storage, rest))
        except ConnectionFailed as exc:
            raise PrinterNotConnected(self.printer_id, f"start failed: {exc.detail}") from exc
        code, text = response.status_code, error_text(response.content)
        self.log.info("prusalink.start_file", file=request.remote_name, http_status=code, detail=text or None)
        if code in (200, 201, 204):
            self._poll_soon()
            return
        if code == 409:
            raise PrinterBusy(self.printer_id, f"the printer cannot start now (HTTP 409 {text})".strip(), stored=True)
        if code == 503:
            raise PrinterNotConnected(self.printer_id, "PrusaLink has no link to the printer (HTTP 503)")
        raise StartRejected(self.printer_id, f"start refused (HTTP {code} {text})".strip())

    def _upload_client(self) -> httpx.AsyncClient:
        """A client of its own for one upload, so a poll that fails meanwhile (a printer busy receiving a file
        answers slowly) cannot close the connection under the upload."""
        return httpx.AsyncClient(
            base_url=self.base_url,
            auth=self._make_auth(),
            timeout=upload_timeouts(self.timeout_s),
            headers={"Accept": "application/json"},
        )

    async def _upload_storage(self, client: httpx.AsyncClient) -> str:
        """The storage to upload to, from a fresh ``GET /api/v1/status``; raises as :meth:`upload`."""
        answer = await self._send(client, "GET", "/api/v1/status", deadline_s=self.timeout_s)
        if answer.status_code != 200:
            raise self._refusal("status before upload", answer.status_code, error_text(answer.content))
        try:
            found = writable_storage(decode_body(answer.content))
        except PrusaLinkPayloadError:
            found = None
        return found or storage_of_path(self._status.extra.get("storage")) or DEFAULT_STORAGE

    async def _send(
        self, client: httpx.AsyncClient, method: str, url: str, *, deadline_s: float, **kwargs: object
    ) -> HttpAnswer:
        return await upload_request(
            client,
            method,
            url,
            printer_id=self.printer_id,
            deadline_s=deadline_s,
            max_bytes=self.max_response_bytes,
            **kwargs,
        )

    def _refusal(self, action: str, code: int, text: str) -> UploadFailed | StartRejected:
        credentials = "API key" if self._auth_mode == "api_key" else "username or password"
        return refusal(self.printer_id, f"{action}: HTTP {code} {text}".strip(), code, credentials=credentials)


if TYPE_CHECKING:  # mypy proves the connection offers the send side the dispatch service drives

    def _sends_prints(connection: PrusaLinkConnection) -> PrintSender:
        return connection
