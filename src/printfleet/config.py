"""Configuration: one YAML file plus ``PRINTFLEET_*`` environment variables, validated at start-up.

Precedence (highest first): environment (``PRINTFLEET_DATABASE_URL``, nested ``PRINTFLEET_HTTP__PORT``, ...),
then the YAML file (``--config FILE`` or ``PRINTFLEET_CONFIG``), then defaults. A problem raises
:class:`ConfigError` whose message names the file, the key and what is wrong; nothing starts half-configured.

Example::

    database_url: sqlite+aiosqlite:///data/printfleet.db
    http: {host: 127.0.0.1, port: 8000}
    job_creation: {auto_create: true}
    queue: {claim_window: 10m, start_window: 15m, max_missed_offers: 2, max_active_per_user: 1}
    discord: {token: "...", guild_id: 123, queue_channel_id: 456, admin_role: Print Admin}
    printers:
      - {id: x1c-left, name: X1C Left, type: bambu, host: 192.168.1.50, serial: 01S00C123456789,
         access_code: "12345678"}
"""

from __future__ import annotations

import contextvars
import ipaddress
import os
import re
from datetime import time, timedelta, tzinfo
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from printfleet.domain.durations import QueueInputError, parse_duration
from printfleet.domain.printer import (
    DEFAULT_POLL_INTERVAL_S,
    PrinterConfig,
    PrinterKind,
    QueueMode,
    Secret,
    clean_tags,
    tags_problem,
)
from printfleet.domain.queue import QueuePolicy
from printfleet.domain.schedule.ordering import StaffedHours

_PRINTER_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_YAML_DATA: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("printfleet_yaml_data")


class ConfigError(Exception):
    """The configuration cannot be used. ``str()`` is the message for the operator, one problem per line."""


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _listen_host(value: str) -> str:
    """``value`` when it is an IP address or a host name (RFC 1123 labels, at most 253 characters); else ValueError."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        return value
    labels = value.removesuffix(".").split(".")
    if len(value) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise ValueError("must be an IP address or a host name (such as 127.0.0.1, 0.0.0.0, :: or localhost)")
    return value


class HttpSettings(BaseModel):
    """Where the web server listens (``host``: an IP address or host name; ``port``: 1–65535), which ``Host``
    names it answers to, and its limits.

    ``allowed_hosts``: the host names (no port) a request's ``Host`` header may carry; others get 400 (DNS
    rebinding). None: ``host`` itself, ``localhost`` and ``127.0.0.1``; ``"*"`` allows any. A ``Host`` that is an IP
    address literal is always allowed (a rebinding page cannot make a browser send one).
    ``max_body_bytes``: the largest request body, bytes (413 beyond). ``header_timeout``: seconds a connection may
    take to send a request's headers before it is closed (slow clients). ``keep_alive_timeout``: seconds an idle
    keep-alive connection stays open. ``max_connections``: connections (and running requests) at once before new
    requests get 503. ``secure_cookies`` marks the session cookie ``Secure`` even when a request arrived over plain
    HTTP (behind a TLS-terminating proxy); over HTTPS it is always ``Secure``.
    """

    model_config = ConfigDict(extra="forbid")
    host: Annotated[str, AfterValidator(_listen_host)] = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secure_cookies: bool = False
    allowed_hosts: list[Annotated[str, Field(min_length=1, max_length=253)]] | None = None
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=1024**3)
    header_timeout: float = Field(default=10.0, gt=0, le=300)
    keep_alive_timeout: int = Field(default=5, ge=1, le=300)
    max_connections: int = Field(default=1000, ge=1, le=1_000_000)

    def host_names(self) -> frozenset[str]:
        """The allowed ``Host`` names, lower case (``"*"``: any)."""
        names = self.allowed_hosts if self.allowed_hosts is not None else [self.host, "localhost", "127.0.0.1"]
        return frozenset(name.strip().lower().strip("[]") for name in names)


class JobCreationSettings(BaseModel):
    """Automatic job creation (initial value; changed at run time through the settings API)."""

    model_config = ConfigDict(extra="forbid")
    auto_create: bool = True


class LoggingSettings(BaseModel):
    """Log level and format (``console`` for people, ``json`` for log collectors)."""

    model_config = ConfigDict(extra="forbid")
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["console", "json"] = "console"


def _window(value: Any, *, maximum: timedelta = timedelta(days=1)) -> Any:
    """A window written as text (``90s``, ``10m``, ``1h30m``, ``2:15``) or as a bare number of seconds (``90``,
    from YAML or the environment alike), as a timedelta."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = f"{value}s"
    elif isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
        value = f"{value.strip()}s"
    if isinstance(value, str):
        try:
            return parse_duration(value, maximum=maximum)
        except QueueInputError as error:
            raise ValueError(error.message) from None
    return value


Window = Annotated[timedelta, BeforeValidator(_window)]
"""A duration setting: ``90s``, ``10m``, ``1h30m``, ``2:15`` (hours:minutes) or a bare number of seconds."""


class RateLimitSettings(BaseModel):
    """Per-user command rate limit of the queue: ``burst`` commands at once, then one more every ``per``."""

    model_config = ConfigDict(extra="forbid")
    burst: int = Field(default=5, ge=1, le=1000)
    per: Window = timedelta(seconds=10)


class QueueSettings(BaseModel):
    """The fair shared queue. ``claim_window``: time to claim an offered printer; ``start_window``: time for a print
    to start on a claimed printer. ``max_missed_offers``: missed windows in a row that remove an entry (null:
    never). ``max_active_per_user``: entries a user may have at once. ``max_estimate``: longest estimate accepted.
    ``startup_grace``: after a restart, how long a reservation whose start window ran out meanwhile waits for its
    printer's first report (a print that started in time is then still linked)."""

    model_config = ConfigDict(extra="forbid")
    claim_window: Window = timedelta(minutes=10)
    start_window: Window = timedelta(minutes=15)
    max_missed_offers: int | None = Field(default=2, ge=1, le=100)
    requeue_on_start_miss: bool = True
    max_active_per_user: int = Field(default=1, ge=1, le=100)
    max_estimate: Annotated[timedelta, BeforeValidator(partial(_window, maximum=timedelta(days=30)))] = timedelta(
        hours=72
    )
    startup_grace: Window = timedelta(seconds=30)
    rate_limit: RateLimitSettings = RateLimitSettings()

    def policy(self) -> QueuePolicy:
        """The domain's :class:`QueuePolicy` of these settings."""
        return QueuePolicy(
            claim_window=self.claim_window,
            start_window=self.start_window,
            max_missed_offers=self.max_missed_offers,
            requeue_on_start_miss=self.requeue_on_start_miss,
            max_active_per_user=self.max_active_per_user,
            max_estimate=self.max_estimate,
        )


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WORKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)") from None


def _clock_time(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day such as 08:00") from None


class StaffedHoursSettings(BaseModel):
    """When someone is at the farm to take prints off the plates: ``days`` (``mon`` … ``sun``), ``start`` and
    ``end`` (``HH:MM`` wall-clock in ``zone``, an IANA name; an ``end`` before ``start`` runs past midnight)."""

    model_config = ConfigDict(extra="forbid")
    days: list[Weekday] = Field(default_factory=lambda: list(_WORKDAYS), min_length=1)
    start: Annotated[str, AfterValidator(lambda v: _clock_time(v).isoformat(timespec="minutes"))] = "08:00"
    end: Annotated[str, AfterValidator(lambda v: _clock_time(v).isoformat(timespec="minutes"))] = "18:00"
    zone: Annotated[str, AfterValidator(lambda v: (_zone(v), v)[1])] = "UTC"

    def to_domain(self) -> StaffedHours:
        """The domain's :class:`StaffedHours`."""
        return StaffedHours(
            days=frozenset(_WEEKDAYS.index(day) for day in self.days),
            start=_clock_time(self.start),
            end=_clock_time(self.end),
            zone=_zone(self.zone),
        )


class OrdersSettings(BaseModel):
    """Shop orders (docs/orders.md). ``ship_buffer`` (hours) is kept for packing before an order's ship-by date
    (its prints' ``finish_by``); ``auto_schedule`` schedules paid orders whose lines all match a product profile as
    they arrive; ``reprint_failed`` schedules a failed plate again, up to ``max_attempts`` prints a plate (else the
    order needs attention)."""

    model_config = ConfigDict(extra="forbid")
    ship_buffer: float = Field(default=24.0, ge=0, le=30 * 24)
    auto_schedule: bool = False
    reprint_failed: bool = True
    max_attempts: int = Field(default=3, ge=1, le=10)


class ScheduleSettings(BaseModel):
    """The scheduler of scheduled prints (docs/schedule.md). ``stagger`` (seconds; 0: off) spaces dispatches across
    the farm; ``max_attempts`` dispatches before a print is ``failed``; ``members_may_schedule`` lets members
    schedule their own prints; ``deadline_margin`` (minutes) is the spare time a deadline wants; ``interval``
    (seconds) how often the scheduler looks even when nothing happened; ``staffed_hours`` (optional) and
    ``staffed_hours_strict`` (leave a printer idle rather than end a print outside them)."""

    model_config = ConfigDict(extra="forbid")
    stagger: float = Field(default=60.0, ge=0, le=3600)
    max_attempts: int = Field(default=3, ge=1, le=20)
    members_may_schedule: bool = False
    deadline_margin: float = Field(default=30.0, ge=0, le=7 * 24 * 60)
    interval: float = Field(default=30.0, ge=0.1, le=3600)
    staffed_hours: StaffedHoursSettings | None = None
    staffed_hours_strict: bool = False


class AuthSettings(BaseModel):
    """Sign-in sessions: ``session_idle`` ends a session unused that long (each use moves it on);
    ``session_absolute`` ends it that long after sign-in whatever happens."""

    model_config = ConfigDict(extra="forbid")
    session_idle: Annotated[timedelta, BeforeValidator(partial(_window, maximum=timedelta(days=365)))] = timedelta(
        days=14
    )
    session_absolute: Annotated[timedelta, BeforeValidator(partial(_window, maximum=timedelta(days=365)))] = timedelta(
        days=30
    )


class FilesSettings(BaseModel):
    """The print-file library: ``directory`` holds the uploaded files (named by their SHA-256; created on the first
    upload); ``max_size`` is the largest file accepted, bytes (413 beyond)."""

    model_config = ConfigDict(extra="forbid")
    directory: str = Field(default="data/files", min_length=1)
    max_size: int = Field(default=1024**3, ge=1024, le=1024**4)


class DispatchSettings(BaseModel):
    """Sending prints from printfleet: with ``require_plate_clear`` (default) a printer whose last print ended is
    sent nothing until someone confirms its plate is clear (``POST /api/v1/printers/{id}/plate-cleared``)."""

    model_config = ConfigDict(extra="forbid")
    require_plate_clear: bool = True


class MaterialsSettings(BaseModel):
    """Material slots: with ``auto_create_rfid_spools`` (default) a Bambu RFID spool seen in an AMS slot that the
    inventory does not know is added from its tag (vendor, filament, spool with its ``tray_uuid``); a slot whose
    grams left fall below ``low_stock_grams`` (default 100 g) announces ``spool_low`` once."""

    model_config = ConfigDict(extra="forbid")
    auto_create_rfid_spools: bool = True
    low_stock_grams: float = Field(default=100.0, ge=0, le=100_000)


class CostsSettings(BaseModel):
    """What a print costs (docs/materials.md): ``currency`` (ISO 4217 code), ``default_price_per_kg`` for filament of
    no priced spool, ``kwh_price`` per kWh for the energy part (with each printer's ``average_watts``; none: energy is
    not costed). Each printer's ``hourly_rate`` adds machine time."""

    model_config = ConfigDict(extra="forbid")
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    default_price_per_kg: float = Field(default=20.0, ge=0, le=1_000_000)
    kwh_price: float | None = Field(default=None, ge=0, le=1_000)


class SpoolmanSettings(BaseModel):
    """Spoolman, for shops that keep their inventory there (docs/materials.md): ``url`` its base address
    (``http://spoolman:7912``, or with the path a proxy serves it under); ``headers`` sent with every request (for a
    proxy that authenticates; secrets: never returned or logged); ``timeout`` seconds per request; reports of usage
    are retried after ``retry_initial`` seconds, doubling up to ``retry_max``."""

    model_config = ConfigDict(extra="forbid")
    url: Annotated[str, Field(pattern=r"^https?://", max_length=500)] | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    timeout: float = Field(default=5.0, gt=0, le=120)
    retry_initial: float = Field(default=10.0, gt=0, le=3600)
    retry_max: float = Field(default=600.0, gt=0, le=86400)


class SecretsSettings(BaseModel):
    """Secrets at rest (shop tokens): ``key`` is a Fernet key (url-safe base64, 32 bytes; a secret, env
    ``PRINTFLEET_SECRETS__KEY``); without it the key is read from ``key_file``, created with a new key (mode 0600) on
    first use."""

    model_config = ConfigDict(extra="forbid")
    key: SecretStr | None = None
    key_file: str = "data/secrets.key"


class EtsySettings(BaseModel):
    """An Etsy shop (docs/orders.md). ``keystring`` and ``shared_secret`` (a secret) are the app's, from Etsy's
    developer portal; ``redirect_url`` is the HTTPS address Etsy sends the seller back to (registered for the app;
    printfleet serves ``/ui/shops/etsy/callback``); ``poll_interval`` (seconds) between polls of paid orders and
    ``overlap`` (seconds) re-read before the last change seen. ``webhook_token`` (a secret, 24 characters or more)
    opens ``POST /api/v1/shops/etsy/webhook/<token>`` to Etsy's ``ORDER_PAID`` webhook, which makes printfleet poll
    at once (None: no webhook). ``api_url``, ``token_url`` and ``authorize_url`` are Etsy's, changed only to point
    at a stand-in."""

    model_config = ConfigDict(extra="forbid")
    keystring: str | None = Field(default=None, min_length=1, max_length=64)
    shared_secret: SecretStr | None = None
    webhook_token: SecretStr | None = Field(default=None, min_length=24, max_length=200)
    redirect_url: str | None = Field(default=None, max_length=500)
    poll_interval: float = Field(default=300.0, ge=5, le=86_400)
    overlap: float = Field(default=600.0, ge=0, le=86_400)
    api_url: str = "https://openapi.etsy.com"
    token_url: str = "https://api.etsy.com/v3/public/oauth/token"  # noqa: S105 (an address, not a secret)
    authorize_url: str = "https://www.etsy.com/oauth/connect"

    @property
    def configured(self) -> bool:
        """Whether the app's keystring and shared secret are both set (the shop can be connected)."""
        return bool(self.keystring and self.shared_secret and self.shared_secret.get_secret_value())


class MetricsSettings(BaseModel):
    """``/metrics``: open to loopback clients only by default; with ``token`` set (a secret), open to any client
    that sends ``Authorization: Bearer <token>`` and to nobody else."""

    model_config = ConfigDict(extra="forbid")
    token: SecretStr | None = None


class FarmSettings(BaseModel):
    """Several processes on one PostgreSQL (docs/farm.md). ``printer_ownership``: each printer is connected by
    exactly one process, which shares its status with the others (off: every process connects to every printer).
    ``printer_lease_ttl``: the life of a printer's lease, seconds (renewed every third of it; a
    process that died is replaced within it and a round)."""

    model_config = ConfigDict(extra="forbid")
    printer_ownership: bool = True
    printer_lease_ttl: float = Field(default=12.0, ge=3.0, le=300.0)


class DiscordSettings(BaseModel):
    """The Discord bot. It runs inside ``printfleet serve`` when ``token``, ``guild_id`` and ``queue_channel_id``
    are all set. ``admin_role`` is the name or id of the role allowed the admin commands; ``dm_offers`` also sends
    offers as direct messages. ``auto_provision`` makes a ``member`` account for a Discord user on first use.
    ``token`` is a secret: never logged, never shown."""

    model_config = ConfigDict(extra="forbid")
    token: SecretStr | None = None
    guild_id: int | None = Field(default=None, ge=1)
    queue_channel_id: int | None = Field(default=None, ge=1)
    admin_role: str = "Print Admin"
    dm_offers: bool = False
    auto_provision: bool = True

    @property
    def enabled(self) -> bool:
        """True when the bot has what it needs to run."""
        return bool(self.token and self.token.get_secret_value()) and bool(self.guild_id and self.queue_channel_id)


class SmtpSettings(BaseModel):
    """The SMTP server email notifications go through. Without ``host`` email channels fail (for good) with "no
    SMTP server configured". ``ssl``: implicit TLS (port 465); else ``starttls`` upgrades a plain connection
    (port 587); neither: plain SMTP (a loopback relay). ``password`` is a secret: never logged, never shown.
    ``ca_file`` (PEM) verifies the server's certificate against that CA instead of the system's."""

    model_config = ConfigDict(extra="forbid")
    host: str | None = Field(default=None, min_length=1, max_length=253)
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    ssl: bool = False
    user: str | None = Field(default=None, min_length=1, max_length=254)
    password: SecretStr | None = None
    sender: str = Field(default="printfleet@localhost", min_length=3, max_length=254)
    timeout: float = Field(default=10.0, gt=0, le=300)
    ca_file: str | None = None

    @field_validator("ca_file")
    @classmethod
    def _ca_file_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"ca_file {value!r} does not exist")
        return value


class ChannelRateSettings(BaseModel):
    """How fast one channel may be sent to: ``per_minute`` messages a minute on average, ``burst`` at once."""

    model_config = ConfigDict(extra="forbid")
    per_minute: float = Field(gt=0, le=100_000)
    burst: int = Field(ge=1, le=10_000)


ChannelKindName = Literal["apprise", "email", "webhook"]


def _default_rate_limits() -> dict[ChannelKindName, ChannelRateSettings]:
    return {
        "apprise": ChannelRateSettings(per_minute=30, burst=5),
        "email": ChannelRateSettings(per_minute=30, burst=10),
    }


class NotificationSettings(BaseModel):
    """Notifications: ``enabled`` runs the outbox (writing and delivering); ``retry_initial`` and ``retry_max``
    (seconds) bound the exponential backoff between attempts; ``give_up_after`` (seconds, default 24 h) marks a
    message failed when still undelivered that long after it was written; ``send_timeout`` (seconds) bounds one
    send; ``recovery_window`` (seconds) is how far back start-up looks for job starts and ends that have no
    message yet (an event lost between a job's commit and its outbox write); ``language`` (``en``, ``de``) picks
    the default message texts; ``base_url`` (e.g. ``https://farm.example.org``) makes links to job pages in
    messages; ``offline_grace`` (seconds, default 5 min) is how long a printer must stay offline before
    ``printer_offline`` is announced; ``claim_reminder`` (seconds, default 3 min; 0: none) is how long before an
    unclaimed offer's window ends its member hears of it again; ``rate_limits`` paces each channel of a kind
    (Apprise: 30 a minute, 5 at once, as Discord's webhooks allow; email: 30 a minute, 10 at once; signed webhooks:
    not paced unless given): a burst waits its turn, never lost."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    smtp: SmtpSettings = SmtpSettings()
    offline_grace: float = Field(default=300.0, ge=0, le=86400)
    claim_reminder: float = Field(default=180.0, ge=0, le=86400)
    retry_initial: float = Field(default=10.0, gt=0, le=3600)
    retry_max: float = Field(default=3600.0, gt=0, le=86400)
    give_up_after: float = Field(default=86400.0, gt=0, le=7 * 86400)
    send_timeout: float = Field(default=15.0, gt=0, le=300)
    recovery_window: float = Field(default=3600.0, ge=0, le=7 * 86400)
    language: Literal["en", "de"] = "en"
    base_url: Annotated[str, Field(pattern=r"^https?://", max_length=500)] | None = None
    rate_limits: dict[ChannelKindName, ChannelRateSettings] = Field(default_factory=_default_rate_limits)


class _PrinterBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, Field(pattern=_PRINTER_ID)]
    name: str = ""
    auto_create_jobs: bool | None = None
    model: str | None = Field(default=None, min_length=1, max_length=64)
    queue_mode: QueueMode = QueueMode.MEMBERS
    tags: list[str] = Field(default_factory=list)
    average_watts: float | None = Field(default=None, ge=0, le=100_000)
    hourly_rate: float | None = Field(default=None, ge=0, le=1_000_000)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: object) -> list[str]:
        """A list of tags or one comma-separated string; trimmed, duplicates dropped, each checked."""
        tags = clean_tags(value if value is not None else [])
        if problem := tags_problem(tags):
            raise ValueError(problem)
        return list(tags)


class BambuPrinterSettings(_PrinterBase):
    """A Bambu Lab printer in LAN mode (MQTT over TLS, port 8883; uploads over implicit FTPS, ``ftp_port`` 990)."""

    type: Literal["bambu"]
    host: str
    port: int = Field(default=8883, ge=1, le=65535)
    serial: Annotated[str, Field(min_length=1)]
    access_code: SecretStr
    ca_file: str | None = None
    tls_insecure: bool = False
    ftp_port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator("ca_file")
    @classmethod
    def _ca_file_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"file {value!r} does not exist")
        return value


class PrusaLinkPrinterSettings(_PrinterBase):
    """A Prusa printer through PrusaLink (HTTP Digest or X-Api-Key); without ``poll_interval`` it is polled at the
    global ``monitoring_interval``."""

    type: Literal["prusalink"]
    host: str
    port: int = Field(default=80, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    api_key: SecretStr | None = None
    poll_interval: float | None = Field(default=None, ge=0.5, le=3600)


class OctoPrintPrinterSettings(_PrinterBase):
    """A printer behind OctoPrint (per-user API key); without ``poll_interval`` it is polled at the global
    ``monitoring_interval``."""

    type: Literal["octoprint"]
    url: Annotated[str, Field(pattern=r"^https?://")]
    api_key: SecretStr
    poll_interval: float | None = Field(default=None, ge=0.5, le=3600)


class MoonrakerPrinterSettings(_PrinterBase):
    """A Klipper printer through Moonraker (``http://host:7125``); ``api_key`` only when Moonraker does not trust
    printfleet's address (``[authorization] trusted_clients``). Moonraker pushes its state: nothing is polled."""

    type: Literal["moonraker"]
    url: Annotated[str, Field(pattern=r"^https?://")]
    api_key: SecretStr | None = None


PrinterSettings = Annotated[
    BambuPrinterSettings | PrusaLinkPrinterSettings | OctoPrintPrinterSettings | MoonrakerPrinterSettings,
    Field(discriminator="type"),
]


def _secret(value: SecretStr | None) -> Secret | None:
    return Secret(value.get_secret_value()) if value is not None else None


def printer_config_from_settings(entry: PrinterSettings) -> PrinterConfig:
    """Turn one validated ``printers:`` entry into the domain's :class:`PrinterConfig`."""
    common: dict[str, Any] = {
        "id": entry.id,
        "name": entry.name or entry.id,
        "auto_create_jobs": entry.auto_create_jobs,
        "model": entry.model,
        "queue_mode": entry.queue_mode,
        "tags": tuple(entry.tags),
        "average_watts": entry.average_watts,
        "hourly_rate": entry.hourly_rate,
    }
    if isinstance(entry, BambuPrinterSettings):
        return PrinterConfig(
            kind=PrinterKind.BAMBU,
            host=entry.host,
            port=entry.port,
            serial=entry.serial,
            access_code=_secret(entry.access_code),
            ca_file=entry.ca_file,
            tls_insecure=entry.tls_insecure,
            ftp_port=entry.ftp_port,
            **common,
        )
    if isinstance(entry, PrusaLinkPrinterSettings):
        return PrinterConfig(
            kind=PrinterKind.PRUSALINK,
            host=entry.host,
            port=entry.port,
            username=entry.username,
            password=_secret(entry.password),
            api_key=_secret(entry.api_key),
            poll_interval=entry.poll_interval,
            **common,
        )
    if isinstance(entry, MoonrakerPrinterSettings):
        return PrinterConfig(
            kind=PrinterKind.MOONRAKER, url=entry.url.rstrip("/"), api_key=_secret(entry.api_key), **common
        )
    return PrinterConfig(
        kind=PrinterKind.OCTOPRINT,
        url=entry.url.rstrip("/"),
        api_key=_secret(entry.api_key),
        poll_interval=entry.poll_interval,
        **common,
    )


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by ``--config`` / ``PRINTFLEET_CONFIG``."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class Settings(BaseSettings):
    """The one settings object, built at start-up by :func:`load_settings` and passed in.

    ``monitoring_interval`` (seconds) is the default poll interval of polled printers (PrusaLink, OctoPrint): the
    interval of every such printer without its own ``poll_interval``. It is the initial value of the run-time
    setting of the same name (``PUT /api/v1/settings``), which takes over once saved.
    """

    model_config = SettingsConfigDict(
        env_prefix="PRINTFLEET_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    database_url: str = "sqlite+aiosqlite:///data/printfleet.db"
    http: HttpSettings = HttpSettings()
    job_creation: JobCreationSettings = JobCreationSettings()
    logging: LoggingSettings = LoggingSettings()
    monitoring_interval: float = Field(default=DEFAULT_POLL_INTERVAL_S, ge=0.5, le=3600)
    printers: list[PrinterSettings] = Field(default_factory=list)
    queue: QueueSettings = QueueSettings()
    discord: DiscordSettings = DiscordSettings()
    auth: AuthSettings = AuthSettings()
    metrics: MetricsSettings = MetricsSettings()
    farm: FarmSettings = FarmSettings()
    files: FilesSettings = FilesSettings()
    dispatch: DispatchSettings = DispatchSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    orders: OrdersSettings = OrdersSettings()
    etsy: EtsySettings = EtsySettings()
    secrets: SecretsSettings = SecretsSettings()
    materials: MaterialsSettings = MaterialsSettings()
    costs: CostsSettings = CostsSettings()
    spoolman: SpoolmanSettings = SpoolmanSettings()
    notifications: NotificationSettings = NotificationSettings()
    config_file: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment over YAML over defaults; init kwargs (tests, CLI flags) over everything."""
        return (init_settings, env_settings, _YamlSource(settings_cls, _YAML_DATA.get({})))

    @field_validator("printers")
    @classmethod
    def _unique_ids(cls, value: list[PrinterSettings]) -> list[PrinterSettings]:
        seen: set[str] = set()
        for entry in value:
            if entry.id in seen:
                raise ValueError(f"printer id {entry.id!r} is used twice")
            seen.add(entry.id)
        return value

    def printer_configs(self) -> list[PrinterConfig]:
        """The configuration file's printers as domain objects."""
        return [printer_config_from_settings(entry) for entry in self.printers]


def _format_location(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                printer_id = node[item].get("id")
                if printer_id:
                    label = f"[{item}] (id {printer_id})"
            parts.append(label)
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            if item in ("bambu", "prusalink", "octoprint", "moonraker"):  # the discriminator's branch name, not a key
                continue
            parts.append(f".{item}" if parts else item)
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path}: not UTF-8 text (byte {exc.start}: 0x{exc.object[exc.start]:02x})"
        ) from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"config file {path}: not valid YAML{where}: {problem}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path}: the top level must be a mapping of keys, not {type(loaded).__name__}")
    return loaded


def load_settings(config_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from ``config_file`` (or ``PRINTFLEET_CONFIG``), the environment and ``overrides``.

    Raises :class:`ConfigError` naming the file, each bad key and the problem.
    """
    path_text = config_file if config_file is not None else os.environ.get("PRINTFLEET_CONFIG")
    data: dict[str, Any] = {}
    source = "environment"
    if path_text:
        path = Path(path_text)
        data = _read_yaml(path)
        source = f"config file {path}"
    data.pop("config_file", None)
    token = _YAML_DATA.set(data)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        lines = [f"{source}: {len(exc.errors())} problem(s)"]
        for error in exc.errors():
            location = _format_location(tuple(error["loc"]), data)
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            elif error["type"] == "union_tag_invalid":
                message = "type must be one of: bambu, prusalink, octoprint"
            lines.append(f"  {location}: {message}")
        raise ConfigError("\n".join(lines)) from None
    finally:
        _YAML_DATA.reset(token)
    problems = [
        f"  printers[{index}] (id {config.id}).{field}: {message}"
        for index, config in enumerate(settings.printer_configs())
        for field, message in config.problems()
    ]
    if problems:
        raise ConfigError("\n".join([f"{source}: {len(problems)} problem(s)", *problems]))
    settings.config_file = str(path_text) if path_text else None
    auto_env = os.environ.get("JOB_CREATION_AUTO_CREATE")
    if auto_env is not None and "job_creation" not in overrides:
        lowered = auto_env.strip().lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise ConfigError(f"environment JOB_CREATION_AUTO_CREATE: {auto_env!r} is not true or false")
        settings.job_creation.auto_create = lowered in ("true", "1", "yes")
    return settings
