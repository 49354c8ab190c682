"""WebSocket ``/ws``: a snapshot of every printer on connect, then domain events as they happen.

Each client has its own bounded buffer (an event-bus subscription), so a slow client only loses its own oldest
frames and never delays the others or the printers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, nullcontext
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from printfleet.api.auth import requires
from printfleet.api.context import ApiContext
from printfleet.api.dispatch_schemas import DispatchPublic, PlatePublic
from printfleet.api.job_schemas import JobPublic
from printfleet.api.order_schemas import OrderPublic
from printfleet.api.queue_schemas import queue_event_data
from printfleet.api.schedule_schemas import ScheduledPrintPublic
from printfleet.api.schemas import PrinterPublic
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.domain.events import (
    DispatchUpdated,
    DomainEvent,
    FirstLayerDone,
    JobAutoCreated,
    JobCostRecorded,
    JobUpdated,
    MaintenanceDue,
    MaterialSlotChanged,
    OrderUpdated,
    PlateCleared,
    PrinterErrorRaised,
    PrinterRemoved,
    PrinterStatusUpdated,
    PrinterWentOffline,
    ScheduledPrintUpdated,
    SettingsUpdated,
    ShopNeedsReconnect,
    ShopPollWanted,
)
from printfleet.services.events import EventBus
from printfleet.services.schedule.service import Shown

router = APIRouter()

CLIENT_BUFFER = 500
"""Frames buffered per client before its oldest are dropped (about 2 minutes of a 4-printer farm's telemetry)."""


def event_data(event: DomainEvent) -> dict[str, Any]:
    """The ``data`` of an event's frame."""
    if isinstance(event, PrinterStatusUpdated):
        return PrinterPublic.from_domain(event.printer, event.status).model_dump(mode="json")
    if isinstance(event, PrinterRemoved):
        return {"id": event.printer_id}
    if isinstance(event, JobAutoCreated | JobUpdated | FirstLayerDone):
        return JobPublic.from_domain(event.job).model_dump(mode="json")
    if isinstance(event, SettingsUpdated):
        return dict(event.settings)
    if isinstance(event, DispatchUpdated):
        return DispatchPublic.from_domain(event.dispatch).model_dump(mode="json")
    if isinstance(event, PlateCleared):
        return PlatePublic.from_domain(event.plate).model_dump(mode="json")
    if isinstance(event, MaintenanceDue):
        return {
            "task_id": event.task_id,
            "task_name": event.task_name,
            "printer_id": event.printer_id,
            "used": event.used,
            "interval": event.interval,
            "unit": event.unit,
            "since": event.since.isoformat(),
        }
    if isinstance(event, ScheduledPrintUpdated):
        shown = Shown(scheduled=event.scheduled, status=event.shown_status)
        return ScheduledPrintPublic.from_domain(shown).model_dump(mode="json")
    if isinstance(event, MaterialSlotChanged):
        return event.data()
    if isinstance(event, OrderUpdated):
        return OrderPublic.from_domain(event.order).model_dump(mode="json")
    if isinstance(event, PrinterErrorRaised):
        return {
            "printer_id": event.printer_id,
            "code": event.code,
            "text": event.text,
            "runout": event.runout,
            "occurred_at": event.occurred_at.isoformat(),
        }
    if isinstance(event, ShopNeedsReconnect):
        return {"shop": event.shop, "problem": event.problem, "occurred_at": event.occurred_at.isoformat()}
    if isinstance(event, ShopPollWanted):
        return {"shop": event.shop}
    if isinstance(event, PrinterWentOffline):
        return {
            "printer_id": event.printer_id,
            "since": event.since.isoformat(),
            "reason": event.reason,
            "detail": event.detail,
        }
    if isinstance(event, JobCostRecorded):
        return {
            "job_id": event.job_id,
            "printer_id": event.printer_id,
            "material_grams": event.material_grams,
            "total": event.total,
            "currency": event.currency,
            "spools": list(event.spools),
        }
    return queue_event_data(event)


def event_frame(event: DomainEvent) -> str:
    """Encode a domain event as a frame ``{"type": name, "data": {...}}``: strict JSON, a NaN or ±infinity
    anywhere in it is sent as ``null`` (``JSON.parse`` rejects the bare ``NaN``/``Infinity`` tokens)."""
    frame = {"type": event.name, "data": event_data(event)}
    try:
        return json.dumps(frame, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a non-finite float somewhere: rare, so only then walk the frame
        return json.dumps(json_safe(frame), separators=(",", ":"), allow_nan=False)


def json_safe(value: Any) -> Any:
    """``value`` (JSON-shaped: dicts, lists, scalars) with every NaN and ±infinity float replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def same_origin(websocket: WebSocket) -> bool:
    """Whether a handshake may be accepted: no ``Origin`` (not a browser), or an ``Origin`` whose host and port are
    the ``Host`` the browser connected to. Another site's page (or a sandboxed ``null`` origin) is refused, so no
    website a user visits can read the live stream."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False
    return bool(netloc) and netloc.lower() == websocket.headers.get("host", "").lower()


async def stream(
    websocket: WebSocket,
    bus: EventBus,
    *,
    initial: Callable[[], Awaitable[Iterable[str]]],
    encode: Callable[[DomainEvent], str],
    buffer: int = CLIENT_BUFFER,
    watching: Callable[[], AbstractAsyncContextManager[object]] = nullcontext,
) -> None:
    """Accept ``websocket``, send the ``initial()`` messages, then ``encode(event)`` of every event on ``bus`` (an
    empty message is skipped) until the client goes away. Subscribes before ``initial()`` runs, so nothing that
    happens meanwhile is lost; ``buffer`` events are kept for a slow client before its oldest are dropped; the
    client counts as watching the farm live (``watching()`` is entered before ``initial()`` and left when it goes).
    A handshake from another site's page (:func:`same_origin`) is refused (HTTP 403) and nothing is sent."""
    if not same_origin(websocket):
        await websocket.close(code=1008, reason="cross-site WebSocket refused")
        return
    async with watching():
        await _stream(websocket, bus, initial=initial, encode=encode, buffer=buffer)


async def _stream(
    websocket: WebSocket,
    bus: EventBus,
    *,
    initial: Callable[[], Awaitable[Iterable[str]]],
    encode: Callable[[DomainEvent], str],
    buffer: int,
) -> None:
    subscription = bus.subscribe(maxsize=buffer, remote=True)
    await websocket.accept()
    receiver = asyncio.create_task(_drain(websocket), name="ws-receive")
    try:
        for message in await initial():
            if message:
                await websocket.send_text(message)
        while not receiver.done():
            getter = asyncio.ensure_future(subscription.get())
            done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            message = encode(getter.result())
            if message:
                await websocket.send_text(message)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        subscription.close()
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await receiver


@router.websocket("/ws", dependencies=[requires(Permission.LIVE)])
async def websocket_endpoint(websocket: WebSocket) -> None:
    """Stream events to one client until it goes away: first a ``printer_status_update`` per printer."""
    context: ApiContext = websocket.app.state.context

    async def snapshot() -> list[str]:
        return [
            event_frame(PrinterStatusUpdated(printer=config, status=live))
            for config, live in context.monitoring.watched()
        ]

    principal: Principal = websocket.state.principal
    await stream(
        websocket, context.bus, initial=snapshot, encode=partial(frame_for, principal), watching=context.watching
    )


def may_see(principal: Principal, event: DomainEvent) -> bool:
    """Whether ``principal`` may see ``event``: a job event only when they may read every job or it is their own
    (a member sees the jobs of their own queue prints and of the prints they sent); a dispatch event only when they
    may see every dispatch or asked for it."""
    if isinstance(event, JobAutoCreated | JobUpdated | FirstLayerDone) and not principal.may(Permission.JOBS_READ):
        return event.job.queue_user_id == principal.user.queue_user_id or event.job.requested_by == principal.user.id
    if isinstance(event, ScheduledPrintUpdated) and not principal.may(Permission.SCHEDULE_READ):
        return False
    if isinstance(event, MaterialSlotChanged):
        return principal.may(Permission.MATERIALS_READ)
    if isinstance(event, OrderUpdated | ShopNeedsReconnect | ShopPollWanted):
        return principal.may(Permission.ORDERS_READ)
    if isinstance(event, JobCostRecorded):
        return principal.may(Permission.JOBS_READ)
    if isinstance(event, DispatchUpdated) and not (
        principal.may(Permission.PRINTERS_PRINT) or principal.may(Permission.JOBS_READ)
    ):
        return event.dispatch.requested_by == principal.user.id
    return True


def frame_for(principal: Principal, event: DomainEvent) -> str:
    """The frame of ``event`` for ``principal``, or ``""`` (nothing is sent) when they may not see it."""
    return event_frame(event) if may_see(principal, event) else ""


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, so a close is noticed."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()
