"""``/ui/ws``: the web UI's live connection, HTML fragments for htmx's WebSocket extension.

The page opens ``/ui/ws?view=…&lang=…`` (plus the jobs page's filters, a printer page's ``printer_id``, a job
page's ``job_id`` or an order page's ``order_id``). On connect the server sends the current state of the view (every
printer card, the page of job rows, one printer's card and its latest job rows, the Queue page's fragment, or a
job's facts: never its form, so typing is not overwritten; an order's page is told to fetch its section again),
then one message per domain event: a message is a set of top-level elements, each with ``hx-swap-oob`` saying where
it goes (replace a card or a row, add a row at the top, replace the queue fragment, add a toast). The prints a person
sent (``dispatch_updated``) show their progress as toasts on every page that person has open. The Queue page's
fragment is rendered again from the queue's current view after every queue event and every printer state change: the
queue is short, and a whole fragment can never leave the page half updated. The session remembers which cards and
rows the page shows, so an update never targets an element the page lacks and a row is never added twice.

Each client has its own bounded event-bus subscription: a slow browser loses its own oldest events only.
A printer card rendered for one event is shared by every client in the same language.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from datetime import datetime

from fastapi import APIRouter, WebSocket

from printfleet.api.auth import requires
from printfleet.api.context import ApiContext
from printfleet.api.jobs import owner_scope
from printfleet.api.ws import may_see, stream
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.domain.events import (
    ClaimOffered,
    DispatchUpdated,
    DomainEvent,
    JobAutoCreated,
    JobCostRecorded,
    JobUpdated,
    OrderUpdated,
    PrinterRemoved,
    PrinterStatusUpdated,
    QueueEvent,
    ScheduledPrintUpdated,
    SettingsUpdated,
)
from printfleet.domain.jobs import Job, JobFilter, JobStatus
from printfleet.domain.printer import PrinterConfig, PrinterState, PrinterStatus
from printfleet.services.errors import NotFound
from printfleet.web.glance import farm_order
from printfleet.web.i18n import COOKIE, LOCALES, negotiate
from printfleet.web.jobs_view import JobsQuery
from printfleet.web.pages import renderer, toast, translate
from printfleet.web.queue_page import queue_fragment

router = APIRouter()

CLIENT_BUFFER = 500
"""Events buffered per browser before its oldest are dropped."""

VIEWS = ("printers", "printer", "jobs", "job", "settings", "queue", "order", "toasts")


class _CardCache:
    """Printer cards rendered per (event, language, with or without the print controls), shared by all clients;
    holds the newest ``size`` entries."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[int, str, bool], tuple[PrinterStatusUpdated, str]] = OrderedDict()

    def card(self, event: PrinterStatusUpdated, locale: str, *, controls: bool) -> str:
        key = (id(event), locale, controls)
        hit = self._entries.get(key)
        if hit is not None and hit[0] is event:
            return hit[1]
        body = renderer().render(
            "_printer_card.html", locale, printer=event.printer, status=event.status, oob="", controls=controls
        )
        self._entries[key] = (event, body)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return body


_cards = _CardCache()


class LiveSession:
    """What one browser page shows, and the fragments that bring it up to date."""

    def __init__(
        self,
        context: ApiContext,
        *,
        view: str,
        locale: str,
        query: JobsQuery | None,
        owner: str | None = None,
        viewer: Principal | None = None,
        job_id: int | None = None,
        order_id: int | None = None,
    ) -> None:
        """``owner``: the queue user id whose jobs alone this page may show (a member), None for every job;
        ``viewer``: who watches (the Queue page shows their own actions and, to operators, the admin section);
        ``job_id``: the job a job's page shows (view ``job``); ``order_id``: the order an order's page shows (view
        ``order``)."""
        self._context = context
        self._viewer = viewer
        self._controls = viewer is None or viewer.may(Permission.PRINTERS_CONTROL)
        self.view = view
        self.locale = locale
        self._filter: JobFilter | None = query.job_filter() if query is not None else None
        if self._filter is not None and owner is not None:
            self._filter = replace(self._filter, queue_user_id=owner)
        self._names: dict[str, str] = {}
        self._cards: set[str] = set()
        self._rows: set[int] = set()
        self._newest: datetime | None = None
        self._states: dict[str, PrinterState] = {}
        self._job_id = job_id
        self._job: Job | None = None
        self._job_status: PrinterStatus | None = None
        self._order_id = order_id
        self._order_jobs: set[int] = set()
        self.pending: list[str] = []
        """Messages to send after the snapshot (a printer page's card)."""

    async def snapshot(self) -> str:
        """The view's current state (sent first, so nothing that happened since the page was rendered is missed)."""
        rows = await self._context.printers.list()
        self._names = {config.id: config.name for config, _ in rows}
        if self.view == "printers":
            cards = [self._card(config, status) for config, status in farm_order(rows)]
            self._cards = {config.id for config, _ in rows}
            return '<div id="printer-grid" hx-swap-oob="innerHTML">' + "".join(cards) + "</div>"
        if self.view in ("jobs", "printer") and self._filter is not None:
            jobs, _ = await self._context.jobs.list(self._filter)
            self._rows = {job.id for job in jobs}
            self._newest = max((job.created_at for job in jobs), default=None)
            body = "".join(self._row(job) for job in jobs)
            job_rows = f'<tbody id="job-rows" hx-swap-oob="innerHTML">{body}</tbody>'
            if self.view == "jobs":
                return job_rows
            card = next(
                (self._card(config, status) for config, status in rows if config.id == self._filter.printer_id), ""
            )
            # Its own message: htmx parses a message that starts with <tbody> as table rows, and any other as
            # a fragment in which a <tbody> would be dropped.
            self.pending.append(card.replace("<article ", '<article hx-swap-oob="true" ', 1))
            return job_rows
        if self.view == "queue":
            self._states = {config.id: status.state for config, status in rows if status is not None}
            return queue_fragment(self._context.queue, self.locale, viewer=self._viewer, oob=True)
        if self.view == "settings":  # the printers' state badges, as they are now
            self._states = {config.id: status.state for config, status in rows if status is not None}
            return "".join(self._admin_state(config, status) for config, status in rows)
        if self.view == "job" and self._job_id is not None:
            try:
                job = await self._context.jobs.get(self._job_id)
            except NotFound:
                return ""
            if job.deleted or (self._viewer is not None and not may_see(self._viewer, JobUpdated(job=job))):
                return ""
            self._job = job
            self._job_status = next((status for config, status in rows if config.id == job.printer_id), None)
            return self._job_facts()
        if self.view == "order" and self._order_id is not None:
            if self._viewer is not None and not self._viewer.may(Permission.ORDERS_READ):
                self._order_id = None
                return ""
            try:
                view = await self._context.orders.get(self._order_id)
            except NotFound:
                return ""
            self._order_jobs = {s.scheduled.job_id for _, s in view.prints if s is not None and s.scheduled.job_id}
            return self._order_refresh()  # what changed between the page's rendering and this connection
        return ""

    def _order_refresh(self) -> str:
        """A message that has the page fetch its order section again (app.js triggers ``refresh`` on the element
        ``data-refresh`` names): the section needs the store (its plates' prints, their jobs and the order's cost)."""
        return '<div id="live-refresh" hx-swap-oob="true" data-refresh="order-detail" hidden></div>'

    def _order_page(self, event: DomainEvent) -> str:
        """An order's page: its section again when the order, one of its scheduled prints or one of their jobs
        changed (a job's progress included)."""
        if self._order_id is None:
            return ""
        order = str(self._order_id)
        if isinstance(event, ScheduledPrintUpdated) and event.scheduled.order_id == order:
            if event.scheduled.job_id is not None:
                self._order_jobs.add(event.scheduled.job_id)
            return self._order_refresh()
        if isinstance(event, OrderUpdated) and event.order.id == self._order_id:
            return self._order_refresh()
        if isinstance(event, JobUpdated) and event.job.id in self._order_jobs:
            return self._order_refresh()
        if isinstance(event, JobCostRecorded) and event.job_id in self._order_jobs:
            return self._order_refresh()
        if isinstance(event, JobAutoCreated):
            return self._job_toast(event.job)
        return ""

    def _job_facts(self) -> str:
        """The job page's header and facts (never its form), with the printer's live progress while it prints."""
        if self._job is None:
            return ""
        active = self._job.status in (JobStatus.RUNNING, JobStatus.PAUSED)
        return renderer().render(
            "_job_facts.html",
            self.locale,
            job=self._job,
            live=self._job_status if active else None,
            printer_names=self._names,
            oob="true",
        )

    def _job_page(self, event: DomainEvent) -> str:
        """A job's page: its facts again when the job changed, or its printer reported while it prints."""
        job = self._job
        if job is None:
            return ""
        if isinstance(event, JobUpdated) and event.job.id == job.id:
            self._job = event.job
            return "" if event.job.deleted else self._job_facts()
        if isinstance(event, PrinterStatusUpdated) and event.printer.id == job.printer_id:
            self._names[event.printer.id] = event.printer.name
            self._job_status = event.status
            return self._job_facts() if job.status in (JobStatus.RUNNING, JobStatus.PAUSED) else ""
        if isinstance(event, JobCostRecorded) and event.job_id == job.id:  # the page fetches the section again
            return (
                f'<section id="job-usage" hx-swap-oob="true" hx-get="/ui/jobs/{job.id}/usage" hx-trigger="load"'
                ' hx-swap="outerHTML"></section>'
            )
        if isinstance(event, JobAutoCreated):
            return self._job_toast(event.job)
        return ""

    def _card(self, config: PrinterConfig, status: PrinterStatus | None) -> str:
        return renderer().render(
            "_printer_card.html", self.locale, printer=config, status=status, oob="", controls=self._controls
        )

    def _admin_state(self, config: PrinterConfig, status: PrinterStatus | None) -> str:
        """A printer's state badge in the Settings page's printer list (its live state after a save)."""
        return renderer().render("_admin_state.html", self.locale, printer=config, status=status, live=True)

    def _row(self, job: Job, *, oob: str = "") -> str:
        return renderer().render("_job_row.html", self.locale, job=job, printer_names=self._names, oob=oob)

    def fragments(self, event: DomainEvent) -> str:
        """The message for ``event`` ("" when this page shows nothing of it)."""
        if isinstance(event, DispatchUpdated):
            return self._dispatch_toast(event)
        if self.view == "job":
            return self._job_page(event)
        if self.view == "order":
            return self._order_page(event)
        if self.view == "queue":
            if isinstance(event, JobAutoCreated):  # a toast of one's own prints only: never a stack of everyone's
                return self._job_toast(event.job) if self._is_mine(event.job.queue_user_id) else ""
            return self._queue(event)
        if isinstance(event, PrinterStatusUpdated) and self.view == "settings":
            if self._states.get(event.printer.id) is event.status.state:
                return ""  # telemetry: the badge shows the state only
            self._states[event.printer.id] = event.status.state
            return self._admin_state(event.printer, event.status)
        if isinstance(event, PrinterStatusUpdated):
            self._names[event.printer.id] = event.printer.name
            if self.view == "printer" and self._filter is not None and event.printer.id == self._filter.printer_id:
                card = _cards.card(event, self.locale, controls=self._controls)
                return card.replace("<article ", '<article hx-swap-oob="true" ', 1)
            if self.view != "printers":
                return ""
            card = _cards.card(event, self.locale, controls=self._controls)
            if event.printer.id in self._cards:
                return card.replace("<article ", '<article hx-swap-oob="true" ', 1)
            self._cards.add(event.printer.id)
            return f'<div hx-swap-oob="beforeend:#printer-grid">{card}</div>'
        if isinstance(event, PrinterRemoved):
            if self.view == "printers" and event.printer_id in self._cards:
                self._cards.discard(event.printer_id)
                return f'<article id="printer-{event.printer_id}" hx-swap-oob="delete"></article>'
            return ""
        if isinstance(event, JobAutoCreated):
            return self._job_row(event.job) + self._job_toast(event.job)
        if isinstance(event, JobUpdated):
            return self._job_row(event.job)
        if isinstance(event, SettingsUpdated) and self.view == "settings":
            return renderer().render("_auto_create_toggle.html", self.locale, settings=event.settings, oob="true")
        return ""

    def _queue(self, event: DomainEvent) -> str:
        """The Queue page's whole fragment, rendered again from the queue's current view after any queue event, a
        printer's state change (not its telemetry) and a printer's removal; "" for anything else."""
        if isinstance(event, PrinterStatusUpdated):
            self._names[event.printer.id] = event.printer.name
            previous = self._states.get(event.printer.id)
            self._states[event.printer.id] = event.status.state
            if previous is event.status.state:
                return ""
        elif isinstance(event, PrinterRemoved):
            self._states.pop(event.printer_id, None)
        elif not isinstance(event, QueueEvent):  # every queue event re-renders it
            return ""
        fragment = queue_fragment(self._context.queue, self.locale, viewer=self._viewer, oob=True)
        if isinstance(event, ClaimOffered) and self._is_mine(event.entry.user_id):
            # Only the person offered the printer gets the toast; the others see the offer in the list.
            entry = event.entry
            values = {"printer": self._names.get(entry.printer_id or "", entry.printer_id or ""), "job": entry.job_name}
            text = translate(self.locale, "%(printer)s is free for you (%(job)s): claim it now.") % values
            fragment += toast(self.locale, text, level="info")
        return fragment

    def _is_mine(self, queue_user_id: str | None) -> bool:
        """Whether a queue entry or print of ``queue_user_id`` belongs to the person watching."""
        return (
            self._viewer is not None and queue_user_id is not None and queue_user_id == self._viewer.user.queue_user_id
        )

    def _job_row(self, job: Job) -> str:
        if self.view not in ("jobs", "printer") or self._filter is None:
            return ""
        if job.id in self._rows:
            if job.deleted:
                self._rows.discard(job.id)
                return f'<tr id="job-{job.id}" hx-swap-oob="delete"></tr>'
            return self._row(job, oob="true")
        fresh = self._newest is None or job.created_at >= self._newest
        if self._filter.offset == 0 and fresh and self._filter.matches(job):
            self._rows.add(job.id)
            self._newest = job.created_at
            return f'<tbody hx-swap-oob="afterbegin:#job-rows">{self._row(job)}</tbody>'
        return ""

    def _dispatch_toast(self, event: DispatchUpdated) -> str:
        """A print this viewer sent, at its new step: a toast on whichever page they are (each step's toast
        replaces the one before)."""
        dispatch = event.dispatch
        if self._viewer is None or dispatch.requested_by != self._viewer.user.id:
            return ""
        return renderer().render(
            "_dispatch_toast.html",
            self.locale,
            dispatch_id=dispatch.id,
            state=dispatch.state.value,
            file=dispatch.job_name,
            printer=self._names.get(dispatch.printer_id, dispatch.printer_id),
            error=dispatch.error.value if dispatch.error is not None else None,
        )

    def _job_toast(self, job: Job) -> str:
        values = {"job": job.job_name, "printer": self._names.get(job.printer_id, job.printer_id)}
        if job.discovered_on_startup:
            text = translate(self.locale, "⚡ Job discovered — %(job)s on %(printer)s (on startup)") % values
        else:
            text = translate(self.locale, "⚡ Job auto-created — %(job)s on %(printer)s") % values
        return toast(self.locale, text, level="auto")


@router.websocket("/ui/ws", dependencies=[requires(Permission.LIVE)])
async def live(websocket: WebSocket) -> None:
    """Stream a page's updates until the browser leaves it."""
    context: ApiContext = websocket.app.state.context
    params = websocket.query_params
    view = params.get("view", "toasts")
    if view not in VIEWS:
        await websocket.close(code=1008, reason=f"unknown view {view!r}")
        return
    lang = params.get("lang", "")
    locale = (
        lang
        if lang in LOCALES
        else negotiate(cookie=websocket.cookies.get(COOKIE), accept_language=websocket.headers.get("accept-language"))
    )
    query = JobsQuery.parse(params) if view in ("jobs", "printer") else None
    job_id = params.get("job_id", "")
    order_id = params.get("order_id", "")
    principal: Principal = websocket.state.principal
    session = LiveSession(
        context,
        view=view,
        locale=locale,
        query=query,
        owner=owner_scope(principal),
        viewer=principal,
        job_id=int(job_id) if job_id.isdigit() and len(job_id) < 19 else None,
        order_id=int(order_id) if order_id.isdigit() and len(order_id) < 10 else None,
    )

    async def initial() -> list[str]:
        first = await session.snapshot()
        return [first, *session.pending]

    def encode(event: DomainEvent) -> str:
        return session.fragments(event) if may_see(principal, event) else ""

    await stream(
        websocket, context.bus, initial=initial, encode=encode, buffer=CLIENT_BUFFER, watching=context.watching
    )
