"""Printers as printfleet sees them: kinds, normalised states, configuration and live status.

Everything here is pure Python. Adapters (``printfleet.printers.*``) turn each wire format into a
:class:`PrinterStatus`; everything downstream (tracking, API, WebSocket) reads only this shape.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from printfleet.domain.materials.slots import MaterialSlots, SlotSpool


class PrinterKind(StrEnum):
    """The protocol family a printer speaks."""

    BAMBU = "bambu"
    PRUSALINK = "prusalink"
    OCTOPRINT = "octoprint"
    MOONRAKER = "moonraker"

    @property
    def is_polled(self) -> bool:
        """True for kinds printfleet polls over HTTP (PrusaLink, OctoPrint); Bambu and Moonraker push their
        reports."""
        return self in (PrinterKind.PRUSALINK, PrinterKind.OCTOPRINT)


class QueueMode(StrEnum):
    """How a printer takes part in printing: ``members`` (offered to the shared member queue), ``scheduled`` (the
    scheduler sends it scheduled prints by itself) or ``manual`` (neither: only prints sent by hand)."""

    MEMBERS = "members"
    SCHEDULED = "scheduled"
    MANUAL = "manual"


DEFAULT_POLL_INTERVAL_S = 5.0
"""The poll interval, seconds, when nothing else says: the initial global ``monitoring_interval``, and what a polled
adapter uses for a configuration that follows the global setting but was not resolved against it."""


class PrinterState(StrEnum):
    """Normalised printer state, the same for every kind.

    ``finished``, ``failed`` and ``cancelled`` describe the last print and stay until the next print starts
    (Bambu keeps ``FINISH``/``FAILED``, PrusaLink ``FINISHED``/``STOPPED``).
    """

    OFFLINE = "offline"
    IDLE = "idle"
    PREPARING = "preparing"
    PRINTING = "printing"
    PAUSED = "paused"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ERROR = "error"

    @property
    def is_active(self) -> bool:
        """True while a print is under way (preparing, printing or paused)."""
        return self in _ACTIVE

    @property
    def is_terminal(self) -> bool:
        """True when the state reports how the last print ended."""
        return self in _TERMINAL


_ACTIVE = frozenset({PrinterState.PREPARING, PrinterState.PRINTING, PrinterState.PAUSED})
_TERMINAL = frozenset({PrinterState.FINISHED, PrinterState.FAILED, PrinterState.CANCELLED})


class OfflineReason(StrEnum):
    """Why a printer is ``offline``."""

    CONNECTING = "connecting"  # not reached yet since start-up
    UNREACHABLE = "unreachable"  # connection refused, no route, DNS failure
    TIMEOUT = "timeout"  # connected, then silent past the watchdog, or HTTP timeout
    AUTH_FAILED = "auth_failed"  # wrong access code, password or API key
    TLS_FAILED = "tls_failed"  # certificate not trusted, or CN is not the serial
    PROTOCOL_ERROR = "protocol_error"  # the printer answered something we cannot read
    NOT_OPERATIONAL = "not_operational"  # OctoPrint up, but its serial link to the printer is down
    HOST_NOT_READY = "host_not_ready"  # Moonraker up, but Klippy is not connected or not ready
    OWNED_ELSEWHERE = "owned_elsewhere"  # another printfleet already holds the printer (Moonraker agent refused)


class Secret:
    """A write-only value (access code, password, API key).

    ``str()``, ``repr()`` and f-strings show ``'**********'``; only :meth:`reveal` gives the value, so a secret
    that ends up in a log line or an exception message does not leak.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret value; call only where it goes onto the wire."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


_HOST_NAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$")
_DOTTED_NUMBERS = re.compile(r"^[0-9.]+$")


def host_problem(host: str) -> str | None:
    """Why ``host`` cannot name a printer (None when it can): an IP address (IPv6 with or without brackets) or an
    ASCII host name of letters, digits, ``-`` and ``_`` in dot-separated labels, at most 253 characters. A
    non-ASCII name must be given in its ``xn--`` form."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        pass
    else:
        return None
    if _DOTTED_NUMBERS.match(host):
        return "is not a valid IPv4 address"
    if len(host) > 253 or not _HOST_NAME.match(host):
        return (
            "must be an IP address or a host name of letters, digits, '-' and '_' (write an international name in "
            "its xn-- form)"
        )
    return None


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be an OctoPrint or Moonraker address (None when it can): it must be ``http://`` or
    ``https://`` with a valid host (see :func:`host_problem`) and port, and hold no spaces or control characters."""
    if not url.startswith(("http://", "https://")):
        return "must start with http:// or https://"
    if any(ord(char) <= 0x20 or 0x7F <= ord(char) <= 0x9F for char in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return "is not a valid URL (check the host and port)"
    host = parts.hostname
    if not host:
        return "needs a host, e.g. http://octopi.local"
    problem = host_problem(host)
    return f"host {problem}" if problem else None


MAX_TAGS = 16
"""Tags one printer may carry."""

MAX_TAG_LENGTH = 40
"""Characters in one tag."""


def clean_tags(values: object) -> tuple[str, ...]:
    """Tags as typed (a list, or one string split at commas) as stored: trimmed, empty ones dropped, duplicates
    (ignoring case) dropped, in the order given. Validate the result with :func:`tags_problem`."""
    items = values.split(",") if isinstance(values, str) else list(values) if isinstance(values, list | tuple) else []
    seen: set[str] = set()
    tags: list[str] = []
    for item in items:
        tag = " ".join(str(item).split())
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    return tuple(tags)


def tags_problem(tags: tuple[str, ...]) -> str | None:
    """Why ``tags`` cannot be stored (None when they can): at most :data:`MAX_TAGS`, each 1 to
    :data:`MAX_TAG_LENGTH` characters without a comma or control character."""
    if len(tags) > MAX_TAGS:
        return f"give at most {MAX_TAGS} tags"
    for tag in tags:
        if not 0 < len(tag) <= MAX_TAG_LENGTH:
            return f"each tag must be 1 to {MAX_TAG_LENGTH} characters"
        if "," in tag or any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in tag):
            return f"tag {tag!r} must not contain a comma or control characters"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class PrinterConfig:
    """How to reach one printer. Which fields apply depends on ``kind``.

    - bambu: ``host``, ``port`` (MQTT, default 8883), ``serial``, ``access_code``, ``ca_file`` or ``tls_insecure``,
      ``ftp_port`` (implicit FTPS for uploads, default 990; see :attr:`effective_ftp_port`).
    - prusalink: ``host``, ``port`` (default 80), ``username`` + ``password`` (HTTP Digest) or ``api_key``,
      ``poll_interval`` (seconds).
    - octoprint: ``url``, ``api_key``, ``poll_interval`` (seconds).
    - moonraker: ``url`` (``http://host:7125``), optional ``api_key`` (none: Moonraker trusts printfleet's address).

    ``poll_interval`` is the per-printer override of the global ``monitoring_interval`` (None: follow the global
    setting, see :meth:`with_default_poll_interval`); Bambu printers push their reports and ignore it.
    ``auto_create_jobs`` is the per-printer override of job auto-creation (None: follow the global setting).
    ``model`` names the printer model (``X1C``, ``P1S``, ``A1 mini``, ``MK4S``...; optional: printfleet then cannot
    tell a Bambu file sliced for another model). ``queue_mode`` says who sends it prints (:class:`QueueMode`);
    ``tags`` are the operator's own labels (a location such as ``room-a``, a group such as ``petg``, ``0.6-nozzle``):
    the Printers page filters by them and a scheduled print can target them; see :func:`clean_tags`.
    ``average_watts`` (W, while printing) and ``hourly_rate`` (currency per printing hour) price a print's energy and
    machine time (None: not costed).
    """

    id: str
    name: str
    kind: PrinterKind
    host: str | None = None
    port: int | None = None
    serial: str | None = None
    access_code: Secret | None = None
    ca_file: str | None = None
    tls_insecure: bool = False
    username: str | None = None
    password: Secret | None = None
    api_key: Secret | None = None
    url: str | None = None
    poll_interval: float | None = None
    auto_create_jobs: bool | None = None
    model: str | None = None
    ftp_port: int | None = None
    queue_mode: QueueMode = QueueMode.MEMBERS
    tags: tuple[str, ...] = ()
    average_watts: float | None = None
    hourly_rate: float | None = None

    def replace(self, **changes: object) -> PrinterConfig:
        """Return a copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def with_default_poll_interval(self, default: float) -> PrinterConfig:
        """This configuration as its connection uses it: a polled printer that follows the global setting
        (``poll_interval`` None) polls every ``default`` seconds; anything else is returned unchanged."""
        if self.poll_interval is not None or not self.kind.is_polled:
            return self
        return self.replace(poll_interval=default)

    def problems(self) -> list[tuple[str, str]]:
        """What is missing or wrong for this kind, as ``(field, message)`` pairs; empty when usable."""
        found: list[tuple[str, str]] = []
        if not self.id.strip():
            found.append(("id", "must not be empty"))
        if not (self.name or "").strip():
            found.append(("name", "must not be empty"))
        if self.kind is PrinterKind.BAMBU:
            if not self.host:
                found.append(("host", "is required for a Bambu Lab printer"))
            if not self.serial:
                found.append(("serial", "is required for a Bambu Lab printer (shown under Settings > Device)"))
            if not self.access_code:
                found.append(("access_code", "is required for a Bambu Lab printer (LAN access code)"))
            if not self.ca_file and not self.tls_insecure:
                found.append(
                    (
                        "ca_file",
                        "set ca_file to verify the printer's certificate, or tls_insecure: true to accept any "
                        "certificate (the access code is sent over this connection)",
                    )
                )
        elif self.kind is PrinterKind.PRUSALINK:
            if not self.host:
                found.append(("host", "is required for a PrusaLink printer"))
            if not self.api_key and not (self.username and self.password):
                found.append(("password", "give username and password (HTTP Digest) or api_key"))
        elif self.kind is PrinterKind.OCTOPRINT:
            if not self.url or not self.url.startswith(("http://", "https://")):
                found.append(("url", "is required for OctoPrint and must start with http:// or https://"))
            elif problem := url_problem(self.url):
                found.append(("url", problem))
            if not self.api_key:
                found.append(("api_key", "is required for OctoPrint (a user's application key)"))
        elif self.kind is PrinterKind.MOONRAKER:
            if not self.url or not self.url.startswith(("http://", "https://")):
                found.append(("url", "is required for Moonraker and must start with http:// or https://"))
            elif problem := url_problem(self.url):
                found.append(("url", problem))
        uses_host = self.kind in (PrinterKind.BAMBU, PrinterKind.PRUSALINK)
        if self.host and uses_host and (problem := host_problem(self.host)):
            found.append(("host", problem))
        if self.port is not None and not 0 < self.port < 65536:
            found.append(("port", "must be between 1 and 65535"))
        if self.ftp_port is not None and not 0 < self.ftp_port < 65536:
            found.append(("ftp_port", "must be between 1 and 65535"))
        if self.model is not None and not 0 < len(self.model.strip()) <= 64:
            found.append(("model", "must be 1 to 64 characters"))
        if self.poll_interval is not None and not 0.5 <= self.poll_interval <= 3600:
            found.append(("poll_interval", "must be between 0.5 and 3600 seconds"))
        if problem := tags_problem(self.tags):
            found.append(("tags", problem))
        if self.average_watts is not None and not 0 <= self.average_watts <= 100_000:
            found.append(("average_watts", "must be between 0 and 100000 watts"))
        if self.hourly_rate is not None and not 0 <= self.hourly_rate <= 1_000_000:
            found.append(("hourly_rate", "must be between 0 and 1000000"))
        return found

    @property
    def effective_port(self) -> int:
        """The TCP port used: the configured one, else the kind's default (8883 Bambu, 80 PrusaLink)."""
        if self.port is not None:
            return self.port
        return 8883 if self.kind is PrinterKind.BAMBU else 80

    @property
    def effective_ftp_port(self) -> int:
        """A Bambu printer's implicit-FTPS port: the configured ``ftp_port``, else 990 (every printer model;
        research dispatch-scheduling-orders.md 1a). Simulators serve FTPS on their own ports."""
        return self.ftp_port if self.ftp_port is not None else 990


@dataclass(frozen=True, slots=True)
class AmsTray:
    """One filament slot of a Bambu AMS (or the external spool, ``ams_id`` 255, ``tray_id`` 254).

    ``color`` is ``RRGGBBAA`` hex as the printer sends it; ``remain_percent`` is None when the printer does not
    know (it sends -1). Source: OpenBambuAPI mqtt.md, ``print.ams.ams[].tray[]``.
    """

    ams_id: int
    tray_id: int
    tray_type: str | None = None
    color: str | None = None
    remain_percent: int | None = None
    tray_info_idx: str | None = None
    tag_uid: str | None = None

    @property
    def slot(self) -> int:
        """Global slot number as Bambu's ``tray_now`` counts it: ``ams_id * 4 + tray_id``."""
        return self.ams_id * 4 + self.tray_id

    @property
    def label(self) -> str:
        """The slot's label (``AMS0-T2``, ``EXT254`` for the external spool), as material slots name it."""
        return f"EXT{self.tray_id}" if self.ams_id == 255 else f"AMS{self.ams_id}-T{self.tray_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class UpNext:
    """The scheduled print ``print_id`` (``job_name``) predicted to start next on a printer at ``start`` (aware UTC;
    None: no time can be predicted yet)."""

    print_id: int
    job_name: str
    start: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PrinterStatus:
    """A normalised snapshot of one printer.

    Units: ``progress`` in % (0-100), ``remaining_seconds``/``elapsed_seconds`` in seconds, temperatures in °C.
    ``file_name`` is the printer's own name for the file (path prefixes kept; cleaning is the job tracker's
    business). ``job_name`` is a display name when the printer gives one (Bambu ``subtask_name``, PrusaLink
    ``display_name``). ``print_start_time`` is set only when the printer reports a start time or elapsed seconds:
    never estimated from progress. ``raw_state`` is the printer's own state word (``RUNNING``, ``PRINTING``,
    ``Operational``) for display and debugging. ``plate_needs_clearing`` is printfleet's own knowledge, not the
    printer's: its last print ended and nobody has confirmed the plate is clear yet; so is ``sending``, the step of a
    print printfleet is sending the printer (``pending``, ``uploading``, ``uploaded``, ``starting``; None: none).
    Adapters leave both unset; the monitoring service fills them in for every status it publishes.
    ``material_slots`` is where the printer holds filament (Bambu AMS trays and external spools from the merged
    reports, tool slots elsewhere; None when the adapter does not know yet); an adapter hands on the same object
    while nothing in it changed, so ``is not`` tells a slot change cheaply. ``slot_spools`` (by slot label) is
    printfleet's own knowledge of the spools in the slots, filled in by the monitoring service like ``sending``.
    ``filament_used_mm`` is what the printer says the current print has extruded, mm (Moonraker
    ``print_stats.filament_used``; reset by Klipper when the print ends); ``filament_estimate_mm`` the printer's own
    estimate for the whole file per tool, mm (OctoPrint's G-code analysis, ``job.filament.toolN.length``), and
    ``filament_estimate_g`` in grams (PrusaLink's file metadata, ``meta["filament used [g] per tool"]``).
    ``ams_mapping``: which tray serves each filament of the print, as the printer reports it (Bambu ``print.mapping``
    decoded to global tray ids, -1 unmapped; () unknown).
    ``reports_spool_usage``: the printer reports its filament use to Spoolman itself (Moonraker's ``[spoolman]``),
    so printfleet must not report it again.
    ``next_print``: the scheduled print predicted to run next on this printer (a ``scheduled`` printer; None: none),
    and ``thumbnail_url`` the preview of the plate being printed when printfleet has it, both filled in by the
    monitoring service like ``sending``.
    """

    state: PrinterState
    raw_state: str | None = None
    file_name: str | None = None
    job_name: str | None = None
    progress: float | None = None
    remaining_seconds: int | None = None
    elapsed_seconds: int | None = None
    print_start_time: datetime | None = None
    nozzle_temp: float | None = None
    nozzle_target: float | None = None
    bed_temp: float | None = None
    bed_target: float | None = None
    chamber_temp: float | None = None
    layer: int | None = None
    total_layers: int | None = None
    native_job_id: str | None = None
    stage: str | None = None
    ams_trays: tuple[AmsTray, ...] = ()
    active_tray: int | None = None
    error_codes: tuple[str, ...] = ()
    last_seen: datetime | None = None
    offline_reason: OfflineReason | None = None
    offline_detail: str | None = None
    plate_needs_clearing: bool = False
    sending: str | None = None
    material_slots: MaterialSlots | None = None
    filament_used_mm: float | None = None
    filament_estimate_mm: tuple[float, ...] = ()
    filament_estimate_g: tuple[float, ...] = ()
    reports_spool_usage: bool = False
    ams_mapping: tuple[int, ...] = ()
    slot_spools: dict[str, SlotSpool] = field(default_factory=dict, compare=False, hash=False)
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    next_print: UpNext | None = field(default=None, compare=False, hash=False)
    thumbnail_url: str | None = None

    def lifecycle_key(self) -> tuple[object, ...]:
        """The fields whose change is a *state change* (persisted, pushed at once).

        Everything else (temperatures, progress, remaining time, layer, AMS levels, last_seen) is telemetry,
        pushed at most once a second per printer.
        """
        return (
            self.state,
            self.file_name,
            self.native_job_id,
            self.offline_reason,
            self.error_codes,
            self.stage,
        )

    def replace(self, **changes: object) -> PrinterStatus:
        """Return a copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def offline(
        cls, reason: OfflineReason, *, detail: str | None = None, last_seen: datetime | None = None
    ) -> PrinterStatus:
        """An ``offline`` snapshot with its reason and a short human detail (never a secret)."""
        return cls(state=PrinterState.OFFLINE, offline_reason=reason, offline_detail=detail, last_seen=last_seen)


class PrinterError(Exception):
    """Base class of printer errors; ``printer_id`` names the printer."""

    def __init__(self, printer_id: str, message: str) -> None:
        super().__init__(f"printer {printer_id!r}: {message}")
        self.printer_id = printer_id
        self.message = message


class PrinterNotConnected(PrinterError):
    """A command was sent to a printer that is offline."""


class PrinterCommandRejected(PrinterError):
    """The printer refused a command (for example pause when nothing prints: OctoPrint 409)."""
