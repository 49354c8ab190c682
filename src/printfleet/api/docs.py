"""``/docs``: the OpenAPI documentation (Swagger UI) served from printfleet itself, so it works without internet.

FastAPI's own page loads Swagger UI's script and styles from a CDN, which a shop LAN or a Raspberry Pi without
internet cannot reach (a blank page). The same Swagger UI comes here from the ``swagger-ui-bundle`` package
(Apache-2.0), mounted at ``/docs/assets``. ReDoc is not offered: it has no packaged copy.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs/assets"


def mount_docs(app: FastAPI) -> None:
    """Add ``/docs``, its OAuth2 redirect page and ``/docs/assets`` (Swagger UI's files) to ``app``, which must
    have been built with ``docs_url=None``."""
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")
    openapi_url = app.openapi_url or "/openapi.json"

    async def swagger_ui(_request: Request) -> HTMLResponse:
        """The API documentation page (Swagger UI)."""
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} · API",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    async def swagger_ui_redirect(_request: Request) -> HTMLResponse:
        """Swagger UI's OAuth2 redirect page."""
        return get_swagger_ui_oauth2_redirect_html()

    # Plain routes, outside the schema and open like the schema itself (as FastAPI's own /docs).
    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/docs/oauth2-redirect", swagger_ui_redirect, include_in_schema=False)
