"""``/api/v1/queue``: the fair shared print queue over REST.

User commands (join, claim, cancel, change the estimate) act as the signed-in person (``queue.use``); an operator
may act for someone with ``on_behalf_of`` (their username), which the audit log records. The admin commands
(remove, move, hold a printer, pause) need ``queue.manage``. Each user command counts against that user's rate
limit (429 with ``Retry-After``).

Errors (mapped in :mod:`printfleet.api.app`): bad input is 422 ``{"detail", "field"}``; a queue rule refusing is 409
``{"detail", "reason"}`` (403 for ``not_yours``); an unknown entry or printer is 404. Messages never repeat what the
client sent.

The fixed paths (``/users/…``, ``/predict``, ``/history``, ``/paused``, ``/printers/…``) are declared before
``/{entry_id}``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from printfleet.api.auth import audit, client_address, requires
from printfleet.api.context import ApiContext, ContextDep
from printfleet.api.errors import responses
from printfleet.api.jobs import MAX_ID
from printfleet.api.queue_schemas import (
    JoinAnswer,
    MyJobsPublic,
    PausedState,
    PredictionPublic,
    QueueEntryDetail,
    QueueEntryPublic,
    QueueEstimateUpdate,
    QueueHistoryPublic,
    QueueHistoryRecordPublic,
    QueueHold,
    QueueJoin,
    QueueMove,
    QueuePause,
    QueuePrinterPublic,
    QueuePublic,
    QueueUserCommand,
    estimate_value,
)
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.domain.durations import QueueInputError
from printfleet.domain.queue import QueueEntry
from printfleet.services.errors import NotFound, PermissionDenied, PrinterNotFound
from printfleet.services.queue import QueueService

router = APIRouter(prefix="/api/v1/queue", tags=["queue"])

EntryId = Annotated[int, Path(ge=1, le=MAX_ID, description="The queue entry's id.")]

Reader = [requires(Permission.QUEUE_READ)]
User = Annotated[Principal, requires(Permission.QUEUE_USE)]
QueueAdmin = Annotated[Principal, requires(Permission.QUEUE_MANAGE)]


async def acting_user(
    context: ApiContext, principal: Principal, on_behalf_of: str | None, *, request: Request, command: str
) -> tuple[str, str, str | None]:
    """The queue user id and name a command acts as, and who acts for them: the principal's (None), or with
    ``on_behalf_of`` (operators only, 403 otherwise) that person's and the operator's name, recorded in the audit
    log and the entry's history."""
    if on_behalf_of is None:
        return principal.user.queue_user_id, principal.user.display_name, None
    if not principal.may(Permission.QUEUE_MANAGE):
        raise PermissionDenied(
            "only operators may act on behalf of someone (needs queue.manage)", permission=Permission.QUEUE_MANAGE.value
        )
    try:
        person = await context.accounts.find_user(on_behalf_of)
    except NotFound:
        raise QueueInputError("No user has that name.", field="on_behalf_of") from None
    await context.accounts.audit(
        principal,
        AuditAction.QUEUE_ADMIN,
        target=f"user:{person.username}",
        detail={"command": command, "on_behalf_of": person.username},
        client=client_address(request),
    )
    return person.queue_user_id, person.display_name, principal.user.display_name


HISTORY_RECORDS = 200
"""History records returned with one entry (newest first)."""


def _public(queue: QueueService, entry: QueueEntry) -> QueueEntryPublic:
    """``entry`` with its position and wait when it is waiting."""
    return QueueEntryPublic.from_domain(entry, queue.view().etas.get(entry.id))


# --- reading ------------------------------------------------------------------------------------------------------


@router.get("", response_model=QueuePublic, dependencies=Reader, responses=responses())
async def get_queue(context: ContextDep) -> QueuePublic:
    """The queue now: active entries first in line first (waiting ones with ``position`` and ``wait_seconds``),
    the printers with their holders and expected free times, ``paused``, and the policy (windows in seconds)."""
    return QueuePublic.from_view(context.queue.view())


@router.get("/users/{user_id}", response_model=MyJobsPublic, dependencies=Reader, responses=responses())
async def my_jobs(user_id: str, context: ContextDep, recent: Annotated[int, Query(ge=0, le=100)] = 5) -> MyJobsPublic:
    """One user's active entries with positions and waits, and their ``recent`` latest ended entries."""
    return MyJobsPublic.from_domain(user_id, await context.queue.my_jobs(user_id, recent=recent))


@router.get("/predict", response_model=PredictionPublic, dependencies=Reader, responses=responses())
async def predict(
    context: ContextDep,
    job_name: Annotated[str, Query(max_length=1000)],
    user_id: Annotated[str | None, Query(max_length=100)] = None,
    printer_id: Annotated[str | None, Query(max_length=100)] = None,
) -> PredictionPublic:
    """How long ``job_name`` is likely to take, from completed prints of similar names (median and 90th
    percentile, seconds), on ``printer_id`` when given, with ``user_id``'s estimate bias. 422 for an empty name or
    an unknown printer (``field`` says which)."""
    try:
        prediction = await context.queue.predict(job_name, user_id=user_id, printer_id=printer_id)
    except PrinterNotFound:
        raise QueueInputError("Unknown printer.", field="printer_id") from None
    return PredictionPublic.from_domain(prediction)


@router.get("/history", response_model=QueueHistoryPublic, dependencies=Reader, responses=responses())
async def history(
    context: ContextDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    user_id: Annotated[str | None, Query(max_length=100)] = None,
) -> QueueHistoryPublic:
    """Ended entries (of ``user_id`` when given), latest first, with outcome and actual duration."""
    entries = await context.queue.history(limit=limit, user_id=user_id)
    return QueueHistoryPublic(entries=[QueueEntryPublic.from_domain(e) for e in entries])


# --- admin: the queue and its printers ----------------------------------------------------------------------------


@router.put("/paused", response_model=PausedState, responses=responses())
async def set_paused(body: QueuePause, admin: QueueAdmin, request: Request, context: ContextDep) -> PausedState:
    """Admin: pause the queue (no new offers; open offers and reservations run on) or resume it."""
    await context.queue.set_paused(body.paused, by=admin.user.display_name)
    await audit(request, AuditAction.QUEUE_ADMIN, "queue", command="pause" if body.paused else "resume")
    return PausedState(paused=context.queue.paused)


@router.put("/printers/{printer_id}/hold", response_model=QueuePrinterPublic, responses=responses(404))
async def hold_printer(
    printer_id: str, body: QueueHold, admin: QueueAdmin, request: Request, context: ContextDep
) -> QueuePrinterPublic:
    """Admin: take a printer out of rotation (its open offer is withdrawn, the entry keeps its place; a reservation
    or print on it runs on) or put it back. 404 for an unknown printer."""
    try:
        await context.queue.hold(printer_id, held=body.held, by=admin.user.display_name)
    except PrinterNotFound:
        raise NotFound("No printer has that id.") from None
    await audit(request, AuditAction.QUEUE_ADMIN, f"printer:{printer_id}", command="hold" if body.held else "release")
    slot = next((s for s in context.queue.view().printers if s.id == printer_id), None)
    if slot is None:  # a held printer deleted meanwhile
        raise NotFound("No printer has that id.")
    return QueuePrinterPublic.from_domain(slot)


# --- user commands ------------------------------------------------------------------------------------------------


@router.post(
    "",
    response_model=JoinAnswer,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": JoinAnswer, "description": "The same join was made before (`created` false)."},
        **responses(409, 429),
    },
)
async def join(
    body: QueueJoin, principal: User, request: Request, context: ContextDep, response: Response
) -> JoinAnswer:
    """Put a job at the back of the queue: 201 with the entry (``offered`` at once when a printer is free), its
    position and wait; 200 with ``created`` false for a repeated identical join. 422 for a bad job name, estimate
    (1 minute to the maximum, 72 h by default) or printer id; 409 ``limit_reached``; 429 when rate-limited."""
    user_id, user_name, by = await acting_user(context, principal, body.on_behalf_of, request=request, command="join")
    context.queue.check_rate(user_id)
    result = await context.queue.join(
        user_id=user_id,
        user_name=user_name,
        job_name=body.job_name,
        estimate=estimate_value(body.estimate),
        printer_ids=body.printer_ids,
        by=by,
    )
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return JoinAnswer.from_domain(result)


@router.get("/{entry_id}", response_model=QueueEntryDetail, dependencies=Reader, responses=responses(404))
async def get_entry(entry_id: EntryId, context: ContextDep) -> QueueEntryDetail:
    """One entry, active or ended, with its history records (newest first); 404 when unknown."""
    entry = await context.queue.entry(entry_id)
    records = await context.queue.events(entry_id=entry_id, limit=HISTORY_RECORDS)
    return QueueEntryDetail(
        entry=_public(context.queue, entry),
        history=[QueueHistoryRecordPublic.from_domain(r) for r in records],
    )


@router.post("/{entry_id}/claim", response_model=QueueEntryPublic, responses=responses(403, 404, 409, 429))
async def claim(
    entry_id: EntryId, principal: User, request: Request, context: ContextDep, body: QueueUserCommand | None = None
) -> QueueEntryPublic:
    """The entry's user claims the printer offered to it: reserved, the start window runs (claiming again is
    harmless). 403 ``not_yours``; 409 ``not_offered``, ``offer_expired``, ``ended``; 404 unknown entry."""
    on_behalf_of = body.on_behalf_of if body is not None else None
    user_id, _, by = await acting_user(context, principal, on_behalf_of, request=request, command="claim")
    context.queue.check_rate(user_id)
    return _public(context.queue, await context.queue.claim(user_id=user_id, entry_id=entry_id, by=by))


@router.post("/{entry_id}/cancel", response_model=QueueEntryPublic, responses=responses(403, 404, 409, 429))
async def cancel(
    entry_id: EntryId, principal: User, request: Request, context: ContextDep, body: QueueUserCommand | None = None
) -> QueueEntryPublic:
    """The entry's user leaves the queue or gives up their offer or reservation (the printer goes to the next).
    Cancelling an entry that has ended already is harmless (the entry as it is). 403 ``not_yours``; 409 ``printing``
    (stop the print on the printer); 404 unknown entry."""
    on_behalf_of = body.on_behalf_of if body is not None else None
    user_id, _, by = await acting_user(context, principal, on_behalf_of, request=request, command="cancel")
    context.queue.check_rate(user_id)
    return _public(context.queue, await context.queue.cancel(user_id=user_id, entry_id=entry_id, by=by))


@router.patch("/{entry_id}", response_model=QueueEntryPublic, responses=responses(403, 404, 409, 429))
async def update_estimate(
    entry_id: EntryId, body: QueueEstimateUpdate, principal: User, request: Request, context: ContextDep
) -> QueueEntryPublic:
    """The entry's user changes its estimate; positions stay, waits follow. 422 for an estimate out of range; 403
    ``not_yours``; 409 ``ended``; 404 unknown entry."""
    user_id, _, by = await acting_user(context, principal, body.on_behalf_of, request=request, command="estimate")
    context.queue.check_rate(user_id)
    entry = await context.queue.update_estimate(
        user_id=user_id, estimate=estimate_value(body.estimate), entry_id=entry_id, by=by
    )
    return _public(context.queue, entry)


# --- admin: entries -----------------------------------------------------------------------------------------------


@router.delete("/{entry_id}", response_model=QueueEntryPublic, responses=responses(404, 409))
async def remove(entry_id: EntryId, admin: QueueAdmin, request: Request, context: ContextDep) -> QueueEntryPublic:
    """Admin: end an active entry as ``removed`` (its offer or reservation is released; removing it again is
    harmless). 409 ``ended`` for an entry that ended otherwise; 404 unknown entry."""
    entry = await context.queue.remove(entry_id, by=admin.user.display_name)
    await audit(request, AuditAction.QUEUE_ADMIN, f"queue_entry:{entry_id}", command="remove")
    return QueueEntryPublic.from_domain(entry)


@router.post("/{entry_id}/move", response_model=QueueEntryPublic, responses=responses(404, 409))
async def move(
    entry_id: EntryId, body: QueueMove, admin: QueueAdmin, request: Request, context: ContextDep
) -> QueueEntryPublic:
    """Admin: put a waiting entry at 1-based ``position`` among the waiting entries. 422 for a position out of
    range or an entry that is not active (``field``); 409 ``not_waiting``."""
    entry = await context.queue.move(entry_id, body.position, by=admin.user.display_name)
    await audit(request, AuditAction.QUEUE_ADMIN, f"queue_entry:{entry_id}", command=f"move to {body.position}")
    return _public(context.queue, entry)
