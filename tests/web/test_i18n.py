"""The web UI in English and German: the German catalog covers exactly the messages in the code, translations keep
their placeholders, the language of a request is negotiated as documented, and pages come out in that language.

Extraction uses ``babel.cfg`` (the method map and its options) and the keywords of the Makefile's ``messages``
target, so these tests check the same extraction a developer runs with ``make messages``.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import Environment

from printfleet.web.i18n import COOKIE, negotiate, translations
from printfleet.web.render import Renderer, duration
from tests.api.conftest import RunningServer

REPO = Path(__file__).resolve().parents[2]
BABEL_CFG = REPO / "babel.cfg"
MAKEFILE = REPO / "Makefile"
WEB = REPO / "src" / "printfleet" / "web"
GERMAN_PO = WEB / "locale" / "de" / "LC_MESSAGES" / "messages.po"

TOGGLE_EN = "Automatically create jobs when prints start"
TOGGLE_DE = "Automatische Auftrags-Erstellung"

MessageKey = tuple[str, str | None]
"""A message as the catalog keys it: (message id, context)."""


# --- extraction and the German catalog --------------------------------------------------------------------------


def _mapping() -> tuple[list[tuple[str, str]], dict[str, dict[str, Any]]]:
    """babel.cfg as (method map, options map)."""
    from babel.messages import frontend

    parse = getattr(frontend, "parse_mapping_cfg", None) or frontend.parse_mapping  # parse_mapping: older Babel
    with BABEL_CFG.open(encoding="utf-8") as config:
        method_map, options_map = parse(config, str(BABEL_CFG))
    return method_map, options_map


def _makefile_keywords() -> dict[str, Any]:
    """The keywords ``make messages`` extracts with: pybabel's defaults (unless switched off) plus its ``-k``s."""
    from babel.messages.frontend import parse_keywords

    makefile = MAKEFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    recipe = re.search(r"^messages:.*\n((?:\t.*\n?)+)", makefile, re.MULTILINE)
    assert recipe, "the Makefile has no `messages` target"
    extract = next((line for line in recipe.group(1).splitlines() if " extract " in line), None)
    assert extract, "the `messages` target does not run `pybabel extract`"
    specs = re.findall(r"(?:-k|--keywords?)[ =](\S+)", extract)
    keywords: dict[str, Any] = {} if "--no-default-keywords" in extract else dict(DEFAULT_KEYWORDS)
    keywords.update(parse_keywords(specs))
    return keywords


def _key(message: str | tuple[str, ...], context: str | None) -> MessageKey:
    return (message if isinstance(message, str) else message[0], context)


def _order(key: MessageKey) -> tuple[str, str]:
    return key[0], key[1] or ""


@pytest.fixture(scope="module")
def extracted() -> dict[MessageKey, set[str]]:
    """Every message the web UI's code uses → the files (relative to the repository) it is in."""
    method_map, options_map = _mapping()
    found: dict[MessageKey, set[str]] = {}
    for filename, _lineno, message, _comments, context in extract_from_dir(
        REPO, method_map, options_map, keywords=_makefile_keywords()
    ):
        found.setdefault(_key(message, context), set()).add(filename)
    return found


@pytest.fixture(scope="module")
def german() -> Catalog:
    with GERMAN_PO.open("rb") as po_file:
        return read_po(po_file, locale="de")


def _listing(keys: list[MessageKey]) -> str:
    return "\n".join(f"  {message!r}" + (f" (context {context!r})" if context else "") for message, context in keys)


def _translated(message: Any) -> bool:
    strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
    return all(strings)


def test_extraction_finds_messages_of_templates_and_python(extracted: dict[MessageKey, set[str]]) -> None:
    files = set().union(*extracted.values())
    templates = {
        path.relative_to(REPO).as_posix()
        for path in (WEB / "templates").glob("*.html")
        if "_(" in path.read_text(encoding="utf-8")
    }
    assert templates, "no template uses _()?"
    assert not templates - files, f"babel.cfg misses templates: {sorted(templates - files)}"
    for message, source in [
        (TOGGLE_EN, "src/printfleet/web/templates/settings.html"),  # _() in a template
        ("Printer added", "src/printfleet/web/printer_forms.py"),  # translate(locale, "…")
        ("%(hours)d h %(minutes)02d min", "src/printfleet/web/render.py"),  # gettext("…")
        ("⚡ Job discovered — %(job)s on %(printer)s (on startup)", "src/printfleet/web/live.py"),
    ]:
        assert source in extracted.get((message, None), set()), f"{message!r} not extracted from {source}"


def test_german_catalog_translates_every_message_and_nothing_else(
    extracted: dict[MessageKey, set[str]], german: Catalog
) -> None:
    entries = {_key(message.id, message.context): message for message in german if message.id}
    missing = sorted((k for k in extracted if k not in entries or not _translated(entries[k])), key=_order)
    stale = sorted((key for key in entries if key not in extracted), key=_order)
    fuzzy = sorted((key for key, message in entries.items() if message.fuzzy), key=_order)
    obsolete = sorted((_key(message.id, message.context) for message in german.obsolete.values()), key=_order)
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} message(s) without a German translation — run `make messages` and translate them in "
            f"{GERMAN_PO.relative_to(REPO)}:\n{_listing(missing)}"
        )
    if fuzzy:
        problems.append(f"fuzzy entries, not used until checked (fix, then drop the fuzzy flag):\n{_listing(fuzzy)}")
    if stale:
        problems.append(f"entries no longer used in the code (run `make messages` to drop them):\n{_listing(stale)}")
    if obsolete:
        problems.append(f"obsolete (#~) entries, delete them:\n{_listing(obsolete)}")
    assert not problems, "\n\n".join(problems)


_PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]")


def test_translations_keep_the_placeholders(german: Catalog) -> None:
    wrong = []
    for message in german:
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = Counter(_PLACEHOLDER.findall(ids[-1])), ids[-1].count("⚡")
        for string in strings:
            found = Counter(_PLACEHOLDER.findall(string)), string.count("⚡")
            if found != expected or "%" in _PLACEHOLDER.sub("", string):  # a lone % breaks newstyle gettext
                wrong.append(f"  {ids[0]!r} → {string!r}")
    assert not wrong, "translations whose placeholders (or ⚡ marks) differ from the message id's:\n" + "\n".join(wrong)


def test_required_wording() -> None:
    german = translations("de")
    assert german.gettext(TOGGLE_EN) == TOGGLE_DE
    assert german.gettext("Auto") == "Auto"
    assert translations("en").gettext(TOGGLE_EN) == TOGGLE_EN


# --- negotiation ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        ("de", "en-US,en;q=0.9", "de"),  # the switch's cookie beats the browser
        ("en", "de-DE,de;q=0.9", "en"),
        ("fr", "de", "de"),  # an unsupported cookie is ignored
        (None, "de-DE,de;q=0.9,en;q=0.8", "de"),
        (None, "fr-CH, fr;q=0.9, de;q=0.7", "de"),
        (None, "en-US,en;q=0.9,de;q=0.8", "en"),
        (None, "DE-at", "de"),
        (None, "en;q=0.5, de;q=0.8", "de"),  # quality, not position, decides
        (None, "*", "en"),
        (None, "fr, *;q=0.5, de;q=0.1", "en"),
        (None, "de;q=0, en;q=0.5", "en"),  # q=0 means "not this one"
        (None, "de;q=0", "en"),
        (None, "en;q=0, de", "de"),
        (None, "de;q=zero", "en"),  # an unreadable quality counts as 0
        (None, "", "en"),
        (None, None, "en"),
        (None, ";;,, ,;q=", "en"),
        (None, "klingon", "en"),
    ],
)
def test_negotiate(cookie: str | None, header: str | None, expected: str) -> None:
    assert negotiate(cookie=cookie, accept_language=header) == expected


# --- rendering --------------------------------------------------------------------------------------------------


def _settings_page(locale: str) -> str:
    return Renderer().render(
        "settings.html",
        locale,
        page="settings",
        title="Settings",
        request_path="/settings",
        live_url="/ui/ws?view=toasts&lang=" + locale,
        settings={"job_creation_auto_create": True, "monitoring_interval": 5.0},
        shop=None,
        printers=[],
        open_id=None,
        values={},
        errors=[],
    )


def test_settings_page_renders_in_german_and_english() -> None:
    german, english = _settings_page("de"), _settings_page("en")
    assert TOGGLE_DE in german
    assert TOGGLE_EN not in german
    assert '<html lang="de">' in german
    assert "Drucker hinzufügen" in german
    assert TOGGLE_EN in english
    assert TOGGLE_DE not in english
    assert '<html lang="en">' in english


def _duration(locale: str, seconds: float | None) -> str:
    env = Environment(autoescape=True)
    env.globals["translations"] = translations(locale)
    env.filters["duration"] = duration
    return env.from_string("{{ seconds|duration }}").render(seconds=seconds)


@pytest.mark.parametrize(
    ("seconds", "english", "german"),
    [
        (None, "—", "—"),
        (45, "45 s", "45 Sek."),
        (12 * 60 + 10, "12 min", "12 Min."),
        (3_600 + 5 * 60, "1 h 05 min", "1 Std. 05 Min."),
        (2 * 86_400 + 3 * 3_600 + 59, "2 d 3 h", "2 Tg. 3 Std."),
    ],
)
def test_duration_filter_speaks_both_languages(seconds: float | None, english: str, german: str) -> None:
    assert _duration("en", seconds) == english
    assert _duration("de", seconds) == german


# --- the running app --------------------------------------------------------------------------------------------


async def test_settings_page_follows_accept_language(bare_server: RunningServer) -> None:
    german = await bare_server.client.get("/settings", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.8"})
    assert german.status_code == 200
    assert TOGGLE_DE in german.text
    assert '<html lang="de">' in german.text
    english = await bare_server.client.get("/settings", headers={"Accept-Language": "en"})
    assert english.status_code == 200
    assert TOGGLE_EN in english.text
    assert TOGGLE_DE not in english.text


async def test_language_switch_sets_the_cookie_and_returns_to_the_page(bare_server: RunningServer) -> None:
    switched = await bare_server.client.get("/ui/lang/de", params={"next": "/jobs"})
    assert switched.status_code == 303
    assert switched.headers["location"] == "/jobs"
    assert switched.cookies.get(COOKIE) == "de"
    set_cookie = switched.headers["set-cookie"].lower()
    assert "max-age=31536000" in set_cookie
    assert "httponly" in set_cookie
    assert "samesite=lax" in set_cookie

    # The client keeps the cookie: the page is German even though the browser asks for English.
    jobs = await bare_server.client.get("/jobs", headers={"Accept-Language": "en"})
    assert jobs.status_code == 200
    assert '<html lang="de">' in jobs.text
    assert "Aufträge" in jobs.text
    settings = await bare_server.client.get("/settings", headers={"Accept-Language": "en"})
    assert TOGGLE_DE in settings.text

    back = await bare_server.client.get("/ui/lang/en", params={"next": "/settings"})
    assert back.headers["location"] == "/settings"
    settings = await bare_server.client.get("/settings", headers={"Accept-Language": "de"})
    assert TOGGLE_EN in settings.text


@pytest.mark.parametrize("target", ["//evil.example", "//evil.example/x", "https://evil.example/", "/\\evil.example"])
async def test_language_switch_never_leaves_the_site(bare_server: RunningServer, target: str) -> None:
    response = await bare_server.client.get("/ui/lang/de", params={"next": target})
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_unknown_language_sets_no_cookie(bare_server: RunningServer) -> None:
    response = await bare_server.client.get("/ui/lang/fr", params={"next": "/jobs"})
    assert response.status_code == 303
    assert response.headers["location"] == "/jobs"
    assert COOKIE not in response.cookies
