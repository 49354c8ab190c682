"""One MQTT-over-TLS connection to one Bambu Lab printer in LAN mode.

Facts from PROTOCOLS.md (Bambu section) and OpenBambuAPI ``mqtt.md``/``tls.md``: MQTT 3.1.1 over TLS on 8883, user
``bblp``, password = LAN access code; subscribe only ``device/<serial>/report``; commands QoS 1 to
``device/<serial>/request``; ``pushall`` after connecting but not more often than every 5 minutes; reports are
patches merged into one kept state (:func:`printfleet.printers.bambu.protocol.apply_report`).

TLS policy (a printer is reached by IP, its certificate's CN is its serial, issued by Bambu's private CA):

- ``ca_file`` set: the chain is verified against it and the certificate must name ``serial`` (CN, or a
  subjectAltName). Failure: offline ``tls_failed`` with the reason.
- ``tls_insecure: true``: encrypted but unauthenticated; a warning is logged once per connection object.
- neither: refused with offline ``tls_failed`` and a detail saying which setting to add. Silently trusting any
  certificate would hand the access code to whoever answers on that IP; PROTOCOLS.md asks for verification as the
  normal path and insecure only as an explicit switch, so the operator has to choose it.

Sending a print (:class:`printfleet.domain.dispatch.sending.PrintSender`): :meth:`BambuConnection.upload` over
implicit FTPS (same TLS policy), then :meth:`BambuConnection.start` over this MQTT connection
(:mod:`printfleet.printers.bambu.sending`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import socket
import ssl
from collections.abc import Mapping
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttCodeError, MqttConnectError

from printfleet.aio import within
from printfleet.domain.dispatch.sending import PrintRequest, StartRejected, Uploaded
from printfleet.domain.printer import (
    OfflineReason,
    PrinterCommandRejected,
    PrinterConfig,
    PrinterKind,
    PrinterNotConnected,
    PrinterState,
)
from printfleet.domain.schedule.model import PrintSpeed
from printfleet.printers.bambu.protocol import (
    BambuCommands,
    BambuPayloadError,
    apply_report,
    encode_command,
    is_placeholder,
    normalise,
    parse_payload,
    report_topic,
    request_topic,
)
from printfleet.printers.bambu.sending import UploadLimits, start_command, upload
from printfleet.printers.bambu.slots import SlotTracker
from printfleet.printers.bambu.tls import insecure_context, verifying_context
from printfleet.printers.base import (
    Backoff,
    ConnectionFailed,
    ConnectionObserver,
    PrinterConnectionBase,
    StatusSink,
    utcnow,
)
from printfleet.printers.limits import UNREADABLE_ERRORS

__all__ = ["BambuConnection"]

USERNAME = "bblp"
PUSHALL_MIN_INTERVAL_S = 300.0
"""PROTOCOLS.md: no pushall more often than every 5 minutes (the P1P stutters under it)."""

PUSHALL_ANSWER_TIMEOUT_S = 3.0
"""A pushall with no usable answer after this long (seconds) is sent again, at most twice per connection: a lost
request would otherwise leave the printer shown offline until its next change (seen in the chaos run when a
broker restart and our reconnect raced)."""

RECONNECT_PUSHALL_MIN_INTERVAL_S = 10.0
"""After a reconnect the kept state may be stale: P1/A1 firmware sends each change once, so a report published
during the outage (RUNNING after PREPARE, FINISH) is never repeated and the state would stay wrong until the next
periodic pushall, up to 5 minutes later. Each new connection therefore asks once, at most every 10 s; the reconnect
backoff keeps connections rare, so the printer is not polled (measured: a 3 s broker outage left a printer shown
``preparing`` for the rest of the 5-minute gap)."""

# CONNACK refusals meaning "wrong credentials": MQTT 3.1.1 codes 4 and 5, and the MQTT 5 reason codes paho maps
# them to (134 bad user name or password, 135 not authorised).
_AUTH_REFUSED = frozenset({4, 5, 134, 135})


def _client_identifier(printer_id: str, serial: str) -> str:
    """A client id unique per connection object, stable across its reconnects, at most 23 characters.

    Stable: a reconnect then takes over the broker's stale session for us instead of holding one more of the
    printer's ~5 client slots. Unique per connection object (not only per process): two printfleet instances in
    one process, or an old and a new connection during a printer edit, must not take over each other's session.
    23 characters is what MQTT 3.1.1 obliges a broker to accept.
    """
    seed = f"{socket.gethostname()}:{os.getpid()}:{printer_id}:{serial}:{secrets.token_hex(8)}".encode()
    return "pf-" + hashlib.sha256(seed).hexdigest()[:20]


class BambuConnection(PrinterConnectionBase):
    """Keeps one Bambu printer's status current over MQTT and sends it commands.

    Construct with a bambu :class:`PrinterConfig` (``host``, ``serial``, ``access_code``, ``port`` default 8883,
    ``ca_file`` or ``tls_insecure``) and run :meth:`run` as a task. Every report that changes the kept state is
    normalised and handed to ``sink`` (placeholders after a reconnect are not). Timings in seconds:

    - ``watchdog_s``: silence after which a cheap ``get_version`` request is sent; ``watchdog_grace_s`` later,
      still silent, the connection is dropped as ``timeout`` and re-established.
    - ``pushall_min_interval_s``: the minimum gap between two periodic ``pushall`` requests (5 minutes,
      PROTOCOLS.md). A new connection asks once at most every ``reconnect_pushall_min_interval_s`` (10 s), since
      reports sent during an outage are never repeated.
    - ``command_timeout_s``: how long a command waits for the printer's reply before returning anyway.
    - ``upload_limits``: the FTPS upload's deadline (from the size: 25 KiB/s, at least 600 s) and per-step timeouts.

    As a :class:`~printfleet.domain.dispatch.sending.PrintSender` (``upload_starts_print`` False): :meth:`upload`
    then :meth:`start`. Raises ``ValueError`` at construction when the config is not a usable bambu config.
    """

    kind = PrinterKind.BAMBU
    upload_starts_print = False

    def __init__(
        self,
        config: PrinterConfig,
        *,
        sink: StatusSink,
        observer: ConnectionObserver | None = None,
        backoff: Backoff | None = None,
        watchdog_s: float = 60.0,
        watchdog_grace_s: float = 15.0,
        pushall_min_interval_s: float = PUSHALL_MIN_INTERVAL_S,
        reconnect_pushall_min_interval_s: float = RECONNECT_PUSHALL_MIN_INTERVAL_S,
        command_timeout_s: float = 5.0,
        connect_timeout_s: float = 10.0,
        upload_limits: UploadLimits | None = None,
    ) -> None:
        if config.kind is not PrinterKind.BAMBU:
            raise ValueError(f"printer {config.id!r} is a {config.kind.value} printer, not bambu")
        missing = [name for name in ("host", "serial", "access_code") if not getattr(config, name)]
        if missing:
            raise ValueError(f"printer {config.id!r}: bambu needs {', '.join(missing)}")
        super().__init__(config, sink=sink, observer=observer, backoff=backoff)
        self._host: str = config.host or ""
        self._serial: str = config.serial or ""
        self._watchdog_s = watchdog_s
        self._watchdog_grace_s = watchdog_grace_s
        self._pushall_min_interval_s = pushall_min_interval_s
        self._reconnect_pushall_min_interval_s = reconnect_pushall_min_interval_s
        self._command_timeout_s = command_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._upload_limits = upload_limits or UploadLimits()
        self._state: dict[str, Any] = {}
        self._slots = SlotTracker()
        self._commands = BambuCommands()
        self._client: aiomqtt.Client | None = None
        self._last_pushall: float | None = None
        self._pending: dict[str, asyncio.Future[Mapping[str, Any]]] = {}
        self._warned_insecure = False
        self._identifier = _client_identifier(config.id, self._serial)
        self.log = self.log.bind(serial=self._serial, host=self._host, port=config.effective_port)

    # -- connection ------------------------------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        if self.config.ca_file:
            try:
                return verifying_context(self.config.ca_file, self._serial)
            except (OSError, ssl.SSLError) as exc:
                raise ConnectionFailed(
                    OfflineReason.TLS_FAILED, f"cannot load ca_file {self.config.ca_file!r}: {exc}"
                ) from None
        if self.config.tls_insecure:
            if not self._warned_insecure:
                self._warned_insecure = True
                self.log.warning(
                    "bambu.tls_insecure",
                    detail="tls_insecure is set: the printer's certificate is not verified",
                )
            return insecure_context()
        raise ConnectionFailed(
            OfflineReason.TLS_FAILED,
            "no ca_file configured: set ca_file to the printer CA (verifies the certificate names the serial) "
            "or tls_insecure: true to connect without verification",
        )

    def _classify(self, exc: aiomqtt.MqttError) -> ConnectionFailed:
        """Map a connect failure to an offline reason with a detail an operator can act on (no secrets)."""
        if isinstance(exc, MqttConnectError):
            code = exc.rc if isinstance(exc.rc, int) or exc.rc is None else exc.rc.value
            if code in _AUTH_REFUSED:
                return ConnectionFailed(
                    OfflineReason.AUTH_FAILED,
                    f"printer refused the access code (MQTT CONNACK: {exc}); "
                    "check the LAN access code shown on the printer",
                )
            return ConnectionFailed(OfflineReason.PROTOCOL_ERROR, f"MQTT connection refused: {exc}")
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ssl.SSLCertVerificationError):
            message = cause.verify_message or str(cause)
            if "hostname mismatch" in message.lower():
                return ConnectionFailed(
                    OfflineReason.TLS_FAILED,
                    f"certificate does not name the serial {self._serial!r} (CN/subjectAltName mismatch)",
                )
            return ConnectionFailed(OfflineReason.TLS_FAILED, f"certificate not trusted by ca_file: {message}")
        if isinstance(cause, ssl.SSLError):
            return ConnectionFailed(OfflineReason.TLS_FAILED, f"TLS handshake failed: {cause.reason or cause}")
        if isinstance(cause, TimeoutError) or "timed out" in str(exc).lower():
            return ConnectionFailed(OfflineReason.UNREACHABLE, f"no answer from {self._host}: {exc}")
        return ConnectionFailed(OfflineReason.UNREACHABLE, str(exc) or type(exc).__name__)

    async def _session(self) -> None:
        context = self._tls_context()
        access_code = self.config.access_code
        assert access_code is not None  # checked in __init__
        client = aiomqtt.Client(
            self._host,
            self.config.effective_port,
            username=USERNAME,
            password=access_code.reveal(),
            identifier=self._identifier,
            protocol=aiomqtt.ProtocolVersion.V311,
            tls_context=context,
            keepalive=60,
            timeout=self._connect_timeout_s,
        )
        failure: ConnectionFailed | None = None
        connected = False
        try:
            async with client:
                connected = True
                await client.subscribe(report_topic(self._serial), qos=0)
                self._client = client
                self._backoff.reset()
                self.log.info("bambu.connected", client_id=self._identifier)
                try:
                    await self._receive(client)
                except ConnectionFailed as exc:
                    # Keep our reason: leaving the context may raise its own MqttError (a dead link cannot say
                    # DISCONNECT), which would otherwise hide it.
                    failure = exc
                    self._client = None
        except aiomqtt.MqttError as exc:
            if failure is not None:
                raise failure from None
            if not connected:
                raise self._classify(exc) from None
            raise ConnectionFailed(OfflineReason.UNREACHABLE, f"connection lost: {exc}") from None
        finally:
            self._client = None
            for future in self._pending.values():
                future.cancel()
            self._pending.clear()
        if failure is not None:
            raise failure

    async def _pushall(self, client: aiomqtt.Client, now: float) -> None:
        self._last_pushall = now
        await client.publish(request_topic(self._serial), encode_command(self._commands.pushall()), qos=1)

    async def _receive(self, client: aiomqtt.Client) -> None:
        """Read reports until the connection fails; runs the pushall schedule and the silence watchdog."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        pushall_due: float | None = now
        if self._last_pushall is not None:
            pushall_due = max(now, self._last_pushall + self._reconnect_pushall_min_interval_s)
        last_heard = now
        probe_sent_at: float | None = None
        answer_due: float | None = None
        retries_left = 2
        messages = client.messages
        # One long-lived "next message" task: cancelling a wait_for() on a timer could drop a message that
        # arrived in the same instant.
        incoming: asyncio.Task[aiomqtt.Message] | None = None
        try:
            while True:
                now = loop.time()
                if pushall_due is not None and now >= pushall_due:
                    await self._pushall(client, now)
                    pushall_due = None
                    answer_due = now + PUSHALL_ANSWER_TIMEOUT_S
                if answer_due is not None and now >= answer_due:
                    answer_due = None
                    if self._status.state is PrinterState.OFFLINE and retries_left > 0:
                        retries_left -= 1
                        self.log.info("bambu.pushall_unanswered", retries_left=retries_left)
                        await self._pushall(client, now)
                        answer_due = now + PUSHALL_ANSWER_TIMEOUT_S
                if probe_sent_at is None and now - last_heard >= self._watchdog_s:
                    self.log.info("bambu.watchdog_probe", silent_s=round(now - last_heard, 1))
                    probe = encode_command(self._commands.get_version())
                    await client.publish(request_topic(self._serial), probe, qos=0)
                    probe_sent_at = now
                if probe_sent_at is not None and now - probe_sent_at >= self._watchdog_grace_s:
                    raise ConnectionFailed(
                        OfflineReason.TIMEOUT, f"printer silent for {now - last_heard:.0f} s, also after a probe"
                    )
                if probe_sent_at is not None:
                    wake = probe_sent_at + self._watchdog_grace_s
                else:
                    wake = last_heard + self._watchdog_s
                if pushall_due is not None:
                    wake = min(wake, pushall_due)
                if answer_due is not None:
                    wake = min(wake, answer_due)
                if incoming is None:
                    incoming = asyncio.ensure_future(anext(messages))
                done, _ = await asyncio.wait((incoming,), timeout=max(0.0, wake - now))
                if not done:
                    continue
                message, incoming = incoming.result(), None
                last_heard = loop.time()
                probe_sent_at = None
                await self._handle(message.payload)
        finally:
            if incoming is not None:
                if incoming.done() and not incoming.cancelled():
                    incoming.exception()  # retrieved: the connection is ending anyway
                incoming.cancel()

    async def _handle(self, raw: Any) -> None:
        """Merge one report into the kept state and emit its snapshot when it changed something.

        Anything unreadable in it (not JSON, nested too deep, numbers past the digit limit, a shape merging
        cannot take) is counted as one parse error and dropped; the connection goes on. A top-level field whose
        value cannot be normalised is removed from the kept state (so it cannot fail every later report) and
        counted the same way; the rest of the report is shown.
        """
        try:
            if not isinstance(raw, bytes | bytearray | str):
                raise BambuPayloadError(f"unexpected payload type {type(raw).__name__}")
            payload = parse_payload(raw)
            self._state, changed = apply_report(self._state, payload)
            slots = self._slots.take(payload, changed)
        except BambuPayloadError as exc:
            self._unusable_report(str(exc))
            return
        except UNREADABLE_ERRORS as exc:  # e.g. RecursionError merging a deep value into a deep kept one
            self._unusable_report(type(exc).__name__)
            return
        self._observer.report_received(self.kind)
        self._resolve_reply(payload)
        if (changed or not self.connected) and self._state and not is_placeholder(self._state):
            rejected: list[str] = []
            try:
                status = normalise(self._state, last_seen=utcnow(), rejected=rejected, material_slots=slots)
            except UNREADABLE_ERRORS as exc:  # normalise is total; should it ever fail, never keep the cause
                for key in changed or tuple(self._state):
                    self._state.pop(key, None)
                self._unusable_report(f"{type(exc).__name__} normalising {', '.join(sorted(changed)) or 'state'}")
                return
            if rejected:
                self._unusable_report(f"unusable value dropped: {', '.join(rejected)}")
            await self._emit(status)
        elif self.connected:  # a report that changed nothing: the printer was still seen now
            await self._emit_changed(self._status.replace(last_seen=utcnow()))

    def _unusable_report(self, error: str) -> None:
        self._observer.parse_error(self.kind)
        self.log.warning("bambu.malformed_report", error=error)

    def _resolve_reply(self, payload: Mapping[str, Any]) -> None:
        if not self._pending:
            return
        for body in payload.values():
            if type(body) is not dict or body.get("command") == "push_status":
                continue
            future = self._pending.get(f"{body.get('command')}:{body.get('sequence_id')}")
            if future is not None and not future.done():
                future.set_result(body)

    # -- commands --------------------------------------------------------------------------------------------

    async def _command(self, command: dict[str, Any]) -> None:
        client = self._client
        if client is None:
            raise PrinterNotConnected(self.printer_id, "not connected")
        body = command["print"]
        key = f"{body['command']}:{body['sequence_id']}"
        future: asyncio.Future[Mapping[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            try:
                await client.publish(request_topic(self._serial), encode_command(command), qos=1)
            except MqttCodeError as exc:
                raise PrinterNotConnected(self.printer_id, f"{body['command']} not delivered: {exc}") from None
            try:
                reply = await within(asyncio.shield(future), self._command_timeout_s)
            except TimeoutError:
                self.log.warning("bambu.command_unanswered", command=body["command"])
                return
            except asyncio.CancelledError:
                if future.cancelled():  # the connection dropped while waiting
                    raise PrinterNotConnected(self.printer_id, "connection lost awaiting the reply") from None
                raise
        finally:
            self._pending.pop(key, None)
        result = str(reply.get("result", "")).lower()
        if result and result != "success":
            reason = reply.get("reason") or reply.get("result")
            raise PrinterCommandRejected(self.printer_id, f"{body['command']} refused: {reason}")
        self.log.info("bambu.command_done", command=body["command"])

    async def pause(self) -> None:
        """Pause the current print. Raises PrinterNotConnected, PrinterCommandRejected."""
        await self._command(self._commands.pause())

    async def resume(self) -> None:
        """Resume a paused print. Raises PrinterNotConnected, PrinterCommandRejected."""
        await self._command(self._commands.resume())

    async def stop(self) -> None:
        """Stop (cancel) the current print. Raises PrinterNotConnected, PrinterCommandRejected."""
        await self._command(self._commands.stop())

    async def set_print_speed(self, speed: PrintSpeed) -> None:
        """Print at ``speed``: MQTT ``print_speed`` with ``param`` "1"–"4" (OpenBambuAPI, Bambu Studio's speed
        menu). Raises PrinterNotConnected, PrinterCommandRejected."""
        await self._command(self._commands.print_speed(speed.level))

    async def start_print(self, file_name: str, plate: int = 1) -> None:
        """Start ``file_name`` (a 3MF already on the printer's SD card), plate ``plate`` (1-based), via
        ``project_file`` with default options and fresh ids. Raises PrinterNotConnected, PrinterCommandRejected,
        ValueError (plate < 1)."""
        await self._command(self._commands.project_file(file_name, plate=plate))

    # -- sending a print (PrintSender) -----------------------------------------------------------------------

    async def upload(self, request: PrintRequest, *, start: bool = False) -> Uploaded:
        """Upload ``request.source`` to the SD card's root as ``/<remote_name>`` over implicit FTPS (port
        ``ftp_port``, default 990). ``start`` must be False: a Bambu upload never starts a print.

        Returns :class:`Uploaded` (``remote_path`` ``/<remote_name>``, ``started`` False). Raises UploadFailed
        (with a short reason, never the access code), StartRejected (``.bgcode``, unusable file name),
        ValueError (``start`` True). Does not need the MQTT connection.
        """
        if start:
            raise ValueError("a Bambu upload cannot start the print: call start() after upload()")
        uploaded = await upload(self.config, request, self._upload_limits)
        self.log.info("bambu.uploaded", remote_path=uploaded.remote_path, size_bytes=request.size_bytes)
        return uploaded

    async def start(self, request: PrintRequest, remote_path: str) -> None:
        """Start ``remote_path`` (on the SD card, as :meth:`upload` returned it): ``project_file`` for a
        ``.gcode.3mf`` (plate ``request.plate``, ``subtask_name`` = ``request.job_name``, ``request.options``,
        fresh task/subtask/project ids each call), ``gcode_file`` with ``/sdcard/<name>`` for plain G-code.

        Returns once published and answered, or after ``command_timeout_s`` without an answer (a printer often
        sends none; confirmation comes from the reports). Raises PrinterNotConnected, StartRejected
        (``.bgcode``, plate < 1, or the printer answered with a refusal).
        """
        command = start_command(self._commands, self.printer_id, request, remote_path)
        body = command["print"]
        self.log.info("bambu.start_sent", command=body["command"], remote_path=remote_path, task_id=body.get("task_id"))
        try:
            await self._command(command)
        except PrinterCommandRejected as exc:
            raise StartRejected(self.printer_id, exc.message) from None

    async def request_full_status(self) -> None:
        """Send ``pushall`` now if the 5-minute minimum gap allows it; otherwise do nothing.

        Raises PrinterNotConnected.
        """
        client = self._client
        if client is None:
            raise PrinterNotConnected(self.printer_id, "not connected")
        now = asyncio.get_running_loop().time()
        if self._last_pushall is None or now - self._last_pushall >= self._pushall_min_interval_s:
            await self._pushall(client, now)
