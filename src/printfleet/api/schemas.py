"""Wire shapes of the REST API and WebSocket frames (``XCreate`` / ``XUpdate`` / ``XPublic``).

Secrets are write-only: ``PrinterCreate``/``PrinterUpdate`` accept them, ``PrinterPublic`` only says whether
one is set (``has_access_code``, ``has_password``, ``has_api_key``). Times are ISO 8601 with offset (UTC).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, field_validator

from printfleet.domain.printer import (
    MAX_TAG_LENGTH,
    MAX_TAGS,
    AmsTray,
    OfflineReason,
    PrinterConfig,
    PrinterKind,
    PrinterState,
    PrinterStatus,
    QueueMode,
    Secret,
    clean_tags,
)
from printfleet.services.printers import ConnectionCheck

PrinterId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", examples=["x1c-left"])]


class AmsTrayPublic(BaseModel):
    """One AMS tray: ``color`` is RRGGBBAA hex, ``remain_percent`` 0-100 or null when unknown."""

    ams_id: int
    tray_id: int
    slot: int
    tray_type: str | None
    color: str | None
    remain_percent: int | None

    @classmethod
    def from_domain(cls, tray: AmsTray) -> AmsTrayPublic:
        """Map a domain tray."""
        return cls(
            ams_id=tray.ams_id,
            tray_id=tray.tray_id,
            slot=tray.slot,
            tray_type=tray.tray_type,
            color=tray.color,
            remain_percent=tray.remain_percent,
        )


class UpNextPublic(BaseModel):
    """The scheduled print predicted to run next on a printer; ``start`` null when no time can be predicted."""

    print_id: int
    job_name: str
    start: datetime | None


class PrinterStatusPublic(BaseModel):
    """Live status. Units: progress %, times in seconds, temperatures °C."""

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
    ams_trays: list[AmsTrayPublic] = Field(default_factory=list)
    active_tray: int | None = None
    error_codes: list[str] = Field(default_factory=list)
    last_seen: datetime | None = None
    offline_reason: OfflineReason | None = None
    offline_detail: str | None = None
    plate_needs_clearing: bool = Field(
        default=False,
        description="The last print ended and nobody has confirmed the plate is clear yet "
        "(POST /api/v1/printers/{id}/plate-cleared).",
    )
    sending: str | None = Field(
        default=None,
        description="The step of a print printfleet is sending this printer (pending, uploading, uploaded, "
        "starting); null when none is in flight.",
    )
    thumbnail_url: str | None = Field(
        default=None,
        description="The preview of the plate being printed (GET it with the same credentials); null when none.",
    )
    next_print: UpNextPublic | None = Field(
        default=None,
        description="The scheduled print predicted to run next on this printer (GET /api/v1/schedule/timeline); "
        "null when none is.",
    )

    @classmethod
    def from_domain(cls, status: PrinterStatus) -> PrinterStatusPublic:
        """Map a domain status."""
        return cls(
            state=status.state,
            raw_state=status.raw_state,
            file_name=status.file_name,
            job_name=status.job_name,
            progress=status.progress,
            remaining_seconds=status.remaining_seconds,
            elapsed_seconds=status.elapsed_seconds,
            print_start_time=status.print_start_time,
            nozzle_temp=status.nozzle_temp,
            nozzle_target=status.nozzle_target,
            bed_temp=status.bed_temp,
            bed_target=status.bed_target,
            chamber_temp=status.chamber_temp,
            layer=status.layer,
            total_layers=status.total_layers,
            native_job_id=status.native_job_id,
            stage=status.stage,
            ams_trays=[AmsTrayPublic.from_domain(tray) for tray in status.ams_trays],
            active_tray=status.active_tray,
            error_codes=list(status.error_codes),
            last_seen=status.last_seen,
            offline_reason=status.offline_reason,
            offline_detail=status.offline_detail,
            plate_needs_clearing=status.plate_needs_clearing,
            sending=status.sending,
            thumbnail_url=status.thumbnail_url,
            next_print=(
                UpNextPublic(
                    print_id=status.next_print.print_id,
                    job_name=status.next_print.job_name,
                    start=status.next_print.start,
                )
                if status.next_print is not None
                else None
            ),
        )


class PrinterPublic(BaseModel):
    """A printer as the API returns it: configuration without secrets, plus live ``status``.

    ``poll_interval`` (seconds) is the printer's own poll interval; null means it follows the global
    ``monitoring_interval`` setting (``GET /api/v1/settings``), and Bambu printers, which push, ignore it.
    """

    id: str
    name: str
    type: PrinterKind
    host: str | None
    port: int | None
    serial: str | None
    ca_file: str | None
    tls_insecure: bool
    username: str | None
    url: str | None
    poll_interval: float | None = Field(
        description="Seconds between polls; null: follows the global monitoring_interval setting."
    )
    auto_create_jobs: bool | None
    model: str | None = Field(description="The printer model (X1C, P1S, MK4S...), when configured.")
    ftp_port: int | None = Field(description="Bambu FTPS port; null: 990.")
    queue_mode: QueueMode = Field(
        description="Who sends it prints: members (the shared member queue), scheduled (the scheduler), manual."
    )
    tags: list[str] = Field(
        description="The operator's own labels (a location, a group): the Printers page filters by them and a "
        'scheduled print can target them (``{"tags": [...]}``).'
    )
    average_watts: float | None = Field(description="Average power while printing, W: the energy part of a cost.")
    hourly_rate: float | None = Field(description="Machine time per printing hour, in the costs currency.")
    has_access_code: bool
    has_password: bool
    has_api_key: bool
    status: PrinterStatusPublic

    @classmethod
    def from_domain(cls, config: PrinterConfig, status: PrinterStatus | None) -> PrinterPublic:
        """Map a configuration and its live status; a printer not yet watched shows ``offline``."""
        return cls(
            id=config.id,
            name=config.name,
            type=config.kind,
            host=config.host,
            port=config.port,
            serial=config.serial,
            ca_file=config.ca_file,
            tls_insecure=config.tls_insecure,
            username=config.username,
            url=config.url,
            poll_interval=config.poll_interval,
            auto_create_jobs=config.auto_create_jobs,
            model=config.model,
            ftp_port=config.ftp_port,
            queue_mode=config.queue_mode,
            tags=list(config.tags),
            average_watts=config.average_watts,
            hourly_rate=config.hourly_rate,
            has_access_code=bool(config.access_code),
            has_password=bool(config.password),
            has_api_key=bool(config.api_key),
            status=PrinterStatusPublic.from_domain(status or PrinterStatus.offline(OfflineReason.CONNECTING)),
        )


class PrinterList(BaseModel):
    """``GET /api/v1/printers``."""

    printers: list[PrinterPublic]


class _PrinterFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    host: str | None = Field(default=None, max_length=255)
    port: int | None = Field(default=None, ge=1, le=65535)
    serial: str | None = Field(default=None, max_length=64)
    access_code: SecretStr | None = Field(default=None, max_length=256)
    ca_file: str | None = Field(default=None, max_length=4096)
    tls_insecure: bool | None = None
    username: str | None = Field(default=None, max_length=256)
    password: SecretStr | None = Field(default=None, max_length=256)
    api_key: SecretStr | None = Field(default=None, max_length=256)
    url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://")
    poll_interval: float | None = Field(default=None, ge=0.5, le=3600)
    auto_create_jobs: bool | None = None
    model: str | None = Field(default=None, min_length=1, max_length=64)
    ftp_port: int | None = Field(default=None, ge=1, le=65535)
    queue_mode: QueueMode | None = None
    tags: list[Annotated[str, Field(max_length=MAX_TAG_LENGTH)]] | None = Field(
        default=None,
        max_length=MAX_TAGS,
        description="Labels such as a location (room-a) or a group (petg): trimmed, duplicates dropped; "
        "no commas; [] or null: none.",
    )
    average_watts: float | None = Field(default=None, ge=0, le=100_000)
    hourly_rate: float | None = Field(default=None, ge=0, le=1_000_000)

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, secrets wrapped in domain ``Secret``, tags cleaned (a tuple)."""
        out: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = Secret(value.get_secret_value())
            if name == "tags":
                value = clean_tags(value or [])
            out[name] = value
        return out


class PrinterCreate(_PrinterFields):
    """``POST /api/v1/printers``. Which fields are required depends on ``type`` (see the README). Without
    ``poll_interval`` (or with null) a polled printer follows the global ``monitoring_interval`` setting."""

    id: PrinterId
    type: PrinterKind

    def to_domain(self) -> PrinterConfig:
        """A domain configuration with kind defaults applied."""
        fields = self.changes()
        fields.pop("id", None)
        fields.pop("type", None)
        fields = {k: v for k, v in fields.items() if v is not None}
        fields.setdefault("name", self.id)
        if "url" in fields:
            fields["url"] = str(fields["url"]).rstrip("/")
        return PrinterConfig(id=self.id, kind=self.type, **fields)


class PrinterUpdate(_PrinterFields):
    """``PATCH /api/v1/printers/{id}``: only the fields sent change. A secret sent as ``""`` is cleared;
    ``poll_interval`` sent as null makes the printer follow the global ``monitoring_interval`` again."""

    @field_validator("tls_insecure", "queue_mode")
    @classmethod
    def _flag_not_null(cls, value: Any) -> Any:
        # Sent as null it would reach the store as NULL (a 500); null means "unset" only where a field has a
        # global fallback (poll_interval, auto_create_jobs) or can be empty.
        if value is None:
            raise ValueError("must be true or false")
        return value


class PrinterTest(PrinterCreate):
    """``POST /api/v1/printers/test``: a printer as for ``POST /api/v1/printers``, tried but not saved.

    ``id`` may be left out (``connection-test``); it only names the attempt in the server's log.
    """

    id: PrinterId = "connection-test"


class ConnectionTestResult(BaseModel):
    """The outcome of a connection test. Never holds a secret.

    ``ok`` is true when the printer answered and accepted the credentials; then ``state`` is its live state
    (``idle``, ``printing``, ...). Otherwise ``state`` is ``offline`` and ``offline_reason`` says why
    (``unreachable``, ``auth_failed``, ``tls_failed``, ``timeout``, ``protocol_error``, ``not_operational``,
    ``host_not_ready``, ``owned_elsewhere``),
    with a short human ``detail``. ``seconds`` is how long the test took.
    """

    ok: bool
    state: PrinterState
    offline_reason: OfflineReason | None
    detail: str | None
    seconds: float

    @classmethod
    def from_domain(cls, check: ConnectionCheck) -> ConnectionTestResult:
        """Map a service result."""
        return cls(
            ok=check.ok,
            state=check.state,
            offline_reason=check.offline_reason,
            detail=check.detail,
            seconds=check.seconds,
        )


class Frame(BaseModel):
    """A WebSocket frame: ``{"type": <event name>, "data": {...}}``."""

    type: str
    data: dict[str, Any]


class Health(BaseModel):
    """``GET /healthz``: ``ok`` (HTTP 200), or ``degraded`` (HTTP 503) with one sentence per reason: the store
    failing, printer states not recorded yet, printer connections restarting after a crash, the Discord bot (when
    configured) not connected (such as ``"discord: not connected, retrying in 40 s (ClientConnectorError)"``). A
    printer that is merely offline (switched off) does not make the server degraded; ``printers_connected`` counts
    the reachable."""

    status: Literal["ok", "degraded"]
    reasons: list[str] = Field(default_factory=list)
    printers: int
    printers_connected: int
    checked_at: AwareDatetime
    roles: list[str] = Field(
        default_factory=list,
        description="the singleton roles this process runs now (notifications.delivery, …); on PostgreSQL one "
        "process of the farm holds each, on SQLite the only process holds them all",
    )
    printers_owned: int = Field(
        description="the printers this process connects to: in a shared farm (PostgreSQL, farm.printer_ownership) "
        "its share of the farm, else every printer"
    )


class CommandAccepted(BaseModel):
    """A printer command was sent."""

    status: Literal["sent"] = "sent"
    command: str
