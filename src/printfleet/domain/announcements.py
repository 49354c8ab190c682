"""Announcements between the processes of one farm: small hints that something changed in the store.

A process that committed a change announces it to the farm's other processes as a :class:`Hint` (what kind of thing
changed and its key: ``job`` 12, ``queue`` entry 5, ``printer`` ``x1c-1``); each receiver re-reads that thing from
the store and shows it on its own pages. A hint never carries the thing itself: the store is the truth, and a hint
lost (a listener reconnecting) is made good by re-reading everything (moonraker-auth-scale research C2).

Hints travel as PostgreSQL ``NOTIFY`` payloads, which "must be shorter than 8000 bytes" (PostgreSQL 15, NOTIFY(7);
measured in research C2: 7,999 bytes pass, 8,000 fail). :func:`encode` packs hints into as few payloads as fit
under :data:`MAX_PAYLOAD_BYTES`, dropping repeats; :func:`decode` reads one back.

Payload shape (JSON): ``{"from": "<sender>", "h": [["job", "12"], ["settings", ""], ...]}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from printfleet.domain.events import (
    DispatchUpdated,
    DomainEvent,
    FirstLayerDone,
    JobAutoCreated,
    JobCostRecorded,
    JobUpdated,
    OrderUpdated,
    PlateCleared,
    QueueEvent,
    ScheduledPrintUpdated,
    SettingsUpdated,
    ShopPollWanted,
)

MAX_PAYLOAD_BYTES = 7_900
"""The largest payload :func:`encode` makes (bytes of UTF-8): under PostgreSQL's 8,000, with room to spare."""

MAX_KEY_LENGTH = 200
"""The longest key a hint may carry (characters); a printer id or a number in practice."""


class HintKind(StrEnum):
    """What changed. Each kind has one way to re-read it (the receiving process's loaders)."""

    JOB = "job"
    """A job (key: its id)."""
    QUEUE = "queue"
    """The member queue (key: the entry's id, or empty for the queue as a whole: a hold, a pause)."""
    DISPATCH = "dispatch"
    """A print being sent (key: the dispatch's id)."""
    PLATE = "plate"
    """A printer's plate (key: the printer's id)."""
    SCHEDULE = "schedule"
    """A scheduled print (key: its id)."""
    ORDER = "order"
    """A shop order (key: its id)."""
    SETTINGS = "settings"
    """The global settings (no key)."""
    PRINTER = "printer"
    """A printer's configuration: added, edited or removed (key: the printer's id)."""
    SHOP = "shop"
    """A shop asked to be polled now (key: the shop's kind, ``etsy``)."""
    STATUS = "status"
    """A printer's status after a change of state, shared by the process that owns it (key: the printer's id)."""
    TELEMETRY = "telemetry"
    """A printer's status whose telemetry only moved (temperatures, progress), shared by its owner (key: its id)."""
    COMMAND = "command"
    """A printer command for the process that owns the printer (key: JSON ``[printer_id, command, request]``)."""
    REPLY = "reply"
    """The owner's answer to a command (key: JSON ``[request, outcome, message]``)."""


@dataclass(frozen=True, slots=True)
class Hint:
    """``kind`` changed; ``key`` names which one (empty when the kind has one thing only). Raises ValueError when
    ``key`` is longer than :data:`MAX_KEY_LENGTH`."""

    kind: HintKind
    key: str = ""

    def __post_init__(self) -> None:
        if len(self.key) > MAX_KEY_LENGTH:
            raise ValueError(f"a hint's key is at most {MAX_KEY_LENGTH} characters, got {len(self.key)}")


def hint_of(event: DomainEvent) -> Hint | None:
    """The hint announcing ``event`` to the other processes, or None when they need not hear of it: printer
    statuses (their owner shares them in ``printer_live``: ``StatusSharing``), alerts and reminders (said once, by
    the role that raises them), and what they re-read anyway."""
    if isinstance(event, JobAutoCreated | JobUpdated | FirstLayerDone):
        return Hint(HintKind.JOB, str(event.job.id))
    if isinstance(event, JobCostRecorded):
        return Hint(HintKind.JOB, str(event.job_id))
    if isinstance(event, QueueEvent):
        entry = getattr(event, "entry", None)
        return Hint(HintKind.QUEUE, str(entry.id) if entry is not None else "")
    if isinstance(event, DispatchUpdated):
        return Hint(HintKind.DISPATCH, str(event.dispatch.id))
    if isinstance(event, PlateCleared):
        return Hint(HintKind.PLATE, event.plate.printer_id)
    if isinstance(event, ScheduledPrintUpdated):
        return Hint(HintKind.SCHEDULE, str(event.scheduled.id))
    if isinstance(event, OrderUpdated):
        return Hint(HintKind.ORDER, str(event.order.id))
    if isinstance(event, SettingsUpdated):
        return Hint(HintKind.SETTINGS)
    if isinstance(event, ShopPollWanted):
        return Hint(HintKind.SHOP, event.shop)
    return None


def encode(sender: str, hints: Iterable[Hint], *, limit: int = MAX_PAYLOAD_BYTES) -> list[str]:
    """``hints`` from ``sender`` as JSON payloads of at most ``limit`` bytes each, in order, each hint once (the
    first time it comes). No hints: no payloads. Raises ValueError when ``sender`` with one hint does not fit."""
    empty = _size(sender, [])
    payloads: list[str] = []
    batch: list[list[str]] = []
    size = empty
    for hint in dict.fromkeys(hints):
        pair = [hint.kind.value, hint.key]
        grows = len(json.dumps(pair, separators=(",", ":"), ensure_ascii=False).encode()) + (1 if batch else 0)
        if batch and size + grows > limit:
            payloads.append(_payload(sender, batch))
            batch, size, grows = [], empty, grows - 1
        if size + grows > limit:
            raise ValueError(f"a hint from {sender[:40]!r} does not fit in {limit} bytes")
        batch.append(pair)
        size += grows
    if batch:
        payloads.append(_payload(sender, batch))
    return payloads


def decode(payload: str) -> tuple[str, list[Hint]]:
    """The sender and hints of one payload. Raises ValueError naming what is wrong (not JSON, a field missing,
    an unknown kind)."""
    try:
        body = json.loads(payload)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error.msg}") from None
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    sender, pairs = body.get("from"), body.get("h")
    if not isinstance(sender, str) or not sender:
        raise ValueError("'from' is missing or not a string")
    if not isinstance(pairs, list):
        raise ValueError("'h' is missing or not a list")
    hints = []
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair)):
            raise ValueError(f"a hint is not a [kind, key] pair of strings: {str(pair)[:60]}")
        try:
            kind = HintKind(pair[0])
        except ValueError:
            raise ValueError(f"unknown hint kind {pair[0][:40]!r}") from None
        hints.append(Hint(kind, pair[1]))
    return sender, hints


def _payload(sender: str, pairs: list[list[str]]) -> str:
    return json.dumps({"from": sender, "h": pairs}, separators=(",", ":"), ensure_ascii=False)


def _size(sender: str, pairs: list[list[str]]) -> int:
    return len(_payload(sender, pairs).encode())
