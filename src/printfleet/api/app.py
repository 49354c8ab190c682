"""FastAPI application factory: routers, error mapping, health and metrics. OpenAPI at ``/docs`` (served offline,
see :mod:`printfleet.api.docs`)."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse

from printfleet import __version__
from printfleet.api import (
    accounts,
    costs,
    dispatch,
    files,
    jobs,
    maintenance,
    material_slots,
    materials,
    notifications,
    orders,
    printers,
    queue,
    schedule,
    shops,
    statistics,
    ws,
)
from printfleet.api.auth import check_metrics_access, public
from printfleet.api.context import ContextDep
from printfleet.api.docs import mount_docs
from printfleet.api.errors import responses
from printfleet.api.guards import BodyLimit, HostGuard
from printfleet.api.schemas import Health
from printfleet.domain.dispatch.model import DispatchRefused
from printfleet.domain.durations import QueueInputError
from printfleet.domain.materials import InvalidMaterial
from printfleet.domain.printer import PrinterCommandRejected, PrinterNotConnected, PrinterState
from printfleet.domain.queue import QueueRefusal, Refusal
from printfleet.services.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServiceError,
    StoreUnavailable,
)
from printfleet.services.files import FileTooLarge

_STATUS_BY_ERROR: tuple[tuple[type[Exception], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (FileTooLarge, 413),
    (PrinterNotConnected, 409),
    (PrinterCommandRejected, 409),
    (StoreUnavailable, 503),
)


def forbidden_json(exc: PermissionDenied) -> JSONResponse:
    """403 naming the permission the role lacks (``permission``) or the rule (``reason``)."""
    body: dict[str, str] = {"detail": exc.message}
    if exc.permission is not None:
        body["permission"] = exc.permission
    if exc.reason is not None:
        body["reason"] = exc.reason
    return JSONResponse(body, status_code=403)


def wants_page(request: Request) -> bool:
    """A browser navigating to a page: a GET that accepts HTML, outside the API, not from htmx."""
    return (
        request.method == "GET"
        and not request.url.path.startswith("/api/")
        and request.headers.get("hx-request") != "true"
        and "text/html" in request.headers.get("accept", "")
    )


DEFAULT_ALLOWED_HOSTS = frozenset({"localhost", "127.0.0.1"})
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 1024**3


def create_api(
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    *,
    allowed_hosts: frozenset[str] = DEFAULT_ALLOWED_HOSTS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
) -> FastAPI:
    """Build the application. ``lifespan`` (from the composition root) sets ``app.state.context``.

    Requests whose ``Host`` is not in ``allowed_hosts`` (see :func:`printfleet.api.guards.host_allowed`) get 400;
    bodies over ``max_body_bytes`` bytes get 413, except a file upload (``POST /api/v1/files``), which may carry
    a file of ``max_upload_bytes`` (``files.max_size``) and the multipart framing around it.
    """
    app = FastAPI(
        title="printfleet",
        version=__version__,
        description="Self-hosted print-farm manager: live printers, jobs, queue.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    mount_docs(app)

    async def service_error(_request: Request, exc: Exception) -> JSONResponse:
        for error_type, code in _STATUS_BY_ERROR:
            if isinstance(exc, error_type):
                message = exc.message if isinstance(exc, ServiceError) else str(exc)
                return JSONResponse({"detail": message}, status_code=code)
        raise exc  # pragma: no cover - registered only for the types above

    for error_type, _ in _STATUS_BY_ERROR:
        app.add_exception_handler(error_type, service_error)

    async def invalid_request(_request: Request, exc: Exception) -> JSONResponse:
        """422 naming each bad field and why, without echoing the input (it may hold an access code or key)."""
        assert isinstance(exc, RequestValidationError)
        detail = [
            {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type", "")}
            for error in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    app.add_exception_handler(RequestValidationError, invalid_request)

    async def queue_input(_request: Request, exc: Exception) -> JSONResponse:
        """422 with the queue's sentence and the input it concerns (``field``); never the value sent."""
        assert isinstance(exc, QueueInputError)
        return JSONResponse({"detail": exc.message, "field": exc.field}, status_code=422)

    async def queue_refusal(_request: Request, exc: Exception) -> JSONResponse:
        """A queue rule refused: 403 for someone else's entry, else 409; ``reason`` says which rule."""
        assert isinstance(exc, QueueRefusal)
        code = 403 if exc.reason is Refusal.NOT_YOURS else 409
        return JSONResponse({"detail": exc.message, "reason": exc.reason.value}, status_code=code)

    async def rate_limited(_request: Request, exc: Exception) -> JSONResponse:
        """429 with ``Retry-After`` (whole seconds, at least 1)."""
        assert isinstance(exc, RateLimited)
        retry = str(max(1, math.ceil(exc.retry_after)))
        return JSONResponse({"detail": exc.message}, status_code=429, headers={"Retry-After": retry})

    async def unauthenticated(request: Request, exc: Exception) -> Response:
        """401 with the reason; a page asked for by a browser goes to the sign-in page instead, and back after."""
        assert isinstance(exc, AuthenticationFailed)
        if wants_page(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse("/signin?" + urlencode({"next": target}), status_code=303)
        return JSONResponse({"detail": exc.message}, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    async def forbidden(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PermissionDenied)
        return forbidden_json(exc)

    app.add_exception_handler(AuthenticationFailed, unauthenticated)
    app.add_exception_handler(PermissionDenied, forbidden)
    app.add_exception_handler(QueueInputError, queue_input)
    app.add_exception_handler(QueueRefusal, queue_refusal)
    app.add_exception_handler(RateLimited, rate_limited)

    async def dispatch_refused(_request: Request, exc: Exception) -> JSONResponse:
        """409 with ``reason``: a precondition of sending a print refused, and nothing was sent."""
        assert isinstance(exc, DispatchRefused)
        return JSONResponse({"detail": exc.message, "reason": exc.reason.value}, status_code=409)

    app.add_exception_handler(DispatchRefused, dispatch_refused)

    async def invalid_material(_request: Request, exc: Exception) -> JSONResponse:
        """422 with the inventory's sentence and the field it concerns (``field``)."""
        assert isinstance(exc, InvalidMaterial)
        return JSONResponse({"detail": exc.message, "field": exc.field}, status_code=422)

    app.add_exception_handler(InvalidMaterial, invalid_material)

    @app.middleware("http")
    async def server_timing(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """``Server-Timing: app;dur=<ms>`` on every response: the server's own time, as browsers show it."""
        started = time.perf_counter()
        response = await call_next(request)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response

    # Added last, so outermost: a foreign Host or an oversized body never reaches a route.
    app.add_middleware(
        BodyLimit,
        max_bytes=max_body_bytes,
        overrides={("POST", files.UPLOAD_PATH): max_upload_bytes + files.MULTIPART_ALLOWANCE},
    )
    app.add_middleware(HostGuard, allowed_hosts=allowed_hosts)

    app.include_router(accounts.router)
    app.include_router(dispatch.router)  # before printers: /{printer_id}/print is not a printer command
    app.include_router(material_slots.router)  # before printers: /{printer_id}/slots is not a printer command
    app.include_router(printers.router)
    app.include_router(costs.router)  # before jobs: /{job_id}/usage
    app.include_router(statistics.router)
    app.include_router(jobs.router)
    app.include_router(queue.router)
    app.include_router(files.router)
    app.include_router(materials.router)
    app.include_router(notifications.router)
    app.include_router(maintenance.router)
    app.include_router(orders.router)
    app.include_router(shops.router)
    app.include_router(schedule.router)
    app.include_router(ws.router)

    @app.get(
        "/healthz",
        response_model=Health,
        tags=["operations"],
        dependencies=[public()],
        responses={
            **responses(public=True),
            200: {"description": "ok: the store works and every printer connection runs"},
            503: {
                "model": Health,
                "description": "degraded: `reasons` says why (the store failing, printer "
                "states not recorded yet, printer connections restarting)",
            },
        },
    )
    async def healthz(context: ContextDep, response: Response) -> Health:
        """Health: ``ok`` (200) or ``degraded`` (503) with the reasons; how many printers are watched and reachable.
        A printer that is offline because it cannot be reached does not make the server degraded."""
        watched = context.monitoring.watched()
        connected = sum(1 for _, live in watched if live.state is not PrinterState.OFFLINE)
        report = context.health.check()
        if report.status != "ok":
            response.status_code = 503
        return Health(
            status=report.status,
            reasons=list(report.reasons),
            printers=len(watched),
            printers_connected=connected,
            checked_at=datetime.now(UTC),
            roles=context.roles(),
            printers_owned=len(context.monitoring.connected()),
        )

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        dependencies=[public()],
        responses=responses(401, 403, public=True),
    )
    async def metrics(request: Request, context: ContextDep) -> Response:
        """Prometheus exposition: reports, parse errors, reconnects per printer kind; printers connected.

        Without ``metrics.token``: loopback clients only (403 for others). With it: only requests that send
        ``Authorization: Bearer <metrics.token>`` (401 otherwise)."""
        check_metrics_access(request, context.metrics_token)
        body, content_type = context.render_metrics()
        return Response(content=body, media_type=content_type)

    return app
