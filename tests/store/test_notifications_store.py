"""The notification store on SQLite and PostgreSQL: the outbox keeps one row per (subject, event, channel) however
often it is written; delivery state, history and cascade on channel delete; secrets stay out of the channel view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from printfleet.domain.accounts.roles import Role
from printfleet.domain.accounts.users import NewUser
from printfleet.domain.notifications.model import (
    ChannelKind,
    ChannelSecrets,
    DeliveryState,
    NewMessage,
    NotificationEvent,
)
from printfleet.store.accounts.repository import SqlAccountRepository
from printfleet.store.database import Database
from printfleet.store.notifications import SqlNotificationRepository

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


async def _user(database: Database) -> int:
    new = NewUser(username="ada", display_name="Ada", email=None, role=Role.OPERATOR, password_hash=None)
    return (await SqlAccountRepository(database).create_user(new, now=T0)).id


def _message(channel_id: int, user_id: int, subject: str = "job:1") -> NewMessage:
    return NewMessage(
        channel_id=channel_id,
        user_id=user_id,
        event=NotificationEvent.PRINT_FINISHED,
        subject=subject,
        title="Print finished: benchy",
        body="benchy finished on p1s.",
        payload={"job": {"id": 1}},
    )


async def test_one_row_per_subject_event_and_channel(database: Database) -> None:
    store = SqlNotificationRepository(database, clock=lambda: T0)
    user_id = await _user(database)
    channel = await store.add_channel(
        user_id=user_id,
        kind=ChannelKind.WEBHOOK,
        name="ci",
        secrets=ChannelSecrets(url="http://h/x", signing_secret="s"),
    )
    other = await store.add_channel(user_id=user_id, kind=ChannelKind.EMAIL, name="mail", secrets=ChannelSecrets())

    first = await store.enqueue([_message(channel.id, user_id), _message(other.id, user_id)], now=T0)
    again = await store.enqueue([_message(channel.id, user_id)], now=T0 + timedelta(seconds=5))
    later = await store.enqueue([_message(channel.id, user_id, subject="job:2")], now=T0 + timedelta(seconds=5))

    assert len(first) == 2
    assert again == []
    assert len(later) == 1
    assert [m.subject for m in await store.due(T0 + timedelta(seconds=5), limit=10)] == ["job:1", "job:1", "job:2"]
    assert channel.has_url
    assert channel.has_secret
    assert not other.has_url


async def test_attempts_move_a_row_from_due_to_later_and_to_delivered(database: Database) -> None:
    store = SqlNotificationRepository(database, clock=lambda: T0)
    user_id = await _user(database)
    channel = await store.add_channel(
        user_id=user_id, kind=ChannelKind.APPRISE, name="json", secrets=ChannelSecrets(url="json://h")
    )
    [message] = await store.enqueue([_message(channel.id, user_id)], now=T0)
    retry_at = T0 + timedelta(seconds=30)
    await store.record_attempt(
        message.id,
        attempts=1,
        state=DeliveryState.PENDING,
        next_attempt_at=retry_at,
        error="HTTP 500",
        delivered_at=None,
    )
    assert await store.due(T0 + timedelta(seconds=29), limit=10) == []
    assert await store.next_due() == retry_at
    await store.record_attempt(
        message.id, attempts=2, state=DeliveryState.DELIVERED, next_attempt_at=None, error=None, delivered_at=retry_at
    )
    [stored], total = await store.history(channel.id, limit=10, offset=0)
    assert total == 1
    assert (stored.state, stored.attempts, stored.delivered_at, stored.last_error) == (
        DeliveryState.DELIVERED,
        2,
        retry_at,
        None,
    )
    assert await store.next_due() is None

    await store.delete_channel(channel.id)
    assert (await store.history(channel.id, limit=10, offset=0))[1] == 0
