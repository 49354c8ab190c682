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

Digest: the httpx auth is pyprusalink's ``DigestAuthWorkaround`` (pyprusalink ≥ 2.1): httpx's own
``DigestAuth`` sends ``algorithm=MD5`` even when the challenge has no ``qop``, which Buddy firmware before the fix
in Prusa-Firmware-Buddy PR 3665 rejects; pyprusalink leaves it out in that case. Only that class is used:
pyprusalink's ``PrusaLink`` client has no API-key mode, no file start, and reads bodies with ``response.json()``
where this adapter needs the raw body to count an unreadable one and carry on. httpx re-challenges by itself on
a stale nonce (one extra round trip), so the short Buddy nonce lifetime needs nothing more.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
from pyprusalink.client import DigestAuthWorkaround

from printfleet.domain.printer import (
    OfflineReason,
    PrinterCommandRejected,
    PrinterConfig,
    PrinterKind,
    PrinterNotConnected,
    PrinterStatus,
)
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


class PrusaLinkConnection(PolledConnectionBase):
    """One PrusaLink printer, polled every ``config.poll_interval`` seconds (:attr:`poll_interval_s`).

    ``config`` needs ``host`` (``port`` defaults to 80) and either ``username`` + ``password`` (HTTP Digest) or
    ``api_key``; otherwise ``ValueError``. ``timeout_s`` bounds each HTTP request, answer included, in seconds
    (however slowly it trickles in); ``max_response_bytes`` caps each answer's body. A snapshot goes
    to ``sink`` only when it differs from the last one in something but ``last_seen`` (``status`` keeps
    ``last_seen`` fresh regardless). Wrong credentials → offline ``auth_failed``; refused or unroutable →
    ``unreachable``; no whole answer in time → ``timeout``; HTTP 503 → ``not_operational``; an answer over the cap
    → ``protocol_error``; :data:`~printfleet.printers.base.MAX_BAD_POLLS` unreadable polls in a row (not JSON,
    wrong shape, nested too deep, numbers out of range; each counted as a parse error) → ``protocol_error``.
    Each is retried with the backoff.
    """

    kind = PrinterKind.PRUSALINK

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
        if previous.replace(last_seen=None) == status.replace(last_seen=None):
            self._status = status  # nothing new but the time: keep last_seen fresh without waking anyone
            return
        if previous.state != status.state:
            self.log.info(
                "prusalink.state", state=status.state.value, raw_state=status.raw_state, job_id=status.native_job_id
            )
        await self._emit(status)

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
