"""Languages of the web UI: English (the source strings) and German.

Every UI string is a gettext message id in the templates; German lives in ``web/locale/de/LC_MESSAGES/messages.po``
(extract with ``make messages``). Catalogs are read from the ``.po`` files at start-up with Babel, so there is no
compile step. The language of a request is, in order: the ``printfleet_lang`` cookie set by the language switch, the
best match of the ``Accept-Language`` header (RFC 9110 §12.5.4 quality values), English.
"""

from __future__ import annotations

import functools
import io
from gettext import NullTranslations
from importlib.resources import files

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES: tuple[str, ...] = ("en", "de")
"""Supported UI languages; the first is the default and the language of the message ids."""

DEFAULT_LOCALE = LOCALES[0]
COOKIE = "printfleet_lang"
"""Cookie holding the language chosen with the switch (one year)."""


def _accepted(header: str) -> list[tuple[float, int, str]]:
    """``Accept-Language`` entries as (quality, position, primary language), best first."""
    entries: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = tag.strip().split("-")[0].lower()
        if language and quality > 0:
            entries.append((quality, position, language))
    entries.sort(key=lambda entry: (-entry[0], entry[1]))
    return entries


def negotiate(*, cookie: str | None, accept_language: str | None) -> str:
    """The UI language for a request: the cookie when it names a supported language, else the best supported
    ``Accept-Language`` entry (``*`` means the default), else English. Never raises."""
    if cookie in LOCALES:
        return cookie
    for _, _, language in _accepted(accept_language or ""):
        if language in LOCALES:
            return language
        if language == "*":
            return DEFAULT_LOCALE
    return DEFAULT_LOCALE


@functools.cache
def translations(locale: str) -> NullTranslations:
    """The gettext translations of ``locale`` (English: the message ids themselves).

    Raises ValueError for an unsupported locale; the catalog of a supported one ships with the package.
    """
    if locale not in LOCALES:
        raise ValueError(f"unsupported UI language {locale!r} (supported: {', '.join(LOCALES)})")
    if locale == DEFAULT_LOCALE:
        return NullTranslations()
    source = files("printfleet.web") / "locale" / locale / "LC_MESSAGES" / "messages.po"
    with source.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)
