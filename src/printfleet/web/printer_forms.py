"""The Settings page's printer forms: add, edit, remove and test a printer connection.

The forms post plain text fields. They are checked with the REST API's own schemas (``PrinterCreate`` /
``PrinterUpdate``), so the web and the API accept exactly the same values. Secrets are write-only: the page shows
only whether one is set; an empty secret field keeps the stored value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from printfleet.api.auth import audit, requires
from printfleet.api.context import ApiContext
from printfleet.api.schemas import PrinterCreate, PrinterUpdate
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.printer_ids import printer_id_from_name
from printfleet.security.certificates import MAX_CA_BYTES, NotACertificate, save_ca_certificate
from printfleet.services.errors import Conflict, InvalidInput, NotFound, ServiceError
from printfleet.web.pages import Context, Locale, SameSite, error_toast, html, is_htmx, renderer, toast, translate
from printfleet.web.printer_form_words import requirement_sentences, validation_sentences

TEXT_FIELDS = ("name", "host", "serial", "ca_file", "username", "url")
NUMBER_FIELDS = ("port", "poll_interval")
SECRET_FIELDS = ("access_code", "password", "api_key")
TEST_TIMEOUT_S = 8.0
"""How long a connection test waits for the printer's first answer, seconds."""


def _form_fields(form: FormData, *, creating: bool) -> dict[str, Any]:
    """The form as schema input. Creating: empty fields are left out. Editing: an emptied text or number field is
    cleared (the port then is the kind's usual one, the poll interval the global setting); an empty secret keeps
    its value."""
    fields: dict[str, Any] = {}
    if creating:
        fields["id"] = str(form.get("id") or "").strip()
        fields["type"] = str(form.get("type") or "")
    for name in TEXT_FIELDS:
        value = str(form.get(name) or "").strip()
        if value:
            fields[name] = value
        elif not creating and name != "name":
            fields[name] = None
    for name in NUMBER_FIELDS:
        value = str(form.get(name) or "").strip().replace(",", ".")
        if value:
            fields[name] = value
        elif not creating:
            fields[name] = None  # emptied: the kind's usual port, the global poll interval
    for name in SECRET_FIELDS:
        value = str(form.get(name) or "").strip()
        if value:
            fields[name] = value
    tags = str(form.get("tags") or "").strip()
    if tags or not creating:
        fields["tags"] = [tag for tag in tags.split(",") if tag.strip()]  # emptied: no tags
    fields["tls_insecure"] = form.get("tls_insecure") == "1"
    fields["auto_create_jobs"] = {"on": True, "off": False}.get(str(form.get("auto_create_jobs") or ""))
    if form.get("queue_mode"):
        fields["queue_mode"] = str(form.get("queue_mode"))
    if "tags" in form:
        fields["tags"] = [tag.strip() for tag in str(form.get("tags") or "").split(",") if tag.strip()]
    return fields


def _service_sentences(locale: str, exc: ServiceError) -> list[str]:
    """A service refusal in the page's words: a printer kind's ``field: message; …`` requirements as sentences, an
    id in use as such, anything else as the service said it."""
    if isinstance(exc, Conflict):
        return [translate(locale, "ID: a printer with this ID exists already; choose another.")]
    if isinstance(exc, InvalidInput):
        pairs = [part.partition(": ") for part in exc.message.split("; ")]
        if all(sep for _, sep, _ in pairs):
            return requirement_sentences(locale, [(field, message) for field, _, message in pairs])
    return [exc.message]


async def printers_admin(
    context: ApiContext, *, open_id: str | None = None, values: dict[str, Any] | None = None, errors: Sequence[str] = ()
) -> dict[str, Any]:
    """Template variables of the printers section (``open_id``: the form to show open, with ``values`` typed and
    ``errors`` to show)."""
    return {
        "printers": await context.printers.list(),
        "open_id": open_id,
        "values": values or {},
        "errors": list(errors),
    }


async def _admin_response(
    context: ApiContext, locale: str, *, note: str = "", status_code: int = 200, **state: Any
) -> Response:
    body = renderer().render("_printers_admin.html", locale, **await printers_admin(context, **state))
    if note:
        body += toast(locale, note, level="success")
    return html(body, status_code=status_code)


def _typed(form: FormData, fields: dict[str, Any] | None = None) -> dict[str, str]:
    """What the user typed, to put back into a refused form (never the secrets, nor a file; the path of a CA
    certificate stored from an upload is kept in ``ca_file``)."""
    typed = {key: str(value) for key, value in form.items() if key not in SECRET_FIELDS and isinstance(value, str)}
    if fields and fields.get("ca_file"):
        typed["ca_file"] = str(fields["ca_file"])
    return typed


async def _take_ca_upload(form: FormData, context: ApiContext, printer_id: str, fields: dict[str, Any]) -> str | None:
    """Store a CA certificate uploaded with the form (``ca_upload``) and make it the printer's ``ca_file``; the
    reason in English when the file is refused (not a PEM certificate, too large), else None."""
    upload = form.get("ca_upload")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    data = await upload.read(MAX_CA_BYTES + 1)
    try:
        path = save_ca_certificate(context.certificates, printer_id or "printer", data)
    except NotACertificate as refused:
        return str(refused)
    fields["ca_file"] = str(path)
    return None


async def _ca_problem(
    form: FormData, context: ApiContext, locale: str, printer_id: str, fields: dict[str, Any]
) -> str | None:
    """Take a CA certificate uploaded with the form (:func:`_take_ca_upload`); the sentence saying why it was
    refused, in the page's language, or None."""
    refused = await _take_ca_upload(form, context, printer_id, fields)
    return None if refused is None else _ca_sentence(locale, refused)


def _ca_sentence(locale: str, reason: str) -> str:
    reasons = {
        "too large": translate(locale, "larger than 64 KB"),
        "no PEM certificate in it": translate(locale, "no PEM certificate in it"),
        "the PEM certificate cannot be read": translate(locale, "the PEM certificate cannot be read"),
    }
    return translate(locale, "CA certificate: the uploaded file was not taken (%(reason)s); upload the PEM file.") % {
        "reason": reasons.get(reason, reason)
    }


Manage = requires(Permission.PRINTERS_MANAGE)


def register_printer_routes(router: APIRouter) -> None:
    """Add the printer form routes to the web router (each needs ``printers.manage``)."""

    @router.post("/ui/printers", dependencies=[SameSite, Manage])
    async def add_printer(request: Request, context: Context, locale: Locale) -> Response:
        """Add a printer; 422 with the form and its problems when a value is missing or wrong."""
        form = await request.form()
        fields = _form_fields(form, creating=True)
        if not fields["id"] and fields.get("name"):  # the id is made from the name
            taken = {config.id for config, _ in await context.printers.list()}
            fields["id"] = printer_id_from_name(str(fields["name"]), taken)
        if (problem := await _ca_problem(form, context, locale, str(fields["id"]), fields)) is not None:
            return await _admin_response(
                context, locale, status_code=422, open_id="new", values=_typed(form), errors=[problem]
            )
        try:
            if not fields["id"]:
                raise InvalidInput("name: must not be empty")
            config = PrinterCreate.model_validate(fields).to_domain()
            await context.printers.add(config)
            await audit(request, AuditAction.PRINTER_ADDED, f"printer:{config.id}", kind=config.kind.value)
        except ValidationError as exc:
            return await _admin_response(
                context,
                locale,
                status_code=422,
                open_id="new",
                values=_typed(form, fields),
                errors=validation_sentences(locale, exc),
            )
        except ServiceError as exc:
            return await _admin_response(
                context,
                locale,
                status_code=exc_status(exc),
                open_id="new",
                values=_typed(form, fields),
                errors=_service_sentences(locale, exc),
            )
        if not is_htmx(request):
            return RedirectResponse("/settings#printers", status_code=303)
        return await _admin_response(context, locale, note=translate(locale, "Printer added"))

    @router.post("/ui/printers/test", dependencies=[SameSite, Manage])
    async def test_new_printer(request: Request, context: Context, locale: Locale) -> Response:
        """Try the add form's values once, without saving them."""
        form = await request.form()
        fields = _form_fields(form, creating=True)
        fields["id"] = fields.get("id") or "connection-test"
        try:
            config = PrinterCreate.model_validate(fields).to_domain()
            result = await context.printers.test_connection(config, timeout=TEST_TIMEOUT_S)
        except ValidationError as exc:
            text = " ".join(validation_sentences(locale, exc))
            return html(renderer().render("_text.html", locale, text=text), status_code=422)
        except ServiceError as exc:
            text = " ".join(_service_sentences(locale, exc))
            return html(renderer().render("_text.html", locale, text=text), status_code=exc_status(exc))
        return html(renderer().render("_test_result.html", locale, result=result))

    @router.post("/ui/printers/{printer_id}/test", dependencies=[SameSite, Manage])
    async def test_printer(request: Request, printer_id: str, context: Context, locale: Locale) -> Response:
        """Try a printer's stored settings with the edit form's changes (empty secrets keep the stored ones)."""
        form = await request.form()
        fields = _form_fields(form, creating=False)
        if (problem := await _ca_problem(form, context, locale, printer_id, fields)) is not None:
            return html(renderer().render("_text.html", locale, text=problem), status_code=422)
        try:
            changes = PrinterUpdate.model_validate(fields).changes()
            result = await context.printers.test_existing(printer_id, changes, timeout=TEST_TIMEOUT_S)
        except ValidationError as exc:
            text = " ".join(validation_sentences(locale, exc))
            return html(renderer().render("_text.html", locale, text=text), status_code=422)
        except ServiceError as exc:
            text = " ".join(_service_sentences(locale, exc))
            return html(renderer().render("_text.html", locale, text=text), status_code=exc_status(exc))
        return html(renderer().render("_test_result.html", locale, result=result))

    @router.post("/ui/printers/{printer_id}", dependencies=[SameSite, Manage])
    async def edit_printer(request: Request, printer_id: str, context: Context, locale: Locale) -> Response:
        """Save a printer's edit form and reconnect."""
        form = await request.form()
        fields = _form_fields(form, creating=False)
        if (problem := await _ca_problem(form, context, locale, printer_id, fields)) is not None:
            return await _admin_response(
                context, locale, status_code=422, open_id=printer_id, values=_typed(form), errors=[problem]
            )
        try:
            changes = PrinterUpdate.model_validate(fields).changes()
            await context.printers.update(printer_id, changes)
            await audit(request, AuditAction.PRINTER_UPDATED, f"printer:{printer_id}", fields=sorted(changes))
        except ValidationError as exc:
            return await _admin_response(
                context,
                locale,
                status_code=422,
                open_id=printer_id,
                values=_typed(form, fields),
                errors=validation_sentences(locale, exc),
            )
        except ServiceError as exc:
            return await _admin_response(
                context,
                locale,
                status_code=exc_status(exc),
                open_id=printer_id,
                values=_typed(form, fields),
                errors=_service_sentences(locale, exc),
            )
        if not is_htmx(request):
            return RedirectResponse("/settings#printers", status_code=303)
        return await _admin_response(context, locale, note=translate(locale, "Printer saved"))

    @router.post("/ui/printers/{printer_id}/delete", dependencies=[SameSite, Manage])
    async def remove_printer(request: Request, printer_id: str, context: Context, locale: Locale) -> Response:
        """Remove a printer (the page asked for confirmation); its jobs stay."""
        try:
            await context.printers.delete(printer_id)
            await audit(request, AuditAction.PRINTER_REMOVED, f"printer:{printer_id}")
        except NotFound as exc:
            return error_toast(locale, exc.message, status_code=404)
        if not is_htmx(request):
            return RedirectResponse("/settings#printers", status_code=303)
        return await _admin_response(context, locale, note=translate(locale, "Printer removed"))


def exc_status(exc: ServiceError) -> int:
    """The HTTP status of a service error (404 not found, 409 conflict, 422 otherwise)."""
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    return 422
