"""Wire shapes of jobs and settings (compatible with the job API documentation printfleet follows)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from printfleet.domain.jobs import Job, JobStatus
from printfleet.services.jobs import CUSTOMER_INFO_MAX_CHARS


def _bounded_info(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return value
    try:
        size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    except (RecursionError, ValueError):
        raise ValueError("must be a plain JSON object") from None
    if size > CUSTOMER_INFO_MAX_CHARS:
        raise ValueError(f"at most {CUSTOMER_INFO_MAX_CHARS} characters of JSON")
    return value


_INFO_DESCRIPTION = f"Free-form object, at most {CUSTOMER_INFO_MAX_CHARS} characters as JSON."


class JobPublic(BaseModel):
    """A job. Times ISO 8601 UTC; ``progress`` %; ``duration_seconds`` once ended.

    ``customer_info`` of an auto-created job carries ``auto_created``, ``discovery_time``, ``printer_start_time``
    (null when the printer gives none) and ``discovered_on_startup``. ``queue_entry_id``, ``queue_user_id`` and
    ``queue_user_name`` name the queue entry and user whose reserved printer the print started on.
    """

    id: int
    printer_id: str
    printer_type: str
    job_name: str
    filename: str | None
    status: JobStatus
    progress: float | None
    created_at: datetime
    start_time: datetime | None
    end_time: datetime | None
    duration_seconds: int | None
    is_business: bool
    customer_info: dict[str, Any]
    file_id: str | None
    native_job_id: str | None
    end_reason: str | None
    notes: str | None
    queue_entry_id: int | None = None
    queue_user_id: str | None = None
    queue_user_name: str | None = None
    dispatch_id: int | None = Field(
        default=None, description="The dispatch that sent this print (printfleet started it)."
    )
    requested_by: int | None = Field(default=None, description="The user id who sent the print from printfleet.")
    plate_outcome: str | None = Field(
        default=None, description="How the plate looked when cleared after the print: good or bad."
    )

    @classmethod
    def from_domain(cls, job: Job) -> JobPublic:
        """Map a domain job."""
        return cls(
            id=job.id,
            printer_id=job.printer_id,
            printer_type=job.printer_type,
            job_name=job.job_name,
            filename=job.filename,
            status=job.status,
            progress=job.progress,
            created_at=job.created_at,
            start_time=job.start_time,
            end_time=job.end_time,
            duration_seconds=job.duration_seconds,
            is_business=job.is_business,
            customer_info=job.public_customer_info(),
            file_id=job.file_id,
            native_job_id=job.native_job_id,
            end_reason=job.end_reason,
            notes=job.notes,
            queue_entry_id=job.queue_entry_id,
            queue_user_id=job.queue_user_id,
            queue_user_name=job.queue_user_name,
            dispatch_id=job.dispatch_id,
            requested_by=job.requested_by,
            plate_outcome=job.plate_outcome,
        )


class JobList(BaseModel):
    """``GET /api/v1/jobs``: newest first."""

    jobs: list[JobPublic]
    total: int


class JobCreate(BaseModel):
    """``POST /api/v1/jobs``: a manual job, ``pending`` until its print starts on ``printer_id``."""

    model_config = ConfigDict(extra="forbid")

    printer_id: str = Field(max_length=64)
    job_name: str | None = Field(default=None, max_length=300)
    filename: str | None = Field(default=None, max_length=500)
    is_business: bool = False
    customer_info: dict[str, Any] = Field(default_factory=dict, description=_INFO_DESCRIPTION)
    notes: str | None = Field(default=None, max_length=10_000)
    file_id: str | None = Field(default=None, max_length=200)

    @field_validator("customer_info")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any] | None:
        return _bounded_info(value)


class JobUpdate(BaseModel):
    """``PATCH``/``PUT /api/v1/jobs/{id}``: the fields sent change. ``printer_id`` and ``filename`` are read-only
    for auto-created jobs."""

    model_config = ConfigDict(extra="forbid")

    job_name: str | None = Field(default=None, max_length=300)
    is_business: bool | SkipJsonSchema[None] = None
    customer_info: dict[str, Any] | SkipJsonSchema[None] = Field(default=None, description=_INFO_DESCRIPTION)
    notes: str | None = Field(default=None, max_length=10_000)
    printer_id: str | None = Field(default=None, max_length=64)
    filename: str | None = Field(default=None, max_length=500)
    file_id: str | None = Field(default=None, max_length=200)

    @field_validator("is_business", "customer_info")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Left out, they keep their value; sent as null they would reach the store as NULL (a 500).
        if value is None:
            raise ValueError("must not be null; leave it out to keep the current value")
        return _bounded_info(value) if isinstance(value, dict) else value

    def changes(self) -> dict[str, Any]:
        """The fields the client sent."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class SettingsPublic(BaseModel):
    """``GET /api/v1/settings``."""

    job_creation_auto_create: bool
    monitoring_interval: float


class SettingsUpdate(BaseModel):
    """``PUT /api/v1/settings``: the settings sent change, at once and persisted."""

    model_config = ConfigDict(extra="forbid")

    job_creation_auto_create: bool | None = None
    monitoring_interval: float | None = Field(default=None, ge=0.5, le=3600)


class SettingsSaved(BaseModel):
    """The answer to a settings update."""

    status: Literal["success"] = "success"
    message: str = "Settings updated successfully"
