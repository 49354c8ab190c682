"""What is wrong with a printer form, in the page's language and naming each field as the form labels it (never a
configuration key): the REST schema's validation errors and the printer kind's own requirements
(:meth:`~printfleet.domain.printer.PrinterConfig.problems`) turned into sentences."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import ValidationError

from printfleet.web.pages import translate


def _labels(locale: str) -> dict[str, str]:
    """The form's label of each field."""
    return {
        "id": translate(locale, "ID"),
        "type": translate(locale, "Type"),
        "name": translate(locale, "Name"),
        "host": translate(locale, "Host"),
        "port": translate(locale, "Port"),
        "serial": translate(locale, "Serial number"),
        "access_code": translate(locale, "Access code"),
        "password": translate(locale, "Password"),
        "api_key": translate(locale, "API key"),
        "ca_file": translate(locale, "CA certificate file"),
        "tls_insecure": translate(locale, "Do not verify the printer's certificate"),
        "username": translate(locale, "User name"),
        "url": translate(locale, "URL"),
        "poll_interval": translate(locale, "Poll interval (seconds)"),
        "tags": translate(locale, "Tags"),
        "auto_create_jobs": translate(locale, "Create jobs automatically"),
        "queue_mode": translate(locale, "Who sends it prints"),
    }


def _requirement(locale: str, field: str, message: str) -> str | None:
    """The sentence for one of the kind's requirements (``PrinterConfig.problems``), None for one not known here."""
    if message.startswith("give it again"):  # a stored secret and a new address (PrinterService.update)
        return translate(
            locale, "Give it again: the address changed, and a stored secret is never sent to a new address."
        )
    if field == "name":
        return translate(locale, "Give the printer a name.")
    if field == "host" and "required" in message:
        return translate(
            locale, "The printer's address on your network is needed (an IP address such as 192.168.1.50)."
        )
    if field == "serial" and "required" in message:
        return translate(locale, "A Bambu Lab printer's serial number is needed (on the printer: Settings → Device).")
    if field == "access_code" and "required" in message:
        return translate(
            locale, "A Bambu Lab printer's access code is needed (on the printer: Settings → Network → LAN)."
        )
    if field == "ca_file":
        return translate(
            locale,
            "Give a CA certificate file to check the printer's certificate, or tick “Do not verify the printer's "
            "certificate”.",
        )
    if field == "password" and "give username" in message:
        return translate(locale, "Give a user name and password, or an API key.")
    if field == "url" and "required" in message:
        return translate(locale, "Give the address, starting with http:// or https:// (e.g. http://octopi.local).")
    if field == "api_key" and "required" in message:
        return translate(locale, "An API key is needed (in OctoPrint: User settings → Application keys).")
    return None


def requirement_sentences(locale: str, problems: Sequence[tuple[str, str]]) -> list[str]:
    """``label: sentence`` for each ``(field, message)`` the printer kind reports missing or wrong."""
    labels = _labels(locale)
    out = []
    for field, message in problems:
        sentence = _requirement(locale, field, message) or message
        out.append(f"{labels.get(field, field)}: {sentence}")
    return out


_BY_TYPE: dict[str, Callable[[str], str]] = {
    "missing": lambda locale: translate(locale, "This is needed."),
    "int_parsing": lambda locale: translate(locale, "Give a whole number."),
    "float_parsing": lambda locale: translate(locale, "Give a number."),
    "greater_than_equal": lambda locale: translate(locale, "The number is too small."),
    "greater_than": lambda locale: translate(locale, "The number is too small."),
    "less_than_equal": lambda locale: translate(locale, "The number is too large."),
    "string_too_long": lambda locale: translate(locale, "This is too long."),
    "too_long": lambda locale: translate(locale, "There are too many."),
    "enum": lambda locale: translate(locale, "Choose one of the offered values."),
}


def validation_sentences(locale: str, error: ValidationError) -> list[str]:
    """``label: sentence`` for each value the REST schema refused."""
    labels = _labels(locale)
    out = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else ""
        kind = str(problem["type"])
        if kind == "string_pattern_mismatch" and field == "id":
            sentence = translate(
                locale, "Use letters, digits, dots, dashes and underscores, starting with a letter or a digit."
            )
        elif kind == "string_pattern_mismatch" and field == "url":
            sentence = translate(
                locale, "Give the address, starting with http:// or https:// (e.g. http://octopi.local)."
            )
        elif kind in _BY_TYPE:
            sentence = _BY_TYPE[kind](locale)
        else:
            sentence = str(problem["msg"])
        out.append(f"{labels.get(field, field)}: {sentence}")
    return out
