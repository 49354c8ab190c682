"""Queue events become queue-channel messages; only an offer pings, and only its Discord user."""

from __future__ import annotations

from datetime import timedelta

import structlog

from printfleet.domain.queue import EntryStatus
from tests.bot.conftest import ALICE, NOW, WorldFactory, busy, idle
from tests.bot.harness import CHANNEL_ID, DM_CHANNEL_ID


def _unix(minutes: float) -> str:
    return f"<t:{int((NOW + timedelta(minutes=minutes)).timestamp())}:R>"


async def test_an_offer_is_also_sent_as_a_direct_message_when_configured(make_world: WorldFactory) -> None:
    async with make_world(printers={"mk4": idle()}, dm_offers=True) as world:
        await world.run("join", job_name="benchy", est_time="1h")
        channel, direct = await world.notify()

    assert channel.channel == str(CHANNEL_ID)
    assert direct.channel == str(DM_CHANNEL_ID)
    assert direct.content == channel.content
    assert direct.pings_nobody
    assert ("POST", "/users/@me/channels") in world.discord.requests


async def test_a_web_user_is_named_never_mentioned(make_world: WorldFactory) -> None:
    async with make_world(printers={"mk4": idle()}, dm_offers=True) as world:
        await world.queue.join(user_id="web:alice", user_name="Alice @everyone", job_name="benchy", estimate="1h")
        [offer] = await world.notify()

    assert offer.content == (
        f"**Alice @\u200beveryone**, **MK4 #1** is free for #1 **benchy**: `/claim` it, the offer ends {_unix(10)}."
    )
    assert offer.pings_nobody  # and no DM: a web user has no Discord id


async def test_a_missed_offer_sends_the_job_back_then_out_of_the_queue(make_world: WorldFactory) -> None:
    async with make_world(printers={"mk4": idle()}) as world:
        await world.run("join", job_name="benchy", est_time="1h")
        world.clock.advance(minutes=10)
        await world.queue.run_due()
        first = await world.notify()
        world.clock.advance(minutes=10)
        await world.queue.run_due()
        second = await world.notify()
        [ended] = await world.queue.history()

    assert [p.content for p in first[1:]] == [
        f"<@{ALICE.id}>: the offer of **MK4 #1** for #1 **benchy** ran out; the job goes to the back of the queue.",
        f"<@{ALICE.id}>, **MK4 #1** is free for #1 **benchy**: `/claim` it, the offer ends {_unix(20)}.",
    ]
    assert first[1].pings_nobody
    assert not first[2].pings_nobody
    assert ended.status is EntryStatus.EXPIRED
    assert [p.content for p in second] == [
        f"<@{ALICE.id}>: the offer of **MK4 #1** for #1 **benchy** ran out; the job left the queue: "
        "missed 2 windows in a row (the last one a claim window)."
    ]


async def test_a_reservation_without_a_print_is_released_and_the_user_told(make_world: WorldFactory) -> None:
    async with make_world(printers={"mk4": idle()}) as world:
        await world.run("join", job_name="benchy", est_time="1h")
        await world.run("claim")
        await world.notify()
        world.clock.advance(minutes=15)
        await world.queue.run_due()
        released = await world.notify()

    assert released[0].content == (
        f"<@{ALICE.id}>: no print started on **MK4 #1** in time for #1 **benchy**, so the reservation is released; "
        "the job goes to the back of the queue."
    )
    assert released[0].pings_nobody


async def test_a_print_started_says_when_it_is_done_and_its_end_says_how_it_went(make_world: WorldFactory) -> None:
    async with make_world(printers={"mk4": idle()}) as world:
        await world.run("join", job_name="benchy", est_time="1h")
        await world.run("claim")
        job_id = await world.start_print("mk4", job_name="benchy", remaining_seconds=3000)
        started = (await world.notify())[-1]
        await world.finish_print("mk4", job_id, took=timedelta(minutes=52))
        [finished] = await world.notify()

    assert started.content == (f"<@{ALICE.id}>: #1 **benchy** started on **MK4 #1**, expected done {_unix(50)}.")
    assert finished.content == f"<@{ALICE.id}>: #1 **benchy** completed on **MK4 #1** in 52m."
    assert started.pings_nobody
    assert finished.pings_nobody


async def test_an_unqueued_print_is_reported_and_the_offer_it_cut_short_named(make_world: WorldFactory) -> None:
    async with make_world(printers={"mk4": idle(), "x1c": idle()}) as world:
        await world.run("join", job_name="benchy", est_time="1h", printers="mk4")
        await world.notify()
        await world.printer("x1c", busy(600))
        await world.printer("mk4", busy(1200))
        plain, cut_short = await world.notify()

    assert plain.content == "Unqueued print on **X1 Carbon**: it was started without the queue."
    assert cut_short.content == (
        f"Unqueued print on **MK4 #1**: it was started without the queue. The offer to <@{ALICE.id}> for "
        "#1 **benchy** is withdrawn; the job keeps its place in line."
    )
    assert plain.pings_nobody
    assert cut_short.pings_nobody


async def test_a_channel_the_bot_may_not_post_in_is_logged_not_fatal(make_world: WorldFactory) -> None:
    async with make_world(printers={"mk4": idle()}) as world:
        world.discord.refuse_posts = True
        await world.run("join", job_name="benchy", est_time="1h")
        with structlog.testing.capture_logs() as logs:
            assert await world.notify() == []

    assert [(e["event"], e["channel_id"]) for e in logs if e["event"].startswith("discord.")] == [
        ("discord.channel_forbidden", CHANNEL_ID)
    ]
