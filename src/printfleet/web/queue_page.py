"""The Queue page (``/queue``) and its htmx actions under ``/ui/queue``.

The page shows the shared queue in order (position, user, job, estimate, expected wait, status, the running
deadline as a countdown in the viewer's local time), the printers with their holders, a Join form, Claim and
Cancel buttons per entry, and an admin section (move, remove, hold or release a printer, pause or resume).

Everyone acts as who they are signed in as: the Join form joins the signed-in person, Claim and Cancel show on
their own entries only (``queue.use``), and the admin section shows to and works for ``queue.manage`` only. User
commands count against the user's rate limit, as over REST. Every action answers htmx with the queue
fragment (out of band) and a toast, a plain form post with a redirect back to the page; a refusal is an error toast
with the queue's own sentence, and a 4xx.

The queue fragment is also what the page's live connection (``/ui/ws?view=queue``) sends on every queue event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from printfleet.api.auth import audit, requires
from printfleet.api.queue import EntryId
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.domain.durations import QueueInputError
from printfleet.domain.queue import EntryStatus, QueueEntry, QueueRefusal, Refusal
from printfleet.services.errors import NotFound, RateLimited, ServiceError
from printfleet.services.queue import QueueService
from printfleet.services.queue_views import QueueView
from printfleet.web.pages import (
    Context,
    Locale,
    SameSite,
    error_toast,
    html,
    is_htmx,
    live_url,
    page,
    renderer,
    toast,
    translate,
)

router = APIRouter(include_in_schema=False)

User = Annotated[Principal, requires(Permission.QUEUE_USE)]
Manage = requires(Permission.QUEUE_MANAGE)


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One active entry as the page shows it: ``position`` and ``wait_seconds`` while waiting (None: unknown),
    ``printer_name`` of the printer it holds, ``remaining_seconds`` of its print (printer-reported), and
    ``deadline_seconds`` left of its running window (claim or start) at the time of rendering."""

    entry: QueueEntry
    position: int | None
    wait_seconds: float | None
    printer_name: str | None
    remaining_seconds: int | None
    deadline_seconds: float | None


def queue_rows(view: QueueView) -> list[QueueRow]:
    """The view's active entries, first in line first, with what the page shows of each."""
    slots = {slot.id: slot for slot in view.printers}
    rows = []
    for entry in view.entries:
        eta = view.etas.get(entry.id)
        slot = slots.get(entry.printer_id) if entry.printer_id else None
        rows.append(
            QueueRow(
                entry=entry,
                position=eta.position if eta else None,
                wait_seconds=eta.wait.total_seconds() if eta and eta.wait is not None else None,
                printer_name=slot.name if slot else entry.printer_id,
                remaining_seconds=slot.remaining_seconds if slot and entry.status is EntryStatus.PRINTING else None,
                deadline_seconds=_left(entry.deadline, view.now),
            )
        )
    return rows


def _left(deadline: datetime | None, now: datetime) -> float | None:
    return None if deadline is None else max(0.0, (deadline - now).total_seconds())


def queue_fragment(queue: QueueService, locale: str, *, viewer: Principal | None, oob: bool = False) -> str:
    """The live part of the page (``<div id="queue-live">``: entries, printers, admin) as ``viewer`` sees it (their
    own entries with Claim and Cancel; the admin section with ``queue.manage``), rendered from the service's current
    view; ``oob`` marks it to replace the page's copy (htmx out-of-band swap)."""
    view = queue.view()
    return renderer().render(
        "_queue_live.html",
        locale,
        view=view,
        rows=queue_rows(view),
        oob="true" if oob else "",
        viewer_id=viewer.user.queue_user_id if viewer is not None else None,
        manage=viewer is not None and viewer.may(Permission.QUEUE_MANAGE),
    )


def _join_form(queue: QueueService, locale: str, *, user_name: str = "", oob: bool = False) -> str:
    printers = [(slot.id, slot.name) for slot in queue.view().printers]
    return renderer().render(
        "_queue_join.html", locale, printers=printers, user_name=user_name, oob="true" if oob else ""
    )


@router.get("/queue")
async def queue_page(
    request: Request, principal: Annotated[Principal, requires(Permission.QUEUE_READ)], context: Context, locale: Locale
) -> Response:
    """The shared queue, the printers, the Join form and the admin section, kept up to date live."""
    view = context.queue.view()
    body = page(
        request,
        locale,
        "queue.html",
        page_name="queue",
        title=translate(locale, "Queue"),
        view=view,
        rows=queue_rows(view),
        printers=[(slot.id, slot.name) for slot in view.printers],
        user_name=principal.user.display_name,
        oob="",
        viewer_id=principal.user.queue_user_id,
        manage=principal.may(Permission.QUEUE_MANAGE),
        may_join=principal.may(Permission.QUEUE_USE),
        live_url=live_url("queue", locale),
    )
    return html(body)


def _refused(locale: str, headline: str, exc: Exception) -> Response:
    """The error toast of a refused action: ``headline`` (a translated ``… %(reason)s`` message) with the queue's
    sentence, and the HTTP status the REST API gives the same error."""
    if isinstance(exc, QueueInputError):
        message, code = exc.message, 422
    elif isinstance(exc, QueueRefusal):
        message, code = exc.message, 403 if exc.reason is Refusal.NOT_YOURS else 409
    elif isinstance(exc, RateLimited):
        message, code = exc.message, 429
    elif isinstance(exc, NotFound):
        message, code = exc.message, 404
    else:
        assert isinstance(exc, ServiceError)
        message, code = exc.message, 409
    return error_toast(locale, headline % {"reason": message}, status_code=code)


QUEUE_ERRORS = (QueueInputError, QueueRefusal, ServiceError)
"""What a queue action may be refused with (ServiceError covers not found, rate limits and store conflicts)."""


def _done(request: Request, context: Context, locale: str, text: str, *extra: str) -> Response:
    """The answer to an action that went through: the queue fragment and a success toast (htmx), else back to
    the page."""
    if not is_htmx(request):
        return RedirectResponse("/queue", status_code=303)
    viewer: Principal | None = request.state.principal
    fragment = queue_fragment(context.queue, locale, viewer=viewer, oob=True)
    parts = [fragment, *extra, toast(locale, text, level="success")]
    return html("".join(parts))


def _form_text(value: object) -> str:
    return value if isinstance(value, str) else ""


@router.post("/ui/queue/join", dependencies=[SameSite])
async def join(request: Request, principal: User, context: Context, locale: Locale) -> Response:
    """Join the queue as the signed-in person with the form's job name, estimate and printers (none ticked: any
    printer)."""
    form = await request.form()
    user_id, user_name = principal.user.queue_user_id, principal.user.display_name
    try:
        context.queue.check_rate(user_id)
        result = await context.queue.join(
            user_id=user_id,
            user_name=user_name,
            job_name=_form_text(form.get("job_name")),
            estimate=_form_text(form.get("estimate")),
            printer_ids=[_form_text(p) for p in form.getlist("printer_ids")],
        )
    except QUEUE_ERRORS as exc:
        return _refused(locale, translate(locale, "Not joined: %(reason)s"), exc)
    entry = result.entry
    values = {"job": entry.job_name, "id": entry.id}
    if not result.created:
        text = translate(locale, "%(job)s is in the queue already (#%(id)s).") % values
    elif entry.status is EntryStatus.OFFERED:
        text = translate(locale, "%(job)s joined (#%(id)s): a printer is free for you, claim it now.") % values
    else:
        text = translate(locale, "%(job)s joined the queue (#%(id)s).") % values
    fresh_form = _join_form(context.queue, locale, user_name=user_name, oob=True)
    return _done(request, context, locale, text, fresh_form)


async def _user_command(
    request: Request, principal: Principal, context: Context, locale: str, entry_id: int, command: str
) -> Response:
    user_id = principal.user.queue_user_id
    headlines = {
        "claim": translate(locale, "Not claimed: %(reason)s"),
        "cancel": translate(locale, "Not cancelled: %(reason)s"),
    }
    was_active = any(e.id == entry_id for e in context.queue.view().entries)
    try:
        context.queue.check_rate(user_id)
        if command == "claim":
            entry = await context.queue.claim(user_id=user_id, entry_id=entry_id)
        else:
            entry = await context.queue.cancel(user_id=user_id, entry_id=entry_id)
    except QUEUE_ERRORS as exc:
        return _refused(locale, headlines[command], exc)
    values = {"job": entry.job_name, "printer": entry.printer_id or ""}
    if command == "claim":
        slot = next((s for s in context.queue.view().printers if s.id == entry.printer_id), None)
        values["printer"] = slot.name if slot else values["printer"]
        text = translate(locale, "%(printer)s is reserved for %(job)s: start the print on it now.") % values
    elif was_active:
        text = translate(locale, "%(job)s left the queue.") % values
    else:  # it had ended already: a repeated cancel is harmless
        text = translate(locale, "%(job)s is not in the queue any more.") % values
    return _done(request, context, locale, text)


@router.post("/ui/queue/{entry_id}/claim", dependencies=[SameSite])
async def claim(request: Request, entry_id: EntryId, principal: User, context: Context, locale: Locale) -> Response:
    """Claim the printer offered to one's own entry."""
    return await _user_command(request, principal, context, locale, entry_id, "claim")


@router.post("/ui/queue/{entry_id}/cancel", dependencies=[SameSite])
async def cancel(request: Request, entry_id: EntryId, principal: User, context: Context, locale: Locale) -> Response:
    """Take one's own entry out of the queue (or give up its offer or reservation)."""
    return await _user_command(request, principal, context, locale, entry_id, "cancel")


# --- admin ------------------------------------------------------------------------------------------------------


def _operator(request: Request) -> str:
    """The display name of who sends an admin action (checked by its ``queue.manage`` dependency)."""
    principal: Principal = request.state.principal
    return principal.user.display_name


def _admin_refused(locale: str) -> str:
    return translate(locale, "Not changed: %(reason)s")


@router.post("/ui/queue/{entry_id}/remove", dependencies=[SameSite, Manage])
async def remove(request: Request, entry_id: EntryId, context: Context, locale: Locale) -> Response:
    """Admin: remove an entry from the queue (the page asked for confirmation)."""
    try:
        entry = await context.queue.remove(entry_id, by=_operator(request))
    except QUEUE_ERRORS as exc:
        return _refused(locale, _admin_refused(locale), exc)
    await audit(request, AuditAction.QUEUE_ADMIN, f"queue_entry:{entry_id}", command="remove")
    text = translate(locale, "%(job)s was removed from the queue.") % {"job": entry.job_name}
    return _done(request, context, locale, text)


@router.post("/ui/queue/{entry_id}/move", dependencies=[SameSite, Manage])
async def move(request: Request, entry_id: EntryId, context: Context, locale: Locale) -> Response:
    """Admin: put a waiting entry at the posted 1-based ``position`` among the waiting entries."""
    form = await request.form()
    try:
        try:
            position = int(_form_text(form.get("position")))
        except ValueError:
            raise QueueInputError(translate(locale, "Give a position."), field="position") from None
        entry = await context.queue.move(entry_id, position, by=_operator(request))
    except QUEUE_ERRORS as exc:
        return _refused(locale, _admin_refused(locale), exc)
    await audit(request, AuditAction.QUEUE_ADMIN, f"queue_entry:{entry_id}", command=f"move to {position}")
    text = translate(locale, "%(job)s moved to position %(position)s.") % {"job": entry.job_name, "position": position}
    return _done(request, context, locale, text)


@router.post("/ui/queue/printers/{printer_id}/hold", dependencies=[SameSite, Manage])
async def hold(request: Request, printer_id: str, context: Context, locale: Locale) -> Response:
    """Admin: hold a printer out of rotation (``held=1``) or put it back (``held=0``)."""
    form = await request.form()
    held = form.get("held") == "1"
    try:
        await context.queue.hold(printer_id, held=held, by=_operator(request))
    except QUEUE_ERRORS as exc:
        return _refused(locale, _admin_refused(locale), exc)
    await audit(request, AuditAction.QUEUE_ADMIN, f"printer:{printer_id}", command="hold" if held else "release")
    name = next((s.name for s in context.queue.view().printers if s.id == printer_id), printer_id)
    if held:
        text = translate(locale, "%(printer)s is held out of the queue.") % {"printer": name}
    else:
        text = translate(locale, "%(printer)s is back in the queue.") % {"printer": name}
    return _done(request, context, locale, text)


@router.post("/ui/queue/paused", dependencies=[SameSite, Manage])
async def pause(request: Request, context: Context, locale: Locale) -> Response:
    """Admin: pause the queue (``paused=1``: no new offers) or resume it (``paused=0``)."""
    form = await request.form()
    paused = form.get("paused") == "1"
    await context.queue.set_paused(paused, by=_operator(request))
    await audit(request, AuditAction.QUEUE_ADMIN, "queue", command="pause" if paused else "resume")
    if paused:
        text = translate(locale, "The queue is paused: no printer is offered until it is resumed.")
    else:
        text = translate(locale, "The queue runs again.")
    return _done(request, context, locale, text)
