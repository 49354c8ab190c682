"""``/api/v1/jobs`` and ``/api/v1/settings``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from printfleet.api.auth import audit, requires
from printfleet.api.context import ApiContext, ContextDep
from printfleet.api.errors import responses
from printfleet.api.job_schemas import (
    JobCreate,
    JobList,
    JobPublic,
    JobUpdate,
    SettingsPublic,
    SettingsSaved,
    SettingsUpdate,
)
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.domain.jobs import Job, JobFilter, JobStatus
from printfleet.services.errors import InvalidInput, JobNotFound, NotFound

router = APIRouter(tags=["jobs"])

MAX_ID = 2**63 - 1
"""The largest id (and offset) the store can hold: a signed 64-bit integer; more is refused with 422."""

Reader = Annotated[Principal, requires(Permission.JOBS_READ_OWN)]
Editor = Annotated[Principal, requires(Permission.JOBS_EDIT_OWN)]
Operator = Annotated[Principal, requires(Permission.JOBS_EDIT)]


def owner_scope(principal: Principal) -> str | None:
    """None when ``principal`` may read every job; else the queue user id whose jobs alone they may see."""
    return None if principal.may(Permission.JOBS_READ) else principal.user.queue_user_id


async def visible_job(context: ApiContext, principal: Principal, job_id: int, *, edit: bool = False) -> Job:
    """The job ``job_id`` if ``principal`` may see it (``edit``: may edit it); JobNotFound otherwise, so a member
    cannot tell someone else's job from no job."""
    job = await context.jobs.get(job_id)
    wide = Permission.JOBS_EDIT if edit else Permission.JOBS_READ
    if not principal.may(wide) and job.queue_user_id != principal.user.queue_user_id:
        raise JobNotFound(job_id)
    return job


JobId = Annotated[int, Path(ge=1, le=MAX_ID, description="The job's id.")]


@router.get("/api/v1/jobs", response_model=JobList, responses=responses())
async def list_jobs(
    principal: Reader,
    context: ContextDep,
    printer_id: str | None = None,
    status_: Annotated[JobStatus | None, Query(alias="status")] = None,
    auto_created: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    search: Annotated[
        str | None, Query(max_length=100, description="Part of the job name or file name, any case.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> JobList:
    """Jobs, newest first, with the total matching the filters. ``since``/``until`` need an offset (ISO 8601)."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name}: give a time with an offset, e.g. 2026-11-21T08:00:00Z")
    jobs, total = await context.jobs.list(
        JobFilter(
            printer_id=printer_id,
            status=status_,
            auto_created=auto_created,
            since=since,
            until=until,
            queue_user_id=owner_scope(principal),
            search=search.strip() or None if search is not None else None,
            limit=limit,
            offset=offset,
        )
    )
    return JobList(jobs=[JobPublic.from_domain(job) for job in jobs], total=total)


@router.post("/api/v1/jobs", response_model=JobPublic, status_code=status.HTTP_201_CREATED, responses=responses(404))
async def create_job(body: JobCreate, _operator: Operator, request: Request, context: ContextDep) -> JobPublic:
    """A manual job: ``pending`` until a print of its file starts on its printer (then it becomes ``running``)."""
    printer, _ = await context.printers.get(body.printer_id)
    job = await context.jobs.create_manual(
        printer_id=printer.id,
        printer_type=printer.kind.value,
        job_name=body.job_name,
        filename=body.filename,
        is_business=body.is_business,
        customer_info=body.customer_info,
        notes=body.notes,
        file_id=body.file_id,
    )
    await audit(request, AuditAction.JOB_CREATED, f"job:{job.id}", printer=job.printer_id)
    return JobPublic.from_domain(job)


@router.get("/api/v1/jobs/{job_id}", response_model=JobPublic, responses=responses(404))
async def get_job(job_id: JobId, principal: Reader, context: ContextDep) -> JobPublic:
    """One job; 404 when unknown, deleted, or (for a member) someone else's."""
    return JobPublic.from_domain(await visible_job(context, principal, job_id))


@router.get(
    "/api/v1/jobs/{job_id}/preview",
    response_class=Response,
    responses={
        **responses(404),
        200: {"content": {"image/png": {}, "image/jpeg": {}}, "description": "The printed plate's preview."},
    },
)
async def job_preview(job_id: JobId, principal: Reader, context: ContextDep) -> Response:
    """The preview of the plate a print started at the printer prints (read from the Bambu Lab project file on the
    printer); 404 when the job is not visible or has none (a print from the library: the file's own thumbnail)."""
    await visible_job(context, principal, job_id)
    image = await context.job_preview(job_id) if context.job_preview is not None else None
    if image is None:
        raise NotFound(f"job {job_id} has no preview")
    return Response(content=image.data, media_type=image.media_type, headers={"Cache-Control": "private, max-age=3600"})


@router.patch("/api/v1/jobs/{job_id}", response_model=JobPublic, responses=responses(404))
@router.put("/api/v1/jobs/{job_id}", response_model=JobPublic, responses=responses(404))
async def update_job(
    job_id: JobId, body: JobUpdate, principal: Editor, request: Request, context: ContextDep
) -> JobPublic:
    """Edit ``job_name``, ``is_business``, ``customer_info``, ``notes`` (auto-creation keys are kept). A member may
    edit only their own jobs."""
    await visible_job(context, principal, job_id, edit=True)
    changes = body.changes()
    job = await context.jobs.edit(job_id, changes)
    await audit(request, AuditAction.JOB_UPDATED, f"job:{job_id}", fields=sorted(changes))
    return JobPublic.from_domain(job)


@router.delete("/api/v1/jobs/{job_id}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(404))
async def delete_job(job_id: JobId, operator: Operator, request: Request, context: ContextDep) -> None:
    """Delete a job. Deleting an auto-created job while its print runs does not make the print create another."""
    await context.jobs.delete(job_id)
    await audit(request, AuditAction.JOB_DELETED, f"job:{job_id}")


@router.post("/api/v1/jobs/{job_id}/convert-to-manual", response_model=JobPublic, responses=responses(404))
async def convert_to_manual(job_id: JobId, operator: Operator, request: Request, context: ContextDep) -> JobPublic:
    """Drop the auto-created flag."""
    job = await context.jobs.convert_to_manual(job_id)
    await audit(request, AuditAction.JOB_UPDATED, f"job:{job_id}", fields=["auto_created"])
    return JobPublic.from_domain(job)


@router.get(
    "/api/v1/settings",
    response_model=SettingsPublic,
    tags=["settings"],
    dependencies=[requires(Permission.SETTINGS_READ)],
    responses=responses(),
)
async def get_settings(context: ContextDep) -> SettingsPublic:
    """Run-time settings."""
    values = context.settings.snapshot()
    return SettingsPublic(
        job_creation_auto_create=values["job_creation_auto_create"],
        monitoring_interval=values["monitoring_interval"],
    )


@router.put("/api/v1/settings", response_model=SettingsSaved, tags=["settings"], responses=responses())
async def put_settings(
    body: SettingsUpdate,
    admin: Annotated[Principal, requires(Permission.SETTINGS_MANAGE)],
    request: Request,
    context: ContextDep,
) -> SettingsSaved:
    """Change settings; persisted and effective at once (switching auto-creation on picks up running prints)."""
    changes = {name: value for name, value in body.model_dump(exclude_unset=True).items() if value is not None}
    if not changes:
        raise InvalidInput("give at least one setting")
    await context.settings.update(changes)
    await audit(request, AuditAction.SETTINGS_CHANGED, "settings", **changes)
    return SettingsSaved()
