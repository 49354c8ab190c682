"""Web UI: server-rendered Jinja2 pages with htmx (vendored, with its WebSocket extension) and live updates."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from printfleet.services.errors import PermissionDenied


def mount_web(app: FastAPI) -> None:
    """Add the pages (the Queue, Files and account pages among them), the ``/ui`` actions, the ``/ui/ws`` live
    connection and ``/static`` to ``app``, and answer a refused permission on a page with a page (on an htmx
    action with an error toast) rather than JSON."""
    from printfleet.api.app import forbidden_json, wants_page
    from printfleet.web import (
        account_pages,
        costs_page,
        files_page,
        live,
        maintenance_page,
        materials_page,
        notifications_page,
        orders_page,
        printer_page,
        queue_page,
        routes,
        schedule_page,
        statistics_page,
    )
    from printfleet.web.pages import error_toast, html, is_htmx, page, request_locale, translate

    app.include_router(routes.router)
    app.include_router(queue_page.router)
    app.include_router(files_page.router)
    app.include_router(maintenance_page.router)
    app.include_router(costs_page.router)
    app.include_router(statistics_page.router)
    app.include_router(printer_page.router)
    app.include_router(schedule_page.router)
    app.include_router(materials_page.router)
    app.include_router(orders_page.router)
    app.include_router(notifications_page.router)
    app.include_router(account_pages.router)
    app.include_router(live.router)
    app.mount("/static", StaticFiles(directory=str(files("printfleet.web") / "static")), name="static")

    async def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PermissionDenied)
        locale = request_locale(request)
        if request.url.path.startswith("/ui/") and (is_htmx(request) or request.method != "GET"):
            return error_toast(locale, exc.message, status_code=403)
        if not wants_page(request):
            return forbidden_json(exc)
        heading = translate(locale, "Not allowed")
        body_html = page(
            request, locale, "error.html", page_name="", title=heading, heading=heading, message=exc.message
        )
        return html(body_html, status_code=403)

    app.add_exception_handler(PermissionDenied, forbidden)
