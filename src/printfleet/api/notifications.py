"""Notifications of the calling user: ``/api/v1/notifications/channels`` (CRUD, ``/{id}/test``,
``/{id}/deliveries``), ``/api/v1/notifications/rules`` (CRUD) and the compatible per-printer preferences
``GET/PUT /api/bambu/notifications/{printer_id}``. Every route needs ``notifications``; a user sees only their own
channels and rules (another's is 404)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from printfleet.api.auth import requires
from printfleet.api.context import ContextDep
from printfleet.api.errors import responses
from printfleet.api.notification_schemas import (
    MAX_ID,
    ChannelBody,
    ChannelList,
    ChannelPatch,
    ChannelPublic,
    DeliveryList,
    DeliveryPublic,
    PreferencesBody,
    PreferencesPublic,
    RuleBody,
    RuleList,
    RulePatch,
    RulePublic,
    TestResult,
)
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.domain.notifications.digest import Digest
from printfleet.domain.notifications.quiet import QuietHours
from printfleet.services.errors import PrinterNotFound
from printfleet.services.notifications.service import UNSET, Unset

router = APIRouter(tags=["notifications"])

Me = Annotated[Principal, requires(Permission.NOTIFICATIONS)]
ChannelId = Annotated[int, Path(ge=1, le=MAX_ID)]
RuleId = Annotated[int, Path(ge=1, le=MAX_ID)]
PREFIX = "/api/v1/notifications"


@router.get(f"{PREFIX}/channels", response_model=ChannelList, responses=responses())
async def list_channels(principal: Me, context: ContextDep) -> ChannelList:
    """Your channels (URLs and secrets are never shown: see ``has_url``, ``has_secret``)."""
    channels = await context.notifications.channels(principal.user.id)
    return ChannelList(channels=[ChannelPublic.of(channel) for channel in channels])


@router.post(
    f"{PREFIX}/channels", response_model=ChannelPublic, status_code=status.HTTP_201_CREATED, responses=responses()
)
async def add_channel(body: ChannelBody, principal: Me, context: ContextDep) -> ChannelPublic:
    """Add a channel. 422 for a missing or unusable URL or secret (the message never quotes them), a discord
    channel without a valid ``target``, or a template that does not compile (named, with its line)."""
    channel = await context.notifications.add_channel(
        principal.user.id,
        kind=body.kind,
        name=body.name,
        url=body.url,
        secret=body.secret,
        title_template=body.title_template,
        body_template=body.body_template,
        target=body.target,
    )
    return ChannelPublic.of(channel)


@router.get(f"{PREFIX}/channels/{{channel_id}}", response_model=ChannelPublic, responses=responses(404))
async def get_channel(channel_id: ChannelId, principal: Me, context: ContextDep) -> ChannelPublic:
    """One of your channels."""
    return ChannelPublic.of(await context.notifications.channel(principal.user.id, channel_id))


@router.patch(f"{PREFIX}/channels/{{channel_id}}", response_model=ChannelPublic, responses=responses(404))
async def update_channel(
    channel_id: ChannelId, body: ChannelPatch, principal: Me, context: ContextDep
) -> ChannelPublic:
    """Rename, enable or disable a channel, replace its URL or secret, or its templates ("" for the defaults)."""
    channel = await context.notifications.update_channel(
        principal.user.id,
        channel_id,
        name=body.name,
        enabled=body.enabled,
        url=body.url,
        secret=body.secret,
        title_template=body.title_template,
        body_template=body.body_template,
        target=body.target,
    )
    return ChannelPublic.of(channel)


@router.delete(f"{PREFIX}/channels/{{channel_id}}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(404))
async def delete_channel(channel_id: ChannelId, principal: Me, context: ContextDep) -> None:
    """Delete a channel with its rules and delivery history."""
    await context.notifications.delete_channel(principal.user.id, channel_id)


@router.post(f"{PREFIX}/channels/{{channel_id}}/test", response_model=TestResult, responses=responses(404))
async def test_channel(channel_id: ChannelId, principal: Me, context: ContextDep) -> TestResult:
    """Send a test message now; 200 with ``delivered`` and, when not, the ``reason``."""
    delivered, reason = await context.notifications.test_channel(principal.user.id, channel_id)
    return TestResult(delivered=delivered, reason=reason)


@router.get(f"{PREFIX}/channels/{{channel_id}}/deliveries", response_model=DeliveryList, responses=responses(404))
async def channel_deliveries(
    channel_id: ChannelId,
    principal: Me,
    context: ContextDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> DeliveryList:
    """The channel's messages, newest first, with state, attempts and last error."""
    messages, total = await context.notifications.history(principal.user.id, channel_id, limit=limit, offset=offset)
    return DeliveryList(deliveries=[DeliveryPublic.of(message) for message in messages], total=total)


@router.get(f"{PREFIX}/rules", response_model=RuleList, responses=responses())
async def list_rules(principal: Me, context: ContextDep) -> RuleList:
    """Your rules."""
    return RuleList(rules=[RulePublic.of(rule) for rule in await context.notifications.rules(principal.user.id)])


@router.post(
    f"{PREFIX}/rules", response_model=RulePublic, status_code=status.HTTP_201_CREATED, responses=responses(404)
)
async def add_rule(body: RuleBody, principal: Me, context: ContextDep) -> RulePublic:
    """Add a rule to one of your channels."""
    rule = await context.notifications.add_rule(
        principal.user.id,
        channel_id=body.channel_id,
        events=frozenset(body.events),
        printer_ids=frozenset(body.printer_ids),
        quiet_hours=body.quiet_hours.to_domain() if body.quiet_hours is not None else None,
        digest=body.digest.to_domain() if body.digest is not None else None,
    )
    return RulePublic.of(rule)


@router.patch(f"{PREFIX}/rules/{{rule_id}}", response_model=RulePublic, responses=responses(404))
async def update_rule(rule_id: RuleId, body: RulePatch, principal: Me, context: ContextDep) -> RulePublic:
    """Change a rule's events, printers, quiet hours or digest (``null`` removes them)."""
    quiet: QuietHours | Unset | None = UNSET
    if "quiet_hours" in body.model_fields_set:
        quiet = body.quiet_hours.to_domain() if body.quiet_hours is not None else None
    digest: Digest | Unset | None = UNSET
    if "digest" in body.model_fields_set:
        digest = body.digest.to_domain() if body.digest is not None else None
    rule = await context.notifications.update_rule(
        principal.user.id,
        rule_id,
        events=frozenset(body.events) if body.events is not None else None,
        printer_ids=frozenset(body.printer_ids) if body.printer_ids is not None else None,
        quiet_hours=quiet,
        digest=digest,
    )
    return RulePublic.of(rule)


@router.delete(f"{PREFIX}/rules/{{rule_id}}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(404))
async def delete_rule(rule_id: RuleId, principal: Me, context: ContextDep) -> None:
    """Delete a rule."""
    await context.notifications.delete_rule(principal.user.id, rule_id)


def _known_printer(context: ContextDep, printer_id: str) -> None:
    if context.monitoring.status(printer_id) is None:
        raise PrinterNotFound(printer_id)


@router.get("/api/bambu/notifications/{printer_id}", response_model=PreferencesPublic, responses=responses(404))
async def get_preferences(printer_id: str, principal: Me, context: ContextDep) -> PreferencesPublic:
    """Your notification preferences for one printer (defaults until saved)."""
    _known_printer(context, printer_id)
    return PreferencesPublic.of(await context.notifications.preferences(principal.user.id, printer_id))


@router.put("/api/bambu/notifications/{printer_id}", response_model=PreferencesPublic, responses=responses(404))
async def put_preferences(
    printer_id: str, body: PreferencesBody, principal: Me, context: ContextDep
) -> PreferencesPublic:
    """Save your preferences for one printer: ``email_enabled`` mails the chosen events to your account's email;
    ``webhook_url`` posts them there (Standard Webhooks headers, unsigned)."""
    _known_printer(context, printer_id)
    saved = await context.notifications.save_preferences(
        principal.user.id, body.to_domain(printer_id), webhook_url=body.webhook_url
    )
    return PreferencesPublic.of(saved)
