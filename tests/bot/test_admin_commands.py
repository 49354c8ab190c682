"""Admin commands need the configured role (by name or id); every command counts against the rate limit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from printfleet.domain.queue import EntryStatus
from printfleet.domain.queue_commands import RateLimit
from tests.bot.conftest import ADMIN, ALICE, BOB, CAROL, World, WorldFactory, idle
from tests.bot.harness import ADMIN_ROLE_ID

REFUSAL = "Only queue admins (role Print Admin) may do that."


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("queue_remove", {"entry_id": 1}),
        ("queue_move", {"entry_id": 1, "position": 1}),
        ("printer_hold", {"printer": "mk4", "held": True}),
        ("queue_pause", {"paused": True}),
    ],
)
async def test_admin_commands_are_refused_without_the_role(
    world: World, command: str, options: dict[str, object]
) -> None:
    await world.run("join", job_name="benchy", est_time="1h")

    reply = await world.run(command, user=ALICE, **options)

    assert reply.content == REFUSAL
    assert reply.ephemeral
    view = world.queue.view()
    assert [e.status for e in view.entries] == [EntryStatus.WAITING]
    assert not view.paused
    assert not any(slot.held for slot in view.printers)


async def test_queue_remove_ends_the_entry_and_says_so_in_the_channel(world: World) -> None:
    await world.run("join", job_name="benchy", est_time="1h")

    reply = await world.run("queue_remove", user=ADMIN, entry_id=1)
    missing = await world.run("queue_remove", user=ADMIN, entry_id=99)

    assert reply.content == f"#1 **benchy** of <@{ALICE.id}> is removed from the queue."
    assert not reply.ephemeral
    assert reply.pings_nobody
    assert world.queue.view().entries == []
    [ended] = await world.queue.history()
    assert (ended.status, ended.end_reason) == (EntryStatus.REMOVED, "removed by Dana")
    assert missing.content == "No queue entry #99."
    assert missing.ephemeral


async def test_queue_move_puts_a_waiting_entry_at_a_position(world: World) -> None:
    for user, job in ((ALICE, "benchy"), (BOB, "whistle"), (CAROL, "hook")):
        await world.run("join", user=user, job_name=job, est_time="1h")

    reply = await world.run("queue_move", user=ADMIN, entry_id=3, position=1)
    out_of_range = await world.run("queue_move", user=ADMIN, entry_id=3, position=9)

    assert reply.content == f"#3 **hook** of <@{CAROL.id}> is now at position 1."
    assert [e.id for e in world.queue.view().waiting] == [3, 1, 2]
    assert out_of_range.content == "The position must be from 1 to 3."


async def test_printer_hold_takes_a_printer_out_of_rotation_and_back(make_world: WorldFactory) -> None:
    async with make_world(printers={"mk4": idle()}) as world:
        held = await world.run("printer_hold", user=ADMIN, printer="MK4 #1", held=True)
        await world.run("join", job_name="benchy", est_time="1h")
        status = await world.run("status")
        unknown = await world.run("printer_hold", user=ADMIN, printer="@everyone", held=True)
        released = await world.run("printer_hold", user=ADMIN, printer="mk4", held=False)
        posts = await world.notify()

    assert held.content == "**MK4 #1** is held: out of rotation (an offer of it is withdrawn; a print on it runs on)."
    assert "• **MK4 #1**: free (idle) — held by an admin (out of rotation)" in status.content
    assert unknown.content == "There is no printer with that id; `/status` lists the printers."
    assert released.content == "**MK4 #1** is back in rotation."
    assert [p.content.split(",")[0] for p in posts] == [f"<@{ALICE.id}>"]  # offered once released


async def test_queue_pause_stops_new_offers_until_resumed(make_world: WorldFactory) -> None:
    async with make_world(printers={"mk4": idle()}) as world:
        paused = await world.run("queue_pause", user=ADMIN, paused=True)
        joined = await world.run("join", job_name="benchy", est_time="1h")
        status = await world.run("status")
        assert await world.notify() == []
        resumed = await world.run("queue_pause", user=ADMIN, paused=False)
        posts = await world.notify()

    assert paused.content == "The queue is paused: no new offers. Open offers and reservations run on."
    assert "position 1 in line" in joined.content
    assert status.content.startswith("**Queue paused**")
    assert resumed.content == "The queue is running again."
    assert len(posts) == 1
    assert posts[0].content.startswith(f"<@{ALICE.id}>, **MK4 #1** is free")


async def test_the_admin_role_may_be_configured_by_id(make_world: WorldFactory) -> None:
    async with make_world(admin_role=str(ADMIN_ROLE_ID)) as world:
        allowed = await world.run("queue_pause", user=ADMIN, paused=True)
        refused = await world.run("queue_pause", user=ALICE, paused=False)

    assert allowed.content.startswith("The queue is paused")
    assert refused.content == f"Only queue admins (role {ADMIN_ROLE_ID}) may do that."


async def test_too_many_commands_get_a_polite_reply_with_the_retry_time(make_world: WorldFactory) -> None:
    async with make_world(rate_limit=RateLimit(capacity=2, interval=timedelta(seconds=10))) as world:
        await world.run("status")
        await world.run("queue_pause", paused=True)  # a refused admin command counts too
        limited = await world.run("join", job_name="benchy", est_time="1h")
        other_user = await world.run("status", user=BOB)
        world.clock.advance(seconds=10)
        later = await world.run("status")

    assert limited.content == "Slow down a little, please. Too many commands; try again in 10 s."
    assert limited.ephemeral
    assert limited.pings_nobody
    assert world.queue.view().entries == []
    assert other_user.content.startswith("**Print queue**")
    assert later.content.startswith("**Print queue**")
