"""Jinja2 rendering of pages and live fragments, one environment per UI language.

Autoescaping is on for every template: file names, job names, printer names and notes come from printers and users
and are always rendered as text. Colours from printers go into markup only after :func:`swatch` validated them.
Times are rendered as ``<time datetime="…">`` in UTC; the browser script shows them in the viewer's local time.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from gettext import NullTranslations
from typing import Any

from babel.numbers import format_currency, format_decimal
from jinja2 import Environment, PackageLoader, StrictUndefined, pass_environment, select_autoescape

from printfleet import __version__
from printfleet.domain.farm import bucket
from printfleet.domain.printer import PrinterStatus
from printfleet.domain.printer_errors import codes_of, hms_link, known_error
from printfleet.web.i18n import LOCALES, translations

_HEX_COLOUR = re.compile(r"^[0-9A-Fa-f]{6}(?:[0-9A-Fa-f]{2})?$")


def swatch(color: str | None) -> str | None:
    """An AMS tray colour (``RRGGBB`` or ``RRGGBBAA`` hex, as Bambu firmware reports ``tray_color``) as ``#RRGGBB``;
    None when missing, malformed or fully transparent (an empty tray)."""
    if not color or not _HEX_COLOUR.match(color):
        return None
    if len(color) == 8 and color[6:].lower() == "00":
        return None
    return "#" + color[:6].upper()


def _translations(env: Environment) -> NullTranslations:
    value: NullTranslations = env.globals["translations"]  # type: ignore[assignment]
    return value


@pass_environment
def duration(env: Environment, seconds: float | None) -> str:
    """A span of ``seconds`` as ``45 s``, ``12 min``, ``1 h 05 min`` or ``2 d 3 h``; ``—`` when unknown."""
    if seconds is None:
        return "—"
    gettext = _translations(env).gettext
    total = max(0, round(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return gettext("%(days)d d %(hours)d h") % {"days": days, "hours": hours}
    if hours:
        return gettext("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}
    if minutes:
        return gettext("%(minutes)d min") % {"minutes": minutes}
    return gettext("%(seconds)d s") % {"seconds": secs}


@pass_environment
def number(env: Environment, value: float | None, digits: int = 0) -> str:
    """``value`` with up to ``digits`` decimals in the UI language's notation (``0.5`` / ``0,5``); ``—`` if None,
    NaN or ±infinity (no reading)."""
    if value is None or not math.isfinite(value):
        return "—"
    pattern = "#,##0" + ("." + "#" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=str(env.globals["locale"]))


@pass_environment
def money(env: Environment, value: float | None, currency: str) -> str:
    """``value`` in ``currency`` (ISO 4217) as the UI language writes money (``€0.64`` / ``0,64 €``); ``—`` if
    None."""
    if value is None or not math.isfinite(value):
        return "—"
    return format_currency(value, currency, locale=str(env.globals["locale"]))


def finite(value: float | None) -> float | None:
    """``value``, or None when it is NaN or ±infinity (no reading: shown as ``—``, never as ``NaN %``)."""
    return value if value is None or math.isfinite(value) else None


def iso(moment: datetime | None) -> str:
    """An aware time as ISO 8601 in UTC (``2026-11-21T08:00:00+00:00``), for ``<time datetime>``."""
    return "" if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


def utc_text(moment: datetime | None) -> str:
    """An aware time as readable UTC text; the fallback a browser without the script shows."""
    return "—" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def finish_at(status: PrinterStatus | None) -> datetime | None:
    """When the running print should end (aware UTC): the time of the printer's last report plus the seconds it
    said were left; None when it gave no time left or no print is under way."""
    if status is None or not status.state.is_active or status.remaining_seconds is None:
        return None
    seen = status.last_seen or datetime.now(UTC)
    return seen + timedelta(seconds=max(0, status.remaining_seconds))


def _environment(locale: str) -> Environment:
    env = Environment(
        loader=PackageLoader("printfleet.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    catalog = translations(locale)
    env.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(locale=locale, locales=LOCALES, version=__version__, translations=catalog)
    env.filters.update(
        duration=duration,
        number=number,
        money=money,
        finite=finite,
        iso=iso,
        utc_text=utc_text,
        swatch=swatch,
        finish_at=finish_at,
    )
    env.globals.update(bucket=bucket, known_error=known_error, codes_of=codes_of, hms_link=hms_link)
    return env


class Renderer:
    """Renders the web UI's templates in each language. Build once; rendering is thread- and task-safe."""

    def __init__(self) -> None:
        self._environments = {locale: _environment(locale) for locale in LOCALES}

    def render(self, template: str, locale: str, **context: Any) -> str:
        """Render ``template`` (a file under ``web/templates``) in ``locale``; raises KeyError for an unsupported
        locale and jinja2 errors for a template bug (a missing variable is an error, not an empty string)."""
        return self._environments[locale].get_template(template).render(**context)

    def translate(self, locale: str, message: str) -> str:
        """One message in ``locale`` (for texts built outside templates, such as error toasts)."""
        return _translations(self._environments[locale]).gettext(message)
