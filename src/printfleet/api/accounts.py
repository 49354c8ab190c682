"""Accounts over REST: sign-in and sign-out, one's own profile and personal API tokens, users (admin) and the audit
log (admin).

``POST /api/v1/auth/sign-in`` sets the session cookie (``HttpOnly; SameSite=Lax``; ``Secure`` over HTTPS or with
``http.secure_cookies``); scripts use a personal token instead (``Authorization: Bearer pf_…``), created here under
``/api/v1/me/tokens`` or with ``printfleet users token``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from printfleet.api.account_schemas import (
    AuditList,
    AuditPublic,
    LinkCode,
    Me,
    PasswordChange,
    PasswordReset,
    ProfileUpdate,
    SignIn,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenPublic,
    UserCreate,
    UserList,
    UserPublic,
    UserUpdate,
)
from printfleet.api.auth import SESSION_COOKIE, client_address, public, requires
from printfleet.api.context import ApiContext, ContextDep
from printfleet.api.errors import responses
from printfleet.domain.accounts.audit import AuditAction, AuditFilter
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.services.accounts.service import LINK_VALID

router = APIRouter(prefix="/api/v1", tags=["accounts"])

MAX_ID = 2_147_483_647
UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="The user's id.")]
TokenId = Annotated[int, Path(ge=1, le=MAX_ID, description="The token's id.")]
Profile = Annotated[Principal, requires(Permission.PROFILE)]
Admin = Annotated[Principal, requires(Permission.USERS_MANAGE)]


def set_session_cookie(response: Response, request: Request, context: ApiContext, session_id: str) -> None:
    """Put ``session_id`` in the session cookie of ``response``."""
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(context.accounts.settings.session_absolute.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https" or context.secure_cookies,
        path="/",
    )


@router.post("/auth/sign-in", response_model=Me, dependencies=[public()], responses=responses(401, 429, public=True))
async def sign_in(body: SignIn, request: Request, response: Response, context: ContextDep) -> Me:
    """Check a username and password and start a session (the cookie). 401 with one message for an unknown user
    and a wrong password; 429 with ``Retry-After`` after repeated failures."""
    signed_in = await context.accounts.sign_in(body.username, body.password, client=client_address(request))
    set_session_cookie(response, request, context, signed_in.session_id)
    return Me.of(signed_in.principal.user)


@router.post("/auth/sign-out", status_code=status.HTTP_204_NO_CONTENT, responses=responses())
async def sign_out(
    principal: Profile,
    request: Request,
    response: Response,
    context: ContextDep,
    everywhere: Annotated[bool, Query(description="End every session of this user, not only this one.")] = False,
) -> None:
    """End this session (``everywhere``: all of this user's sessions) and clear the cookie."""
    await context.accounts.sign_out(principal, everywhere=everywhere, client=client_address(request))
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/me", response_model=Me, responses=responses())
async def me(principal: Profile) -> Me:
    """The signed-in person and what their role may do."""
    return Me.of(principal.user)


@router.patch("/me", response_model=Me, responses=responses())
async def update_me(body: ProfileUpdate, principal: Profile, request: Request, context: ContextDep) -> Me:
    """Change one's display name or email."""
    user = await context.accounts.update_profile(
        principal.user.id,
        display_name=body.display_name,
        email=body.email,
        actor=principal,
        client=client_address(request),
    )
    return Me.of(user)


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT, responses=responses())
async def change_password(body: PasswordChange, principal: Profile, request: Request, context: ContextDep) -> None:
    """Change one's password (the current one is needed); every other session of this user ends."""
    await context.accounts.change_password(
        principal, current=body.current_password, new=body.new_password, client=client_address(request)
    )


@router.get("/me/tokens", response_model=TokenList, responses=responses())
async def list_tokens(principal: Profile, context: ContextDep) -> TokenList:
    """One's personal API tokens (their prefixes, never the tokens)."""
    tokens = await context.accounts.list_tokens(principal.user.id)
    return TokenList(tokens=[TokenPublic.from_domain(token) for token in tokens])


@router.post("/me/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED, responses=responses())
async def create_token(body: TokenCreate, principal: Profile, request: Request, context: ContextDep) -> TokenCreated:
    """A new personal API token with one's own role; its value is in this answer only."""
    token, record = await context.accounts.create_token(
        principal.user.id, name=body.name, expires_at=body.expires_at, actor=principal, client=client_address(request)
    )
    return TokenCreated(**TokenPublic.from_domain(record).model_dump(), token=token)


@router.delete("/me/tokens/{token_id}", response_model=TokenPublic, responses=responses(404))
async def revoke_token(token_id: TokenId, principal: Profile, request: Request, context: ContextDep) -> TokenPublic:
    """Revoke one of one's tokens; it stops working at once."""
    record = await context.accounts.revoke_token(
        token_id, owner_id=principal.user.id, actor=principal, client=client_address(request)
    )
    return TokenPublic.from_domain(record)


@router.post("/me/discord-link", response_model=LinkCode, status_code=status.HTTP_201_CREATED, responses=responses())
async def discord_link_code(principal: Profile, context: ContextDep) -> LinkCode:
    """A one-time code (10 minutes) that links one's Discord account when typed as ``/link CODE`` in Discord."""
    code = await context.accounts.issue_link_code(principal)
    return LinkCode(code=code, expires_at=datetime.now(UTC) + LINK_VALID)


@router.get("/users", response_model=UserList, responses=responses())
async def list_users(_admin: Admin, context: ContextDep) -> UserList:
    """Every account (admin)."""
    return UserList(users=[UserPublic.from_domain(user) for user in await context.accounts.list_users()])


@router.post("/users", response_model=UserPublic, status_code=status.HTTP_201_CREATED, responses=responses(409))
async def create_user(body: UserCreate, admin: Admin, request: Request, context: ContextDep) -> UserPublic:
    """Create an account (admin). 409 when the username is taken; 422 for a weak password, with the reason."""
    user = await context.accounts.create_user(
        username=body.username,
        password=body.password,
        role=body.role,
        display_name=body.display_name,
        email=body.email,
        actor=admin,
        client=client_address(request),
    )
    return UserPublic.from_domain(user)


@router.get("/users/{user_id}", response_model=UserPublic, responses=responses(404))
async def get_user(user_id: UserId, _admin: Admin, context: ContextDep) -> UserPublic:
    """One account (admin)."""
    return UserPublic.from_domain(await context.accounts.get_user(user_id))


@router.patch("/users/{user_id}", response_model=UserPublic, responses=responses(404, 409))
async def update_user(
    user_id: UserId, body: UserUpdate, admin: Admin, request: Request, context: ContextDep
) -> UserPublic:
    """Change an account's role, disabled flag, display name or email (admin). Disabling ends every session of the
    user. 409 when it would leave no enabled admin."""
    client = client_address(request)
    accounts = context.accounts
    user = await accounts.get_user(user_id)
    if body.display_name is not None or body.email is not None:
        user = await accounts.update_profile(
            user_id, display_name=body.display_name, email=body.email, actor=admin, client=client
        )
    if body.role is not None and body.role is not user.role:
        user = await accounts.set_role(user_id, body.role, actor=admin, client=client)
    if body.disabled is not None and body.disabled != user.disabled:
        user = await accounts.set_disabled(user_id, body.disabled, actor=admin, client=client)
    return UserPublic.from_domain(user)


@router.post("/users/{user_id}/password", status_code=status.HTTP_204_NO_CONTENT, responses=responses(404))
async def reset_password(
    user_id: UserId, body: PasswordReset, admin: Admin, request: Request, context: ContextDep
) -> None:
    """Set someone's password (admin); every session of theirs ends."""
    await context.accounts.reset_password(user_id, body.password, actor=admin, client=client_address(request))


@router.get("/audit", response_model=AuditList, dependencies=[requires(Permission.AUDIT_READ)], responses=responses())
async def audit_log(
    context: ContextDep,
    actor_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    action: AuditAction | None = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> AuditList:
    """Who did what, newest first (admin): filter by actor, action, target (``printer:x1c-1``, ``user:alice``)
    and time range (ISO 8601 with offset)."""
    records, total = await context.accounts.list_audit(
        AuditFilter(actor_id=actor_id, action=action, target=target, since=since, until=until),
        limit=limit,
        offset=offset,
    )
    return AuditList(records=[AuditPublic.from_domain(record) for record in records], total=total)
