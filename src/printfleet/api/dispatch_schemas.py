"""Request and response bodies of the dispatch routes (``/api/v1/printers/{id}/print``, ``/api/v1/dispatches``,
``/api/v1/files/{id}/targets``, ``/api/v1/printers/{id}/plate-cleared``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from printfleet.domain.dispatch.model import Dispatch, DispatchState, FailureReason
from printfleet.domain.dispatch.plates import PlateOutcome, PlateState
from printfleet.domain.dispatch.sending import PrintOptions
from printfleet.domain.printer import PrinterKind
from printfleet.services.dispatch.service import Target

MAX_ID = 2**63 - 1


class PrintOptionsBody(BaseModel):
    """Start options. Bambu Lab printers read them all (MQTT ``project_file``); PrusaLink and OctoPrint ignore
    them. ``ams_mapping``: one global AMS tray id (``ams_id*4 + tray``, -1 unused) per filament slot of the file."""

    model_config = ConfigDict(extra="forbid")

    use_ams: bool | None = None
    ams_mapping: list[int] = Field(default_factory=list, max_length=32)
    bed_leveling: bool = True
    flow_cali: bool = False
    vibration_cali: bool = False
    timelapse: bool = False
    bed_type: str = Field(default="auto", min_length=1, max_length=32, pattern=r"^[a-z_]+$")
    force: bool = Field(default=False, description="Send a Bambu file sliced for another printer model anyway.")

    def to_domain(self) -> PrintOptions:
        """The domain options."""
        for tray in self.ams_mapping:
            if not -1 <= tray <= 255:
                raise ValueError("ams_mapping entries must be between -1 and 255")
        return PrintOptions(
            use_ams=self.use_ams,
            ams_mapping=tuple(self.ams_mapping),
            bed_leveling=self.bed_leveling,
            flow_cali=self.flow_cali,
            vibration_cali=self.vibration_cali,
            timelapse=self.timelapse,
            bed_type=self.bed_type,
            force=self.force,
        )


class PrintBody(BaseModel):
    """``POST /api/v1/printers/{id}/print``: print ``plate`` (1-based) of library file ``file_id``."""

    model_config = ConfigDict(extra="forbid")

    file_id: int = Field(ge=1, le=MAX_ID)
    plate: int = Field(default=1, ge=1, le=999)
    job_name: str | None = Field(default=None, min_length=1, max_length=200)
    options: PrintOptionsBody = Field(default_factory=PrintOptionsBody)


class DispatchPublic(BaseModel):
    """A dispatch: one request to print a file on a printer, and how far it got. ``state``: ``pending``,
    ``uploading``, ``uploaded``, ``starting``, ``started`` or ``failed`` (then ``error`` names why and ``detail``
    says it in words). ``attempts`` counts start attempts (at most 3). ``job_id`` is the job that carries the print;
    ``requested_by`` the user id who asked."""

    id: int
    printer_id: str
    file_id: int
    plate: int
    job_name: str
    state: DispatchState
    attempts: int
    error: FailureReason | None
    detail: str | None
    job_id: int | None
    requested_by: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_domain(cls, dispatch: Dispatch) -> DispatchPublic:
        """Map a domain dispatch."""
        return cls(
            id=dispatch.id,
            printer_id=dispatch.printer_id,
            file_id=dispatch.file_id,
            plate=dispatch.plate,
            job_name=dispatch.job_name,
            state=dispatch.state,
            attempts=dispatch.attempts,
            error=dispatch.error,
            detail=dispatch.detail,
            job_id=dispatch.job_id,
            requested_by=dispatch.requested_by,
            created_at=dispatch.created_at,
            updated_at=dispatch.updated_at,
        )


class DispatchList(BaseModel):
    """``GET /api/v1/dispatches``: newest first."""

    dispatches: list[DispatchPublic]
    total: int


class TargetPublic(BaseModel):
    """Whether a printer can take the file now; ``reason`` (``printer_offline``, ``printer_busy``,
    ``plate_not_clear``, ``reserved``, ``incompatible``) and ``message`` say why not."""

    printer_id: str
    name: str
    kind: PrinterKind
    available: bool
    reason: str | None
    message: str | None

    @classmethod
    def from_domain(cls, target: Target) -> TargetPublic:
        """Map a service target."""
        return cls(
            printer_id=target.printer.id,
            name=target.printer.name,
            kind=target.printer.kind,
            available=target.available,
            reason=target.reason,
            message=target.message,
        )


class PlateClearedBody(BaseModel):
    """``POST /api/v1/printers/{id}/plate-cleared``: how the print on the plate turned out."""

    model_config = ConfigDict(extra="forbid")

    outcome: PlateOutcome = PlateOutcome.GOOD


class PlatePublic(BaseModel):
    """A printer's plate: ``needs_clearing`` until someone confirms it is clear; the last clearing's time, person
    (user id) and outcome."""

    printer_id: str
    needs_clearing: bool
    since: datetime | None
    job_id: int | None
    cleared_at: datetime | None
    cleared_by: int | None
    outcome: PlateOutcome | None

    @classmethod
    def from_domain(cls, plate: PlateState) -> PlatePublic:
        """Map a domain plate state."""
        return cls(
            printer_id=plate.printer_id,
            needs_clearing=plate.needs_clearing,
            since=plate.since,
            job_id=plate.job_id,
            cleared_at=plate.cleared_at,
            cleared_by=plate.cleared_by,
            outcome=plate.outcome,
        )
