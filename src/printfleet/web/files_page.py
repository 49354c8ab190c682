"""The Files page (``/files``): the print-file library with upload, search, delete and **Print on…**.

The list is rendered here; the page's script uploads with ``POST /api/v1/files`` (showing the upload's progress),
asks ``GET /api/v1/files/{id}/targets?plate=N`` which printers can take a plate and sends it with
``POST /api/v1/printers/{id}/print``: the browser's session cookie authenticates those API calls, and a same-site
request passes their cross-site check. Dispatch progress arrives as toasts on the live connection (``live.py``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from printfleet.api.auth import audit, requires
from printfleet.api.files import FileId
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.files.library import FileQuery
from printfleet.services.errors import NotFound
from printfleet.web.pages import (
    Context,
    Locale,
    SameSite,
    error_toast,
    fragment,
    html,
    is_htmx,
    page,
    permission_check,
    renderer,
    toast,
    translate,
    wants_fragment,
)

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 100
"""Files listed at once, newest first (search narrows the list)."""

SearchText = Annotated[str, Query(max_length=255)]


async def _results(context: Context, search: str) -> dict[str, Any]:
    files, total = await context.files.list(FileQuery(search=search.strip() or None, limit=PAGE_SIZE))
    return {"files": files, "total": total, "search": search, "page_size": PAGE_SIZE}


@router.get("/files", dependencies=[requires(Permission.FILES_READ)])
async def files_page(request: Request, context: Context, locale: Locale, search: SearchText = "") -> Response:
    """The library, newest first, searched by name; the results part alone for an htmx search."""
    values = await _results(context, search)
    if wants_fragment(request, "file-results"):
        return fragment(renderer().render("_files_results.html", locale, **values, may=permission_check(request)))
    title = translate(locale, "Files")
    body = page(request, locale, "files.html", page_name="files", title=title, **values)
    return html(body)


@router.post("/ui/files/{file_id}/delete", dependencies=[SameSite, requires(Permission.FILES_MANAGE)])
async def delete_file(request: Request, file_id: FileId, context: Context, locale: Locale) -> Response:
    """Remove a file from the library (the page asked for confirmation); the row goes, a toast says so."""
    try:
        removed = await context.files.delete(file_id)
    except NotFound as exc:
        return error_toast(locale, exc.message, status_code=404)
    await audit(request, AuditAction.FILE_DELETED, f"file:{file_id}", name=removed.name)
    if not is_htmx(request):
        return RedirectResponse("/files", status_code=303)
    text = translate(locale, "%(name)s deleted") % {"name": removed.name}
    return html(toast(locale, text, level="success"))
