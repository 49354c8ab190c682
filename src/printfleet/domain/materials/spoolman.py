"""Spoolman (research materials-notifications.md §3): its spools mirrored into printfleet's inventory
(:func:`mirror_of`), and usage reported there exactly once, through an outbox (§3.2, §7 S3).

Spoolman's ``PUT /api/v1/spool/{id}/use`` adds to the spool's ``used_weight`` on every call: it is not idempotent,
so a report whose answer was lost (a timeout, a server error) must not simply be sent again. Each report
(:class:`SpoolmanReport`: one job's grams of one Spoolman spool) is stored before it is sent; before every attempt
the spool's ``used_weight`` is read and kept as the attempt's baseline; when an attempt's outcome is unknown the
next attempt reads the spool first and counts the report as delivered when ``used_weight`` has grown by its grams
since that baseline (:func:`already_applied`), else it sends it again. Another client using the same spool in the
meantime can make a lost report look delivered: the rule prefers never charging twice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from printfleet.domain.materials.model import FilamentFields, InvalidMaterial, SpoolFields, normalise_tray_uuid

APPLIED_TOLERANCE_G = 0.005
"""Grams of rounding allowed when comparing ``used_weight`` with the baseline plus a report's grams."""


class ReportState(StrEnum):
    """Where a report stands: waiting to be sent (again), delivered, refused for good, or its spool is gone."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    GONE = "gone"


@dataclass(frozen=True, slots=True, kw_only=True)
class SpoolmanReport:
    """One job's use of one Spoolman spool: ``grams`` to add with ``use_weight``; ``spool_id`` the printfleet spool
    linked to it (None: unlinked since); ``baseline_g`` the spool's ``used_weight`` read before the last attempt;
    ``uncertain`` whether the last attempt's outcome is unknown; ``next_attempt_at`` aware UTC."""

    id: int
    job_id: int
    spool_id: int | None
    spoolman_id: int
    grams: float
    state: ReportState
    attempts: int
    baseline_g: float | None
    uncertain: bool
    next_attempt_at: datetime
    last_error: str | None = None


def already_applied(report: SpoolmanReport, used_weight_g: float) -> bool:
    """Whether an attempt whose outcome was unknown did reach Spoolman: the spool's ``used_weight`` now is at least
    the attempt's baseline plus the report's grams (a negative report: at most). False when no attempt is
    uncertain or no baseline was read."""
    if not report.uncertain or report.baseline_g is None:
        return False
    if report.grams >= 0:
        return used_weight_g >= report.baseline_g + report.grams - APPLIED_TOLERANCE_G
    return used_weight_g <= max(report.baseline_g + report.grams, 0.0) + APPLIED_TOLERANCE_G


def retry_delay(attempts: int, *, initial: timedelta, maximum: timedelta) -> timedelta:
    """The wait after ``attempts`` failed attempts (≥ 1): ``initial`` doubling, at most ``maximum``."""
    delay: timedelta = initial * (2 ** min(max(attempts - 1, 0), 30))
    return min(delay, maximum)


@dataclass(frozen=True, slots=True, kw_only=True)
class MirroredSpool:
    """A Spoolman spool as printfleet keeps it: ``spoolman_id``, its vendor's name (None: none), its filament
    (without ``vendor_id``) and the spool's values (``initial_weight_g``, ``used_weight_g``, ``location``,
    ``lot_nr``, ``archived``, ``comment``, ``spoolman_id``)."""

    spoolman_id: int
    vendor_name: str | None
    filament: FilamentFields
    spool_values: dict[str, Any]


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _text(value: object, limit: int = 64) -> str | None:
    return value.strip()[:limit] or None if isinstance(value, str) else None


TAG_FIELD = "tag"
"""The Spoolman extra field that holds a Bambu RFID spool's ``tray_uuid`` (the key Bambuddy registers; research
§3.6)."""


def rfid_tag(extra: object) -> str | None:
    """The Bambu RFID spool id in a Spoolman spool's ``extra`` (``{"tag": "\"95558F…\""}``: extra values are
    JSON-encoded strings, §3.1), upper-case; None when there is none or it is not a ``tray_uuid``."""
    if not isinstance(extra, Mapping) or not isinstance(extra.get(TAG_FIELD), str):
        return None
    try:
        decoded = json.loads(extra[TAG_FIELD])
        return normalise_tray_uuid(decoded) if isinstance(decoded, str) else None
    except (ValueError, InvalidMaterial):
        return None


def mirror_of(remote: Mapping[str, Any]) -> MirroredSpool | None:
    """The printfleet side of a spool as Spoolman sends it (``GET /api/v1/spool`` or a websocket frame's
    ``payload``: ``id``, ``filament`` {``name``, ``material``, ``density``, ``diameter``, ``weight``,
    ``spool_weight``, ``price`` of a full spool, ``color_hex``, ``vendor`` {``name``}}, ``initial_weight``,
    ``used_weight``, ``location``, ``lot_nr``, ``archived``, ``comment``, ``extra.tag``: a Bambu RFID spool's
    ``tray_uuid``, which becomes the spool's). None when it lacks what printfleet needs
    (an id, a material, a density and diameter, a full weight) or a value is refused."""
    spoolman_id = remote.get("id")
    filament = remote.get("filament")
    if isinstance(spoolman_id, bool) or not isinstance(spoolman_id, int) or not isinstance(filament, Mapping):
        return None
    vendor = filament.get("vendor")
    weight = _number(filament.get("weight"))
    initial = _number(remote.get("initial_weight")) or weight
    material, density = _text(filament.get("material"), 32), _number(filament.get("density"))
    diameter = _number(filament.get("diameter"))
    if material is None or density is None or diameter is None or not initial:
        return None
    try:
        fields = FilamentFields(
            material=material,
            name=_text(filament.get("name")),
            color_hex=_text(filament.get("color_hex"), 8),
            density_g_cm3=density,
            diameter_mm=diameter,
            net_weight_g=weight,
            empty_spool_weight_g=_number(filament.get("spool_weight")),
            price_per_spool=_number(filament.get("price")),
        ).checked()
        values: dict[str, Any] = {
            "initial_weight_g": initial,
            "used_weight_g": max(_number(remote.get("used_weight")) or 0.0, 0.0),
            "location": _text(remote.get("location")),
            "lot_nr": _text(remote.get("lot_nr")),
            "archived": remote.get("archived") is True,
            "comment": _text(remote.get("comment"), 1024),
            "spoolman_id": spoolman_id,
        }
        SpoolFields(filament_id=0, **values).checked()
    except (InvalidMaterial, TypeError):
        return None
    tag = rfid_tag(remote.get("extra"))
    if tag is not None:
        values["tray_uuid"] = tag
    vendor_name = _text(vendor.get("name")) if isinstance(vendor, Mapping) else None
    return MirroredSpool(spoolman_id=spoolman_id, vendor_name=vendor_name, filament=fields, spool_values=values)
