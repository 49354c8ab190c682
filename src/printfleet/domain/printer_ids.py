"""A printer's id made from its name, for the Settings form that leaves the id empty."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

MAX_ID_LENGTH = 64
"""The longest id (the API's pattern: a letter or digit, then letters, digits, ``.``, ``_``, ``-``)."""


def printer_id_from_name(name: str, taken: Collection[str]) -> str:
    """A valid id from ``name``: accents dropped, lower case, every run of other characters one ``-`` (``X1C #2
    (Küche)`` → ``x1c-2-kuche``); ``printer`` when nothing is left; ``-2``, ``-3``, … appended while the id is in
    ``taken``."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    base = re.sub(r"[^a-z0-9._]+", "-", plain).strip("-._")[:MAX_ID_LENGTH].strip("-._") or "printer"
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        suffix = f"-{number}"
        candidate = base[: MAX_ID_LENGTH - len(suffix)].rstrip("-._") + suffix
    return candidate
