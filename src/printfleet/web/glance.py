"""The Printers page's farm at a glance: cards in natural name order, counts by bucket, the filter form's values.

Counting, filtering and ordering by *needs attention first* also run in the browser (``app.js``), so they follow
the live updates; the server renders the first view the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from printfleet.domain.farm import ATTENTION, Bucket, bucket, counts, natural_key
from printfleet.domain.printer import PrinterConfig, PrinterKind, PrinterStatus

Row = tuple[PrinterConfig, PrinterStatus | None]

STATE_FILTERS = ("printing", "paused", "attention", *(value.value for value in ATTENTION), "ready", "idle")
"""What the state filter may be: a bucket, or ``attention`` for all four *needs attention* buckets."""

ORDERS = ("name", "attention")


def farm_order(rows: Sequence[Row]) -> list[Row]:
    """``rows`` by printer name in natural order (``#2`` before ``#10``), then by id."""
    return sorted(rows, key=lambda row: (natural_key(row[0].name), row[0].id))


@dataclass(frozen=True, slots=True)
class Glance:
    """What the summary bar and the filter form show: ``counts`` per bucket, ``attention`` their sum for the four
    *needs attention* buckets, the kinds and tags present (for the filter's choices) and the filter values from the
    address (unknown values are ignored)."""

    counts: dict[Bucket, int]
    attention: int
    kinds: list[PrinterKind]
    tags: list[str]
    q: str
    state: str
    kind: str
    tag: str
    order: str


def glance(rows: Sequence[Row], params: Mapping[str, str]) -> Glance:
    """The summary and filter values for ``rows`` and the query string ``params``."""
    found = counts(bucket(status) for _, status in rows)
    kinds = sorted({config.kind for config, _ in rows}, key=list(PrinterKind).index)
    tags = sorted({tag for config, _ in rows for tag in config.tags}, key=natural_key)
    state = params.get("state", "")
    kind = params.get("kind", "")
    order = params.get("order", "")
    return Glance(
        counts=found,
        attention=sum(found[value] for value in ATTENTION),
        kinds=kinds,
        tags=tags,
        q=params.get("q", "")[:100],
        state=state if state in STATE_FILTERS else "",
        kind=kind if kind in {value.value for value in kinds} else "",
        tag=params.get("tag", "") if params.get("tag", "") in tags else "",
        order=order if order in ORDERS else "name",
    )
