"""Shared plumbing of the web UI's routes: language, the page frame, HTML responses with security headers, toasts.

Every HTML response carries a Content-Security-Policy that allows scripts and styles from printfleet itself only,
so even a name that slipped past escaping could not run script. State-changing requests (``POST /ui/...``) from
another site are refused (``Sec-Fetch-Site`` / ``Origin``), since the UI has no login yet.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from printfleet.api.context import ApiContext, get_context
from printfleet.domain.accounts.roles import Permission
from printfleet.web.i18n import COOKIE, negotiate
from printfleet.web.render import Renderer

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@functools.cache
def renderer() -> Renderer:
    """The process's renderer (templates are parsed once, on first use)."""
    return Renderer()


def request_locale(request: Request) -> str:
    """The UI language of a request (cookie, then Accept-Language, then English)."""
    return negotiate(cookie=request.cookies.get(COOKIE), accept_language=request.headers.get("accept-language"))


def same_site(request: Request) -> None:
    """Refuse a state-changing request sent by another site's page (403)."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise HTTPException(status_code=403, detail="cross-site request refused")
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(status_code=403, detail="cross-site request refused")


Locale = Annotated[str, Depends(request_locale)]
SameSite = Depends(same_site)
Context = Annotated[ApiContext, Depends(get_context)]


HISTORY_HEADERS: Mapping[str, str] = {"Vary": "HX-Request, HX-Target, HX-History-Restore-Request"}
"""A page and its htmx fragment share an address (``/jobs?status=failed``): the cache must keep them apart, or the
browser's Back button shows the bare fragment."""


def form_text(form: Any, name: str, limit: int) -> str:
    """The text field ``name`` of a submitted form, trimmed and cut to ``limit`` characters ("" when absent or a
    file)."""
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def html(body: str, *, status_code: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """An HTML response with the security headers and ``Vary`` on the htmx request headers."""
    return HTMLResponse(
        body, status_code=status_code, headers={**SECURITY_HEADERS, **HISTORY_HEADERS, **(headers or {})}
    )


def fragment(body: str, *, status_code: int = 200) -> HTMLResponse:
    """An htmx fragment answered at a page's own address: never stored by the browser (``no-store``), so going
    back to that address loads the whole page."""
    return html(body, status_code=status_code, headers={"Cache-Control": "no-store"})


def wants_fragment(request: Request, target: str) -> bool:
    """Whether htmx asks for the part of a page with id ``target`` alone; a history restore (htmx found no copy
    of the page for the Back button) always gets the whole page."""
    return (
        is_htmx(request)
        and request.headers.get("hx-target") == target
        and request.headers.get("hx-history-restore-request") != "true"
    )


def live_url(view: str, locale: str, **params: str | int | None) -> str:
    """The ``/ui/ws`` address a page's live connection opens (view, language and the view's filters)."""
    query = {"view": view, "lang": locale, **{k: str(v) for k, v in params.items() if v not in (None, "")}}
    return "/ui/ws?" + urlencode(query)


def permission_check(request: Request) -> Callable[[str], bool]:
    """What templates call as ``may("files.manage")``: whether the signed-in person has that permission."""
    principal = request.scope.get("state", {}).get("principal")
    return lambda permission: principal is not None and principal.may(Permission(permission))


def page(request: Request, locale: str, template: str, *, page_name: str, title: str, **context: Any) -> str:
    """Render a full page in ``template`` with the frame's variables (navigation, language switch, live URL)."""
    context.setdefault("live_url", live_url("toasts", locale))
    principal = request.scope.get("state", {}).get("principal")
    return renderer().render(
        template,
        locale,
        page=page_name,
        title=title,
        me=principal.user if principal is not None else None,
        may=permission_check(request),
        request_path=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        **context,
    )


def toast(locale: str, text: str, *, level: str = "info") -> str:
    """An out-of-band toast fragment (``level``: info, success or error)."""
    return renderer().render("_toast.html", locale, text=text, level=level)


def error_toast(locale: str, message: str, *, status_code: int) -> HTMLResponse:
    """A 4xx answer to an htmx action that shows ``message`` as an error toast and leaves the page as it is."""
    return html(toast(locale, message, level="error"), status_code=status_code, headers={"HX-Reswap": "none"})


def translate(locale: str, message: str) -> str:
    """``message`` (an English message id) in ``locale``; texts built outside templates, such as toasts."""
    return renderer().translate(locale, message)


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (else it is a plain form post or link)."""
    return request.headers.get("hx-request") == "true"


async def printer_names(context: ApiContext) -> dict[str, str]:
    """Printer id → display name, ordered by id."""
    return {config.id: config.name for config, _ in await context.printers.list()}
