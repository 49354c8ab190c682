"""Message texts: Jinja2 templates rendered in a sandbox (``jinja2.sandbox.SandboxedEnvironment``: a template
cannot reach Python internals) over a documented context (docs/notifications.md "Message context").

Defaults exist in English (``en``) and German (``de``); ``notifications.language`` picks one. A channel may carry its
owner's own title and body templates (:class:`CustomTemplates`): checked when saved, rendered in a sandbox of their
own where a missing value renders empty, and replaced by the defaults should one fail when a message is written.
Both have the ``local`` filter: ``{{ job.end_time | local("Europe/Berlin") }}`` → ``2026-12-05 15:35 CET``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from jinja2 import ChainableUndefined, StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from printfleet.domain.events import MaintenanceDue, PrinterErrorRaised, PrinterWentOffline, ShopNeedsReconnect
from printfleet.domain.jobs import Job
from printfleet.domain.notifications.announce import Announcement
from printfleet.domain.notifications.error_texts import error_text
from printfleet.domain.notifications.model import NotificationEvent
from printfleet.domain.printer_errors import hms_link
from printfleet.domain.queue import QueueEntry

log = structlog.get_logger(__name__)

_EN: dict[NotificationEvent, tuple[str, str]] = {
    NotificationEvent.PRINT_STARTED: ("Print started: {{ job.name }}", "{{ job.name }} started on {{ printer.id }}."),
    NotificationEvent.PRINT_FINISHED: (
        "Print finished: {{ job.name }}",
        "{{ job.name }} finished on {{ printer.id }}{% if job.duration %} after {{ job.duration }}{% endif %}.",
    ),
    NotificationEvent.PRINT_FAILED: (
        "Print failed: {{ job.name }}",
        "{{ job.name }} failed on {{ printer.id }}"
        "{% if job.progress is not none %} at {{ job.progress }} %{% endif %}.",
    ),
    NotificationEvent.PRINT_CANCELLED: (
        "Print cancelled: {{ job.name }}",
        "{{ job.name }} was cancelled on {{ printer.id }}.",
    ),
    NotificationEvent.PRINT_PAUSED: ("Print paused: {{ job.name }}", "{{ job.name }} is paused on {{ printer.id }}."),
    NotificationEvent.FIRST_LAYER_DONE: (
        "First layer done: {{ job.name }}",
        "The first layer of {{ job.name }} on {{ printer.id }} is down: a good moment to check it.",
    ),
    NotificationEvent.CLAIM_OFFERED: (
        "{% if reason == 'reminder' %}Reminder: {% endif %}Your turn: {{ printer.id }}",
        "{{ printer.id }} is free for {{ entry.job_name }}. Claim it before {{ entry.deadline }}.",
    ),
    NotificationEvent.RESERVATION_RELEASED: (
        "Reservation released: {{ printer.id }}",
        "Your reservation of {{ printer.id }} for {{ entry.job_name }} ended ({{ reason }}).",
    ),
    NotificationEvent.MAINTENANCE_DUE: (
        "Maintenance due: {{ maintenance.task }} on {{ printer.id }}",
        "{{ maintenance.task }} is due on {{ printer.id }}: {{ maintenance.used }} of {{ maintenance.interval }} "
        "{{ maintenance.unit_text }} since {{ maintenance.since_date }}.",
    ),
    NotificationEvent.MATERIAL_CHANGED: (
        "Material changed: {{ printer.id }} {{ slot.slot }}",
        "{% if slot.event == 'spool_removed' %}The spool was taken out of {{ slot.slot }} on {{ printer.id }}."
        "{% else %}{{ slot.slot }} on {{ printer.id }} now holds {{ slot.material_type or 'a spool' }}"
        "{% if slot.color %} ({{ slot.color }}){% endif %}.{% endif %}",
    ),
    NotificationEvent.SPOOL_LOW: (
        "Spool low: {{ printer.id }} {{ slot.slot }}",
        "{{ slot.material_type or 'The spool' }} in {{ slot.slot }} on {{ printer.id }} is running low"
        "{% if slot.grams_left is not none %}: {{ slot.grams_left|round|int }} g left{% endif %}.",
    ),
    NotificationEvent.HMS_ERROR: (
        "Printer error: {{ printer.id }}",
        "{{ printer.id }} reports an error{% if error.code %} ({{ error.code }}){% endif %}"
        "{% if error.text %}: {{ error.text }}{% else %}.{% endif %}"
        "{% if error.link %} Bambu Lab explains it at {{ error.link }}{% endif %}",
    ),
    NotificationEvent.FILAMENT_RUNOUT: (
        "Filament ran out: {{ printer.id }}",
        "{{ printer.id }}: {{ error.text or 'a spool ran out.' }}",
    ),
    NotificationEvent.SHOP_RECONNECT_NEEDED: (
        "Connect {{ shop.title }} again",
        "{{ shop.title }} refused printfleet's access ({{ shop.problem }}). No orders arrive until someone with "
        "orders access connects the shop again on the Orders page.",
    ),
    NotificationEvent.PRINTER_OFFLINE: (
        "Printer offline: {{ printer.id }}",
        "{{ printer.id }} has been offline since {{ offline.since }}"
        "{% if offline.detail %} ({{ offline.detail }}){% endif %}.",
    ),
}
_DE: dict[NotificationEvent, tuple[str, str]] = {
    NotificationEvent.PRINT_STARTED: (
        "Druck gestartet: {{ job.name }}",
        "{{ job.name }} wurde auf {{ printer.id }} gestartet.",
    ),
    NotificationEvent.PRINT_FINISHED: (
        "Druck fertig: {{ job.name }}",
        "{{ job.name }} ist auf {{ printer.id }} fertig{% if job.duration %} (Dauer {{ job.duration }}){% endif %}.",
    ),
    NotificationEvent.PRINT_FAILED: (
        "Druck fehlgeschlagen: {{ job.name }}",
        "{{ job.name }} ist auf {{ printer.id }} fehlgeschlagen.",
    ),
    NotificationEvent.PRINT_CANCELLED: (
        "Druck abgebrochen: {{ job.name }}",
        "{{ job.name }} wurde auf {{ printer.id }} abgebrochen.",
    ),
    NotificationEvent.PRINT_PAUSED: (
        "Druck pausiert: {{ job.name }}",
        "{{ job.name }} ist auf {{ printer.id }} pausiert.",
    ),
    NotificationEvent.FIRST_LAYER_DONE: (
        "Erste Schicht fertig: {{ job.name }}",
        "Die erste Schicht von {{ job.name }} auf {{ printer.id }} ist gedruckt: ein guter Moment, sie anzusehen.",
    ),
    NotificationEvent.CLAIM_OFFERED: (
        "{% if reason == 'reminder' %}Erinnerung: {% endif %}Du bist dran: {{ printer.id }}",
        "{{ printer.id }} ist frei für {{ entry.job_name }}. Bitte bis {{ entry.deadline }} übernehmen.",
    ),
    NotificationEvent.RESERVATION_RELEASED: (
        "Reservierung beendet: {{ printer.id }}",
        "Deine Reservierung von {{ printer.id }} für {{ entry.job_name }} ist beendet ({{ reason }}).",
    ),
    NotificationEvent.MAINTENANCE_DUE: (
        "Wartung fällig: {{ maintenance.task }} an {{ printer.id }}",
        "{{ maintenance.task }} ist an {{ printer.id }} fällig: {{ maintenance.used }} von {{ maintenance.interval }} "
        "{{ maintenance.unit_text }} seit {{ maintenance.since_date }}.",
    ),
    NotificationEvent.MATERIAL_CHANGED: (
        "Material gewechselt: {{ printer.id }} {{ slot.slot }}",
        "{% if slot.event == 'spool_removed' %}Die Spule in {{ slot.slot }} auf {{ printer.id }} wurde entnommen."
        "{% else %}In {{ slot.slot }} auf {{ printer.id }} ist jetzt {{ slot.material_type or 'eine Spule' }}"
        "{% if slot.color %} ({{ slot.color }}){% endif %}.{% endif %}",
    ),
    NotificationEvent.SPOOL_LOW: (
        "Spule fast leer: {{ printer.id }} {{ slot.slot }}",
        "{{ slot.material_type or 'Die Spule' }} in {{ slot.slot }} auf {{ printer.id }} geht zur Neige"
        "{% if slot.grams_left is not none %}: noch {{ slot.grams_left|round|int }} g{% endif %}.",
    ),
    NotificationEvent.HMS_ERROR: (
        "Druckerfehler: {{ printer.id }}",
        "{{ printer.id }} meldet einen Fehler{% if error.code %} ({{ error.code }}){% endif %}"
        "{% if error.text %}: {{ error.text }}{% else %}.{% endif %}"
        "{% if error.link %} Erklärung von Bambu Lab: {{ error.link }}{% endif %}",
    ),
    NotificationEvent.FILAMENT_RUNOUT: (
        "Filament leer: {{ printer.id }}",
        "{{ printer.id }}: {{ error.text or 'Eine Spule ist leer.' }}{% if error.code %} ({{ error.code }}){% endif %}",
    ),
    NotificationEvent.SHOP_RECONNECT_NEEDED: (
        "{{ shop.title }} neu verbinden",
        "{{ shop.title }} hat den Zugriff von printfleet abgelehnt ({{ shop.problem }}). Bis jemand mit Zugriff auf "
        "die Bestellungen den Shop auf der Seite Bestellungen neu verbindet, kommen keine Bestellungen an.",
    ),
    NotificationEvent.PRINTER_OFFLINE: (
        "Drucker offline: {{ printer.id }}",
        "{{ printer.id }} ist seit {{ offline.since }} nicht erreichbar"
        "{% if offline.detail %} ({{ offline.detail }}){% endif %}.",
    ),
}
DEFAULTS: dict[str, dict[NotificationEvent, tuple[str, str]]] = {"en": _EN, "de": _DE}
"""Default (title, body) templates per language and event."""

TEST_MESSAGE = {
    "en": ("printfleet test message", "This is a test message from printfleet to the channel '{name}'."),
    "de": ("printfleet-Testnachricht", "Dies ist eine Testnachricht von printfleet an den Kanal '{name}'."),
}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _duration(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def job_context(job: Job, base_url: str | None) -> dict[str, Any]:
    """The ``job`` part of the context."""
    return {
        "id": job.id,
        "name": job.job_name,
        "file": job.filename,
        "status": job.status.value,
        "progress": job.progress,
        "start_time": _iso(job.start_time),
        "end_time": _iso(job.end_time),
        "duration_seconds": job.duration_seconds,
        "duration": _duration(job.duration_seconds),
        "url": f"{base_url.rstrip('/')}/jobs/{job.id}" if base_url else None,
    }


def entry_context(entry: QueueEntry) -> dict[str, Any]:
    """The ``entry`` part of the context (a queue entry)."""
    return {
        "id": entry.id,
        "job_name": entry.job_name,
        "user_name": entry.user_name,
        "status": entry.status.value,
        "deadline": _iso(entry.deadline),
    }


_UNIT_TEXT = {
    "en": {"print_hours": "print hours", "days": "days", "jobs": "prints"},
    "de": {"print_hours": "Druckstunden", "days": "Tagen", "jobs": "Drucken"},
}


def maintenance_context(due: MaintenanceDue, language: str = "en") -> dict[str, Any]:
    """The ``maintenance`` part of the context: ``task`` (its name), ``task_id``, ``used`` and ``interval`` (rounded
    to one decimal) in ``unit`` (``print_hours``, ``days``, ``jobs``; ``unit_text`` in words), ``since`` (ISO 8601)
    and ``since_date`` (its UTC date)."""
    return {
        "task": due.task_name,
        "task_id": due.task_id,
        "used": round(due.used, 1),
        "interval": round(due.interval, 1),
        "unit": due.unit,
        "unit_text": _UNIT_TEXT.get(language, _UNIT_TEXT["en"]).get(due.unit, due.unit),
        "since": due.since.isoformat(),
        "since_date": due.since.date().isoformat(),
    }


def error_context(error: PrinterErrorRaised, language: str = "en") -> dict[str, Any]:
    """The ``error`` part of the context: ``code`` (None for an error state without one), ``text`` (in ``language``;
    None when the code is not known), ``runout``, ``occurred_at`` (ISO 8601 UTC), ``link`` (Bambu Lab's page
    explaining an HMS code, else None)."""
    return {
        "code": error.code,
        "text": (error_text(error.code, language) or error.text) if error.code is not None else error.text,
        "runout": error.runout,
        "occurred_at": _iso(error.occurred_at),
        "link": hms_link(error.code) if error.code is not None else None,
    }


def offline_context(offline: PrinterWentOffline) -> dict[str, Any]:
    """The ``offline`` part of the context: ``since`` (ISO 8601 UTC), ``reason`` (``unreachable``, ``timeout``,
    ``auth_failed``, …) and ``detail``."""
    return {"since": _iso(offline.since), "reason": offline.reason, "detail": offline.detail}


def shop_context(shop: ShopNeedsReconnect) -> dict[str, Any]:
    """The ``shop`` part of the context: ``name`` (``etsy``), ``title`` (``Etsy``) and ``problem`` (the shop's
    words)."""
    return {"name": shop.shop, "title": shop.shop.title(), "problem": shop.problem}


def context(announcement: Announcement, *, base_url: str | None, now: datetime, language: str = "en") -> dict[str, Any]:
    """The template context of ``announcement``: ``event``, ``printer`` (``id``), ``job``, ``entry``, ``slot``,
    ``maintenance``, ``error`` or ``offline`` (None when not about one; ``slot`` holds ``slot``, ``event``,
    ``spool_id``, ``material_type``, ``color``, ``grams_left``; ``maintenance`` see :func:`maintenance_context`;
    ``error`` holds ``code`` and ``text``; ``offline`` holds ``since``, ``reason``, ``detail``; ``shop`` holds
    ``name``, ``title`` and ``problem``), ``reason`` and
    ``time`` (ISO 8601 UTC, when the message was written). This dict is also the ``data`` of a webhook body."""
    return {
        "event": announcement.event.value,
        "printer": {"id": announcement.printer_id},
        "job": job_context(announcement.job, base_url) if announcement.job is not None else None,
        "entry": entry_context(announcement.entry) if announcement.entry is not None else None,
        "reason": announcement.reason,
        "maintenance": (
            maintenance_context(announcement.maintenance, language) if announcement.maintenance is not None else None
        ),
        "slot": announcement.slot.data() if announcement.slot is not None else None,
        "error": error_context(announcement.error, language) if announcement.error is not None else None,
        "offline": offline_context(announcement.offline) if announcement.offline is not None else None,
        "shop": (
            {
                "name": announcement.shop.shop,
                "title": announcement.shop.shop.title(),
                "problem": announcement.shop.problem,
            }
            if announcement.shop is not None
            else None
        ),
        "time": now.isoformat(),
    }


MAX_TEMPLATE_LENGTH = 4_000
"""The longest title or body template a person may save (characters)."""

MAX_TITLE_LENGTH = 250
MAX_BODY_LENGTH = 4_000
"""Rendered texts are cut to these many characters."""


def local_time(value: Any, zone: str = "UTC", pattern: str = "%Y-%m-%d %H:%M %Z") -> str:
    """The ``local`` template filter: an ISO 8601 time of the context (``job.end_time``, ``time``, …) in the IANA time
    zone ``zone`` as ``pattern`` (strftime); "" for a missing time. Raises ValueError for an unknown zone or a value
    that is not a time (the message then falls back to the default texts)."""
    if value is None or value == "":
        return ""
    try:
        moment = datetime.fromisoformat(str(value))
        place = ZoneInfo(str(zone))
    except (ValueError, ZoneInfoNotFoundError) as error:
        raise ValueError(f"local: {error}") from None
    return moment.astimezone(place).strftime(str(pattern))


def _environment(*, strict: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined if strict else ChainableUndefined, autoescape=False)
    env.filters["local"] = local_time
    return env


class CustomTemplates:
    """A person's own title and body templates (one pair for every event: ``event`` in the context tells them apart),
    compiled once. Raises InvalidTemplate (a ValueError naming the part and the line) when one cannot be compiled."""

    def __init__(self, title: str | None, body: str | None) -> None:
        env = _environment(strict=False)
        self._parts: dict[str, Template | None] = {}
        for part, source in (("title_template", title), ("body_template", body)):
            if source is not None and len(source) > MAX_TEMPLATE_LENGTH:
                raise InvalidTemplate(f"{part}: at most {MAX_TEMPLATE_LENGTH} characters")
            try:
                self._parts[part] = env.from_string(source) if source else None
            except TemplateError as error:
                line = getattr(error, "lineno", None)
                where = f" (line {line})" if line else ""
                raise InvalidTemplate(f"{part}: {error.message or type(error).__name__}{where}") from None

    def render(self, data: dict[str, Any], default: tuple[str, str]) -> tuple[str, str]:
        """(title, body) over ``data``: each from its own template when there is one, else ``default``'s. Raises
        TemplateError or ValueError when rendering fails."""
        title_template, body_template = self._parts["title_template"], self._parts["body_template"]
        title = title_template.render(data).strip() if title_template is not None else default[0]
        body = body_template.render(data).strip() if body_template is not None else default[1]
        return title[:MAX_TITLE_LENGTH], body[:MAX_BODY_LENGTH]


class InvalidTemplate(ValueError):
    """A template that cannot be compiled: ``title_template: unexpected '}' (line 2)``."""


class Templates:
    """Renders (title, body) for an event in one language, in a Jinja2 sandbox."""

    def __init__(self, language: str = "en") -> None:
        self._env = _environment(strict=True)
        self._texts = DEFAULTS.get(language, _EN)
        self.language = language if language in DEFAULTS else "en"
        self._compiled: dict[NotificationEvent, tuple[Template, Template]] = {}

    def render(self, event: NotificationEvent, data: dict[str, Any]) -> tuple[str, str]:
        """The title and body of ``event`` over ``data`` (see :func:`context`). Raises KeyError for an event
        without a template. Each event's templates are compiled once (compiling costs more than rendering)."""
        compiled = self._compiled.get(event)
        if compiled is None:
            title, body = self._texts[event]
            compiled = self._compiled[event] = (self._env.from_string(title), self._env.from_string(body))
        return compiled[0].render(data).strip(), compiled[1].render(data).strip()

    def render_for(
        self, event: NotificationEvent, data: dict[str, Any], custom: CustomTemplates | None, default: tuple[str, str]
    ) -> tuple[str, str]:
        """``default`` (the texts of :meth:`render`), or the channel's ``custom`` templates over ``data`` when it
        has them and they render; one that fails is logged (its error's kind and message, never the data) and the
        message gets ``default``."""
        if custom is None:
            return default
        try:
            return custom.render(data, default)
        except (TemplateError, ValueError, TypeError, ArithmeticError) as error:
            log.warning(
                "notification.template_failed",
                notification_event=event.value,
                error=type(error).__name__,
                detail=str(error)[:200],
            )
            return default

    def test_message(self, channel_name: str) -> tuple[str, str]:
        """The title and body of a test message to the channel named ``channel_name``."""
        title, body = TEST_MESSAGE[self.language]
        return title, body.format(name=channel_name)
