"""The users' slash commands, dispatched as real interactions through the bot's command tree to a real queue."""

from __future__ import annotations

from datetime import timedelta

import pytest

from printfleet.domain.queue import EntryStatus
from tests.bot.conftest import ALICE, BOB, NOW, World, WorldFactory, busy, idle
from tests.bot.harness import dispatch, interaction_payload


def _unix(minutes: float) -> str:
    """The Discord timestamp of NOW + ``minutes``."""
    return f"<t:{int((NOW + timedelta(minutes=minutes)).timestamp())}:R>"


@pytest.mark.parametrize(
    ("est_time", "expected"),
    [
        ("abc", "That is not a duration; try e.g. 90 (minutes), 90m, 1h30m or 2:15."),
        ("-5", "A duration can't be negative."),
        ("73h", "73h is over the maximum of 72h."),
        ("0", "A duration must be more than zero."),
    ],
)
async def test_join_with_a_bad_estimate_is_refused_with_a_clear_private_reply(
    world: World, est_time: str, expected: str
) -> None:
    reply = await world.run("join", job_name="benchy", est_time=est_time)

    assert reply.content == expected
    assert reply.ephemeral
    assert world.queue.view().entries == []


async def test_join_on_an_unknown_printer_is_refused_without_echoing_it(world: World) -> None:
    reply = await world.run("join", job_name="benchy", est_time="1h", printers="mk4, @everyone")

    assert reply.content == "Unknown printer; the printers are mk4, x1c."
    assert "@everyone" not in reply.content
    assert reply.ephemeral
    assert world.queue.view().entries == []


async def test_join_answers_with_the_position_and_the_estimated_wait(world: World) -> None:
    first = await world.run("join", job_name="benchy", est_time="90m")
    second = await world.run("join", job_name="calibration cube", est_time="1:15", user=BOB)

    assert first.content == (
        "#1 **benchy** (1h30m) joined the queue on any printer.\nIt is at position 1 in line, estimated wait about 1h."
    )
    # mk4 is free in 1 h and taken by benchy; x1c is free in 2 h
    assert second.content.endswith("It is at position 2 in line, estimated wait about 2h.")
    assert first.ephemeral
    assert second.ephemeral
    entry = world.queue.view().entries[0]
    assert (entry.user_id, entry.user_name, entry.estimate) == (str(ALICE.id), "Alice", timedelta(minutes=90))


async def test_join_limited_to_printers_by_name_or_id(world: World) -> None:
    reply = await world.run("join", job_name="benchy", est_time="1h", printers="X1 Carbon")

    assert "joined the queue on **X1 Carbon**" in reply.content
    assert "estimated wait about 2h" in reply.content
    assert world.queue.view().entries[0].printer_ids == frozenset({"x1c"})


async def test_join_the_same_job_again_answers_with_the_existing_entry(world: World) -> None:
    await world.run("join", job_name="benchy", est_time="90m")
    again = await world.run("join", job_name="benchy", est_time="1h30m")

    assert again.content.startswith("You queued that job already: #1 **benchy** (1h30m).")
    assert len(world.queue.view().entries) == 1


async def test_join_with_a_free_printer_offers_it_at_once_and_the_channel_mentions_the_user(
    make_world: WorldFactory,
) -> None:
    async with make_world(printers={"mk4": idle(), "x1c": busy(3600)}) as world:
        reply = await world.run("join", job_name="benchy", est_time="1h")
        posts = await world.notify()

    assert reply.content == (
        "#1 **benchy** (1h) joined the queue on any printer.\n"
        f"**MK4 #1** is offered to you: use `/claim` to take it, the offer ends {_unix(10)}."
    )
    [offer] = posts
    assert offer.content == (
        f"<@{ALICE.id}>, **MK4 #1** is free for #1 **benchy**: `/claim` it, the offer ends {_unix(10)}."
    )
    assert offer.allowed_mentions == {"parse": [], "users": [ALICE.id]}  # that user, nobody else


async def test_claim_reserves_the_offered_printer_and_claiming_again_is_harmless(make_world: WorldFactory) -> None:
    async with make_world(printers={"mk4": idle()}) as world:
        await world.run("join", job_name="benchy", est_time="1h")
        world.clock.advance(minutes=2)
        first = await world.run("claim")
        second = await world.run("claim")
        entry = world.queue.view().entries[0]

    expected = (
        f"**MK4 #1** is reserved for #1 **benchy**. Start your print on it; the reservation ends {_unix(17)} "
        "unless a print has started."
    )
    assert first.content == expected
    assert second.content == expected
    assert entry.status is EntryStatus.CLAIMED


async def test_claim_without_an_offer_is_refused(world: World) -> None:
    await world.run("join", job_name="benchy", est_time="1h")
    reply = await world.run("claim")
    nothing = await world.run("claim", user=BOB)

    assert reply.content == "No printer is offered to you yet."
    assert nothing.content == "You have nothing in the queue."
    assert reply.ephemeral
    assert nothing.ephemeral


async def test_cancel_leaves_the_queue(world: World) -> None:
    await world.run("join", job_name="benchy", est_time="1h")
    reply = await world.run("cancel")

    assert reply.content == "#1 **benchy** left the queue."
    assert world.queue.view().entries == []


async def test_commands_on_an_entry_that_ended_say_so(world: World) -> None:
    await world.run("join", job_name="benchy", est_time="1h")
    await world.run("cancel")
    again = await world.run("cancel", entry_id=1)
    estimate = await world.run("update_time", est_time="2h", entry_id=1)

    assert again.content == "#1 **benchy** is not in the queue any more (cancelled)."
    assert estimate.content == "That entry has ended (cancelled)."
    assert again.ephemeral
    assert estimate.ephemeral


async def test_cancel_a_reservation_gives_the_printer_to_the_next_in_line(make_world: WorldFactory) -> None:
    async with make_world(printers={"mk4": idle()}) as world:
        await world.run("join", job_name="benchy", est_time="1h")
        await world.run("join", job_name="whistle", est_time="20m", user=BOB)
        await world.run("claim")
        await world.notify()
        reply = await world.run("cancel")
        posts = await world.notify()

    assert reply.content == "#1 **benchy** is cancelled; **MK4 #1** goes to the next in line."
    [offer] = posts
    assert offer.content.startswith(f"<@{BOB.id}>, **MK4 #1** is free for #2 **whistle**")
    assert offer.allowed_mentions == {"parse": [], "users": [BOB.id]}


async def test_update_time_changes_the_estimate_and_the_wait(world: World) -> None:
    await world.run("join", job_name="benchy", est_time="1h")
    await world.run("join", job_name="whistle", est_time="20m", user=BOB)
    reply = await world.run("update_time", est_time="3h")
    bad = await world.run("update_time", est_time="abc")

    assert (
        reply.content == "#1 **benchy** is now estimated at 3h. It is at position 1 in line, estimated wait about 1h."
    )
    assert bad.content == "That is not a duration; try e.g. 90 (minutes), 90m, 1h30m or 2:15."
    assert world.queue.view().entries[0].estimate == timedelta(hours=3)


async def test_status_shows_who_holds_which_printer_with_its_deadline(make_world: WorldFactory) -> None:
    async with make_world(printers={"mk4": idle(), "x1c": busy(7200)}) as world:
        await world.run("join", job_name="benchy", est_time="1h")
        await world.run("join", job_name="whistle", est_time="20m", user=BOB)
        reply = await world.run("status")

    assert reply.content == "\n".join(
        [
            "**Print queue**",
            "__Printers__",
            f"• **MK4 #1**: offered to <@{ALICE.id}>, #1 **benchy**, offer ends {_unix(10)}",
            f"• **X1 Carbon**: printing, free {_unix(120)}",
            "__Waiting__ (1)",
            f"1. #2 **whistle** (20m) — <@{BOB.id}>, any printer, wait about 1h",
        ]
    )
    assert reply.pings_nobody


async def test_myjobs_lists_the_active_entry_and_the_recent_ones(world: World) -> None:
    await world.run("join", job_name="benchy", est_time="1h")
    await world.run("cancel")
    await world.run("join", job_name="whistle", est_time="20m")
    reply = await world.run("myjobs")

    assert reply.content == "\n".join(
        [
            "__Your queue entries__",
            "• #2 **whistle** (20m): position 1 in line, estimated wait about 1h",
            "__Recent__",
            f"• #1 **benchy**: cancelled {_unix(0)}",
        ]
    )
    assert reply.ephemeral


async def test_a_queued_print_from_claim_to_end_then_predict_and_history(make_world: WorldFactory) -> None:
    async with make_world(printers={"mk4": idle(), "x1c": busy(7200)}) as world:
        for took in (timedelta(minutes=72), timedelta(minutes=80)):
            await world.run("join", job_name="benchy", est_time="1h")
            await world.run("claim")
            job_id = await world.start_print("mk4", job_name="benchy", remaining_seconds=4000)
            started = await world.notify()
            await world.finish_print("mk4", job_id, took=took)
            finished = await world.notify()
        prediction = await world.run("predict", job_name="Benchy_v2.gcode", printer="mk4")
        unknown = await world.run("predict", job_name="boat", printer="@everyone")
        history = await world.run("history")
        mine = await world.run("history", mine=True, user=BOB)

    assert started[-1].content.startswith(f"<@{ALICE.id}>: #2 **benchy** started on **MK4 #1**, expected done <t:")
    assert started[-1].pings_nobody
    assert [p.content for p in finished] == [f"<@{ALICE.id}>: #2 **benchy** completed on **MK4 #1** in 1h20m."]
    assert prediction.content == "\n".join(
        [
            "**Benchy\\_v2.gcode**: prints with the same name took median 1h16m, 90% within 1h19m (2 prints).",
            "On **MK4 #1**: median 1h16m, 90% within 1h19m (2 prints).",
            "Suggested estimate: `1h16m`.",
            "Your prints took 27% longer than you estimated (median over 2 prints).",
        ]
    )
    assert unknown.content == "There is no printer with that id; `/status` lists the printers."
    assert history.content.splitlines()[0] == "__Queue history__"
    assert f"• #2 **benchy** — <@{ALICE.id}>: completed on **MK4 #1** in 1h20m <t:" in history.content
    assert mine.content == "No queue entry has ended yet."


async def test_names_typed_by_people_never_format_or_mention(make_world: WorldFactory) -> None:
    async with make_world(printers={"mk4": idle()}) as world:
        reply = await world.run("join", job_name="@everyone **loud** <@&666666666666666666>", est_time="1h")
        posts = await world.notify()
        status = await world.run("status")

    for message in (reply, status, *posts):
        assert "@everyone" not in message.content.replace("@\u200beveryone", "")
        assert "**loud**" not in message.content
        assert "<@&666666666666666666>" not in message.content
    assert reply.pings_nobody
    assert status.pings_nobody


async def test_printer_options_are_autocompleted_from_the_farm(world: World) -> None:
    await dispatch(
        world.client,
        interaction_payload(
            "join",
            user_id=ALICE.id,
            user_name="Alice",
            kind=4,
            options={"job_name": "benchy", "est_time": "1h", "printers": "mk4, car"},
            focused="printers",
        ),
    )

    [answer] = world.discord.replies
    assert answer.channel == "autocomplete"
    assert answer.content == repr([{"name": "mk4, X1 Carbon (x1c)", "value": "mk4, x1c"}])
