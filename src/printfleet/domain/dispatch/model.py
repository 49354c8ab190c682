"""Dispatch records: one request to print one file (plate) on one printer, and the steps it walks.

``pending → uploading → uploaded → starting → started``, or ``failed`` with a :class:`FailureReason`. Every change
is stored before the step it announces runs (DESIGN.md invariant 8), so after a crash the record says how far it got
and the service reconciles it from what the printer reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from printfleet.domain.dispatch.sending import PrintOptions


class DispatchState(StrEnum):
    """Where a dispatch is. ``started`` and ``failed`` are final."""

    PENDING = "pending"
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    STARTING = "starting"
    STARTED = "started"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """True once the dispatch will not change any more."""
        return self in (DispatchState.STARTED, DispatchState.FAILED)


class FailureReason(StrEnum):
    """Why a dispatch failed or was refused (the API's ``reason``)."""

    PRINTER_BUSY = "printer_busy"
    PRINTER_OFFLINE = "printer_offline"
    PLATE_NOT_CLEAR = "plate_not_clear"
    RESERVED = "reserved"
    UPLOAD_FAILED = "upload_failed"
    REJECTED = "rejected"
    NOT_CONFIRMED = "not_confirmed"
    INCOMPATIBLE = "incompatible"


class DispatchRefused(Exception):
    """A precondition refused a dispatch before anything was sent (HTTP 409). ``reason`` names it; ``message`` is a
    sentence for a person."""

    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True, kw_only=True)
class NewDispatch:
    """A dispatch to record. ``job_name`` is what the printer will show (Bambu ``subtask_name``); ``remote_name`` the
    file name on the printer; ``requested_by`` the user id (None: printfleet itself, e.g. the scheduler)."""

    printer_id: str
    file_id: int
    plate: int
    job_name: str
    remote_name: str
    requested_by: int | None
    created_at: datetime
    options: PrintOptions = field(default_factory=PrintOptions)


@dataclass(frozen=True, slots=True, kw_only=True)
class Dispatch(NewDispatch):
    """A stored dispatch. ``attempts`` counts start attempts (at most :data:`MAX_ATTEMPTS`); ``error`` is the
    failure reason once ``failed``, ``detail`` a short human sentence about the last problem; ``job_id`` the job that
    will carry the print; ``remote_path`` where the file is on the printer once uploaded; ``start_sent_at`` when the
    last start request went out (the confirmation window runs from it); times aware UTC."""

    id: int
    state: DispatchState
    attempts: int = 0
    error: FailureReason | None = None
    detail: str | None = None
    job_id: int | None = None
    remote_path: str | None = None
    start_sent_at: datetime | None = None
    updated_at: datetime


MAX_ATTEMPTS = 3
"""Start attempts before a dispatch fails ``not_confirmed`` (Bambuddy's ``DISPATCH_MAX_ATTEMPTS``, research
dispatch-scheduling-orders.md 1a step 3)."""

CONFIRM_WINDOW_S = 90.0
"""Seconds after a start request within which the printer must report our print (or at least leave its idle
state) before the attempt counts as lost (research 1a step 3, phase A)."""

CONFIRM_EXTENSION_S = 180.0
"""Further seconds granted while the printer reports it is preparing (heating, levelling, calibrating) but has not
yet named our print (phase B)."""
