"""Web UI: server-rendered Jinja2 pages with htmx (vendored, with its WebSocket extension) and live updates."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles


def mount_web(app: FastAPI) -> None:
    """Add the pages (the Queue page among them), the ``/ui`` actions, the ``/ui/ws`` live connection and
    ``/static`` to ``app``."""
    from printfleet.web import live, queue_page, routes

    app.include_router(routes.router)
    app.include_router(queue_page.router)
    app.include_router(live.router)
    app.mount("/static", StaticFiles(directory=str(files("printfleet.web") / "static")), name="static")
