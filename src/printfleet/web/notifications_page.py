"""The Notifications page (``/notifications``, linked from the Profile page): the signed-in person's channels (add,
test, switch off, delete; URLs and secrets are write-only and shown as "set"), their rules (events × printers, with
optional quiet hours) and each channel's latest messages with their delivery state. Forms post to
``/ui/notifications/...`` and the page is shown again with a note (or the error, with what was typed kept; never a
URL or secret)."""

from __future__ import annotations

from datetime import time
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from printfleet.api.auth import requires
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.domain.notifications.digest import Digest, DigestPeriod
from printfleet.domain.notifications.model import ChannelKind, NotificationEvent
from printfleet.domain.notifications.quiet import QuietHours, time_zone_problem
from printfleet.services.errors import ServiceError
from printfleet.web.pages import Context, Locale, SameSite, form_text, html, page, translate

router = APIRouter(include_in_schema=False)

Me = Annotated[Principal, requires(Permission.NOTIFICATIONS)]
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]

HISTORY_LINES = 10
"""Latest messages shown per channel (the REST API pages through more)."""

_TYPED = ("kind", "name", "quiet_start", "quiet_end", "quiet_timezone", "digest_period", "digest_at", "digest_timezone")


async def _render(
    request: Request,
    context: Context,
    locale: str,
    principal: Principal,
    *,
    note: str | None = None,
    error: str | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    user_id = principal.user.id
    channels = await context.notifications.channels(user_id)
    rules = await context.notifications.rules(user_id)
    history = {
        channel.id: (await context.notifications.history(user_id, channel.id, limit=HISTORY_LINES))[0]
        for channel in channels
    }
    body = page(
        request,
        locale,
        "notifications.html",
        page_name="profile",
        title=translate(locale, "Notifications"),
        channels=channels,
        channel_names={channel.id: channel.name for channel in channels},
        rules=rules,
        history=history,
        kinds=[kind.value for kind in ChannelKind],
        events=[event.value for event in NotificationEvent],
        printers=sorted(config.id for config, _ in context.monitoring.watched()),
        note=note,
        error=error,
        typed=typed or {},
    )
    return html(body, status_code=status_code)


@router.get("/notifications")
async def notifications_page(request: Request, context: Context, locale: Locale, principal: Me) -> Response:
    """Your channels, rules and latest messages."""
    return await _render(request, context, locale, principal)


@router.post("/ui/notifications/channels", dependencies=[SameSite])
async def add_channel(request: Request, context: Context, locale: Locale, principal: Me) -> Response:
    """Add a channel; an error keeps the kind and name typed (never the URL or secret)."""
    form = await request.form()
    typed = {name: form_text(form, name, 100) for name in ("kind", "name", "target")}
    typed |= {name: form_text(form, name, 4000) for name in ("title_template", "body_template")}
    try:
        kind = ChannelKind(typed["kind"])
    except ValueError:
        error = translate(locale, "Choose a kind of channel.")
        return await _render(request, context, locale, principal, error=error, typed=typed, status_code=422)
    url = form_text(form, "url", 2000) or None
    secret = form_text(form, "secret", 200) or None
    try:
        channel = await context.notifications.add_channel(
            principal.user.id,
            kind=kind,
            name=typed["name"] or kind.value,
            url=url,
            secret=secret,
            title_template=typed["title_template"] or None,
            body_template=typed["body_template"] or None,
            target=typed["target"] or None,
        )
    except ServiceError as exc:
        return await _render(request, context, locale, principal, error=exc.message, typed=typed, status_code=422)
    note = translate(locale, "Added %(name)s") % {"name": channel.name}
    return await _render(request, context, locale, principal, note=note)


@router.post("/ui/notifications/channels/{channel_id}/test", dependencies=[SameSite])
async def test_channel(
    request: Request, channel_id: ItemId, context: Context, locale: Locale, principal: Me
) -> Response:
    """Send a test message now and say whether it arrived."""
    try:
        delivered, reason = await context.notifications.test_channel(principal.user.id, channel_id)
    except ServiceError as exc:
        return await _render(request, context, locale, principal, error=exc.message, status_code=404)
    if delivered:
        return await _render(request, context, locale, principal, note=translate(locale, "Test message delivered"))
    error = translate(locale, "Test message not delivered: %(reason)s") % {"reason": reason}
    return await _render(request, context, locale, principal, error=error, status_code=200)


@router.post("/ui/notifications/channels/{channel_id}/enabled", dependencies=[SameSite])
async def switch_channel(
    request: Request, channel_id: ItemId, context: Context, locale: Locale, principal: Me
) -> Response:
    """Switch a channel on or off (``enabled`` = ``true``/``false``)."""
    form = await request.form()
    enabled = form_text(form, "enabled", 5) == "true"
    try:
        channel = await context.notifications.update_channel(principal.user.id, channel_id, enabled=enabled)
    except ServiceError as exc:
        return await _render(request, context, locale, principal, error=exc.message, status_code=404)
    if channel.enabled:
        note = translate(locale, "%(name)s switched on") % {"name": channel.name}
    else:
        note = translate(locale, "%(name)s switched off") % {"name": channel.name}
    return await _render(request, context, locale, principal, note=note)


@router.post("/ui/notifications/channels/{channel_id}/delete", dependencies=[SameSite])
async def delete_channel(
    request: Request, channel_id: ItemId, context: Context, locale: Locale, principal: Me
) -> Response:
    """Delete a channel with its rules and history (the page asked for confirmation)."""
    try:
        await context.notifications.delete_channel(principal.user.id, channel_id)
    except ServiceError as exc:
        return await _render(request, context, locale, principal, error=exc.message, status_code=404)
    return await _render(request, context, locale, principal, note=translate(locale, "Deleted"))


def _quiet(typed: dict[str, str], critical_bypass: bool, locale: str) -> QuietHours | None:
    """The quiet hours typed, None when none were; raises ValueError with a message for the page."""
    start, end, zone = typed["quiet_start"], typed["quiet_end"], typed["quiet_timezone"]
    if not (start or end):
        return None
    try:
        begins, ends = time.fromisoformat(start), time.fromisoformat(end)
    except ValueError:
        raise ValueError(translate(locale, "Quiet hours: give a start and an end as HH:MM.")) from None
    zone = zone or "UTC"
    if (problem := time_zone_problem(zone)) is not None:
        raise ValueError(problem)
    return QuietHours(
        start=begins.replace(second=0, microsecond=0),
        end=ends.replace(second=0, microsecond=0),
        timezone=zone,
        critical_bypass=critical_bypass,
    )


def _digest(typed: dict[str, str], locale: str) -> Digest | None:
    """The digest chosen, None for single messages; raises ValueError with a message for the page."""
    period = typed["digest_period"]
    if not period:
        return None
    try:
        chosen = DigestPeriod(period)
        at = time.fromisoformat(typed["digest_at"] or "08:00").replace(second=0, microsecond=0)
    except ValueError:
        raise ValueError(translate(locale, "Summary: choose hourly or daily, and a time as HH:MM.")) from None
    zone = typed["digest_timezone"] or "UTC"
    if (problem := time_zone_problem(zone)) is not None:
        raise ValueError(problem)
    return Digest(period=chosen, at=at, timezone=zone)


@router.post("/ui/notifications/rules", dependencies=[SameSite])
async def add_rule(request: Request, context: Context, locale: Locale, principal: Me) -> Response:
    """Add a rule: a channel, the events ticked, the printers chosen (none: every printer), optional quiet hours and
    an optional summary (digest) instead of single messages."""
    form = await request.form()
    typed = {name: form_text(form, name, 64) for name in _TYPED}
    try:
        channel_id = int(form_text(form, "channel_id", 12))
        events = frozenset(NotificationEvent(value) for value in form.getlist("events") if isinstance(value, str))
    except ValueError:
        error = translate(locale, "Choose a channel and events.")
        return await _render(request, context, locale, principal, error=error, typed=typed, status_code=422)
    try:
        quiet = _quiet(typed, form_text(form, "critical_bypass", 5) == "true", locale)
        digest = _digest(typed, locale)
    except ValueError as exc:
        return await _render(request, context, locale, principal, error=str(exc), typed=typed, status_code=422)
    printer_ids = frozenset(value[:64] for value in form.getlist("printer_ids") if isinstance(value, str) and value)
    try:
        await context.notifications.add_rule(
            principal.user.id,
            channel_id=channel_id,
            events=events,
            printer_ids=printer_ids,
            quiet_hours=quiet,
            digest=digest,
        )
    except ServiceError as exc:
        return await _render(request, context, locale, principal, error=exc.message, typed=typed, status_code=422)
    return await _render(request, context, locale, principal, note=translate(locale, "Rule added"))


@router.post("/ui/notifications/rules/{rule_id}/delete", dependencies=[SameSite])
async def delete_rule(request: Request, rule_id: ItemId, context: Context, locale: Locale, principal: Me) -> Response:
    """Delete a rule."""
    try:
        await context.notifications.delete_rule(principal.user.id, rule_id)
    except ServiceError as exc:
        return await _render(request, context, locale, principal, error=exc.message, status_code=404)
    return await _render(request, context, locale, principal, note=translate(locale, "Deleted"))
