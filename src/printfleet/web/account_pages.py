"""Pages of accounts: sign-in, first-run set-up, profile (display name, password, tokens, Discord link) and, for
admins, users (add, role, disable, reset password).

Plain HTML forms that work without script; htmx only improves them. Every post passes the same checks as the REST
API (:class:`~printfleet.api.auth.Requires`), including the cross-site check for cookie-authenticated posts; the
sign-in and set-up posts, made before there is a session, check the site themselves.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from printfleet.api.account_schemas import UserPublic
from printfleet.api.accounts import TokenId, UserId, set_session_cookie
from printfleet.api.auth import SESSION_COOKIE, client_address, public, requires
from printfleet.domain.accounts.audit import AuditAction, AuditFilter
from printfleet.domain.accounts.roles import Permission, parse_role
from printfleet.domain.accounts.users import Principal
from printfleet.services.errors import AuthenticationFailed, PermissionDenied, RateLimited, ServiceError
from printfleet.web.pages import Context, Locale, SameSite, html, page, translate

router = APIRouter(include_in_schema=False)

Profile = Annotated[Principal, requires(Permission.PROFILE)]
Admin = Annotated[Principal, requires(Permission.USERS_MANAGE)]


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never another host, never ``//host``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def _field(form: Any, name: str, limit: int = 1024) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


@router.get("/signin", dependencies=[public()])
async def sign_in_page(request: Request, locale: Locale, next: str = "/") -> Response:
    """The sign-in form."""
    return html(_sign_in(request, locale, next_url=safe_next(next)))


def _form_page(request: Request, locale: str, name: str, title: str, **values: Any) -> str:
    """A page of a form used before signing in (``signin``, ``setup``): no live connection."""
    return page(
        request, locale, f"{name}.html", page_name=name, title=translate(locale, title), live_url=None, **values
    )


def _sign_in(request: Request, locale: str, *, next_url: str, error: str | None = None, username: str = "") -> str:
    return _form_page(request, locale, "signin", "Sign in", next_url=next_url, error=error, username=username)


@router.post("/signin", dependencies=[public(), SameSite])
async def sign_in(request: Request, context: Context, locale: Locale) -> Response:
    """Check the form's username and password; on success set the session cookie and go to ``next``."""
    form = await request.form()
    username, password = _field(form, "username", 64), _field(form, "password")
    next_url = safe_next(_field(form, "next", 2000))
    try:
        signed_in = await context.accounts.sign_in(username, password, client=client_address(request))
    except RateLimited as exc:
        message = translate(locale, "Too many failed sign-ins; try again in %(seconds)s s.") % {
            "seconds": max(1, round(exc.retry_after))
        }
        body = _sign_in(request, locale, next_url=next_url, error=message, username=username)
        return html(body, status_code=429, headers={"Retry-After": str(max(1, round(exc.retry_after)))})
    except AuthenticationFailed as exc:
        message = translate(locale, "Wrong username or password.")
        if "disabled" in exc.message:
            message = translate(locale, "This account is disabled.")
        return html(_sign_in(request, locale, next_url=next_url, error=message, username=username), status_code=401)
    response = RedirectResponse(next_url, status_code=303)
    set_session_cookie(response, request, context, signed_in.session_id)
    return response


@router.post("/signout")
async def sign_out(request: Request, principal: Profile, context: Context) -> Response:
    """End this session and go to the sign-in page."""
    await context.accounts.sign_out(principal, client=client_address(request))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- first run ----------------------------------------------------------------------------------------------------


@router.get("/setup", dependencies=[public()])
async def setup_page(request: Request, context: Context, locale: Locale, token: str = "") -> Response:
    """Create the first admin with the one-time token printed by ``printfleet serve``."""
    if not await context.accounts.setup_token_valid(token[:128]):
        return _setup_refused(request, locale)
    return html(_setup(request, locale, token=token))


def _setup(request: Request, locale: str, *, token: str, error: str | None = None, username: str = "") -> str:
    return _form_page(request, locale, "setup", "Set up printfleet", token=token, error=error, username=username)


def _setup_refused(request: Request, locale: str) -> Response:
    body = page(
        request,
        locale,
        "error.html",
        page_name="error",
        title=translate(locale, "Set up printfleet"),
        heading=translate(locale, "This set-up link is not valid"),
        message=translate(
            locale, "It was used, is older than one hour, or an account exists already. Sign in instead."
        ),
        live_url=None,
    )
    return html(body, status_code=403)


@router.post("/setup", dependencies=[public(), SameSite])
async def setup(request: Request, context: Context, locale: Locale) -> Response:
    """Create the first admin and sign them in."""
    form = await request.form()
    token, username = _field(form, "token", 128), _field(form, "username", 64)
    password = _field(form, "password")
    if password != _field(form, "password_repeat"):
        error = translate(locale, "The two passwords differ.")
        return html(_setup(request, locale, token=token, error=error, username=username), status_code=422)
    try:
        await context.accounts.complete_setup(
            token, username=username, password=password, display_name=None, client=client_address(request)
        )
        signed_in = await context.accounts.sign_in(username, password, client=client_address(request))
    except PermissionDenied:
        return _setup_refused(request, locale)
    except ServiceError as exc:
        return html(_setup(request, locale, token=token, error=exc.message, username=username), status_code=422)
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, request, context, signed_in.session_id)
    return response


# --- profile ------------------------------------------------------------------------------------------------------


async def _profile(
    request: Request,
    principal: Principal,
    context: Any,
    locale: str,
    *,
    note: str | None = None,
    error: str | None = None,
    new_token: str | None = None,
    link_code: str | None = None,
    status_code: int = 200,
) -> Response:
    tokens = await context.accounts.list_tokens(principal.user.id)
    user = await context.accounts.get_user(principal.user.id)
    body = page(
        request,
        locale,
        "profile.html",
        page_name="profile",
        title=translate(locale, "Profile"),
        profile=UserPublic.from_domain(user),
        tokens=tokens,
        note=note,
        error=error,
        new_token=new_token,
        link_code=link_code,
    )
    return html(body, status_code=status_code)


@router.get("/profile")
async def profile_page(request: Request, principal: Profile, context: Context, locale: Locale) -> Response:
    """One's own account: display name, password, personal API tokens, Discord link."""
    return await _profile(request, principal, context, locale)


@router.post("/ui/profile")
async def update_profile(request: Request, principal: Profile, context: Context, locale: Locale) -> Response:
    """Save the display name and email."""
    form = await request.form()
    try:
        await context.accounts.update_profile(
            principal.user.id,
            display_name=_field(form, "display_name", 200),
            email=_field(form, "email", 300),
            actor=principal,
            client=client_address(request),
        )
    except ServiceError as exc:
        return await _profile(request, principal, context, locale, error=exc.message, status_code=422)
    return await _profile(request, principal, context, locale, note=translate(locale, "Saved"))


@router.post("/ui/profile/password")
async def change_password(request: Request, principal: Profile, context: Context, locale: Locale) -> Response:
    """Change one's password; other sessions end."""
    form = await request.form()
    new = _field(form, "new_password")
    if new != _field(form, "new_password_repeat"):
        error = translate(locale, "The two passwords differ.")
        return await _profile(request, principal, context, locale, error=error, status_code=422)
    try:
        await context.accounts.change_password(
            principal, current=_field(form, "current_password"), new=new, client=client_address(request)
        )
    except AuthenticationFailed:
        error = translate(locale, "The current password is wrong.")
        return await _profile(request, principal, context, locale, error=error, status_code=422)
    except ServiceError as exc:
        return await _profile(request, principal, context, locale, error=exc.message, status_code=422)
    note = translate(locale, "Password changed; your other sessions were signed out.")
    return await _profile(request, principal, context, locale, note=note)


@router.post("/ui/profile/tokens")
async def create_token(request: Request, principal: Profile, context: Context, locale: Locale) -> Response:
    """Create a personal API token and show it once."""
    form = await request.form()
    try:
        value, _ = await context.accounts.create_token(
            principal.user.id, name=_field(form, "name", 200), actor=principal, client=client_address(request)
        )
    except ServiceError as exc:
        return await _profile(request, principal, context, locale, error=exc.message, status_code=422)
    return await _profile(request, principal, context, locale, new_token=value)


@router.post("/ui/profile/tokens/{token_id}/revoke")
async def revoke_token(
    request: Request, token_id: TokenId, principal: Profile, context: Context, locale: Locale
) -> Response:
    """Revoke one of one's tokens."""
    try:
        await context.accounts.revoke_token(
            token_id, owner_id=principal.user.id, actor=principal, client=client_address(request)
        )
    except ServiceError as exc:
        return await _profile(request, principal, context, locale, error=exc.message, status_code=404)
    return await _profile(request, principal, context, locale, note=translate(locale, "Token revoked"))


@router.post("/ui/profile/discord-link")
async def discord_link(request: Request, principal: Profile, context: Context, locale: Locale) -> Response:
    """Show a one-time code to type as ``/link CODE`` in Discord."""
    code = await context.accounts.issue_link_code(principal)
    return await _profile(request, principal, context, locale, link_code=code)


# --- users (admin) ------------------------------------------------------------------------------------------------


async def _users(
    request: Request,
    context: Any,
    locale: str,
    *,
    note: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    users = [UserPublic.from_domain(user) for user in await context.accounts.list_users()]
    body = page(
        request,
        locale,
        "users.html",
        page_name="users",
        title=translate(locale, "Users"),
        users=users,
        note=note,
        error=error,
    )
    return html(body, status_code=status_code)


@router.get("/users")
async def users_page(request: Request, _admin: Admin, context: Context, locale: Locale) -> Response:
    """Every account, with forms to add one, change a role, disable and reset a password."""
    return await _users(request, context, locale)


@router.post("/ui/users")
async def add_user(request: Request, admin: Admin, context: Context, locale: Locale) -> Response:
    """Add an account."""
    form = await request.form()
    try:
        role = parse_role(_field(form, "role", 16) or "member")
        user = await context.accounts.create_user(
            username=_field(form, "username", 64),
            password=_field(form, "password"),
            role=role,
            display_name=_field(form, "display_name", 200) or None,
            email=_field(form, "email", 300) or None,
            actor=admin,
            client=client_address(request),
        )
    except ValueError as exc:
        return await _users(request, context, locale, error=str(exc), status_code=422)
    except ServiceError as exc:
        code = 409 if "taken" in exc.message else 422
        return await _users(request, context, locale, error=exc.message, status_code=code)
    note = translate(locale, "Added %(name)s") % {"name": user.username}
    return await _users(request, context, locale, note=note)


@router.post("/ui/users/{user_id}")
async def change_user(request: Request, user_id: UserId, admin: Admin, context: Context, locale: Locale) -> Response:
    """Change an account's role or disabled flag, or set its password."""
    form = await request.form()
    client = client_address(request)
    try:
        if _field(form, "role", 16):
            await context.accounts.set_role(user_id, parse_role(_field(form, "role", 16)), actor=admin, client=client)
        if _field(form, "disabled", 8) in ("0", "1"):
            disabled = _field(form, "disabled", 8) == "1"
            await context.accounts.set_disabled(user_id, disabled, actor=admin, client=client)
        if _field(form, "password"):
            await context.accounts.reset_password(user_id, _field(form, "password"), actor=admin, client=client)
    except ValueError as exc:
        return await _users(request, context, locale, error=str(exc), status_code=422)
    except ServiceError as exc:
        return await _users(request, context, locale, error=exc.message, status_code=409)
    return await _users(request, context, locale, note=translate(locale, "Saved"))


AUDIT_PAGE = 200
"""Audit records the page shows (newest first); the REST API pages through all of them."""


@router.get("/audit", dependencies=[requires(Permission.AUDIT_READ)])
async def audit_page(request: Request, context: Context, locale: Locale, action: str = "") -> Response:
    """Who did what, newest first, filtered by action."""
    chosen = AuditAction(action) if action in AuditAction.__members__.values() else None
    records, total = await context.accounts.list_audit(AuditFilter(action=chosen), limit=AUDIT_PAGE, offset=0)
    body = page(
        request,
        locale,
        "audit.html",
        page_name="audit",
        title=translate(locale, "Audit log"),
        records=records,
        total=total,
        actions=[item.value for item in AuditAction],
        action=chosen.value if chosen else "",
    )
    return html(body)
