"""``/cleared``: the member at the printer (or a queue admin) confirms the plate is clear after a print."""

from __future__ import annotations

from datetime import timedelta

from tests.bot.conftest import ADMIN, ALICE, BOB, World, WorldFactory, busy, idle


async def test_the_member_whose_print_ended_clears_the_plate_and_others_may_not(make_world: WorldFactory) -> None:
    async with make_world(printers={"mk4": idle(), "x1c": busy(7200)}) as world:
        assert world.plates is not None
        await world.run("join", job_name="benchy", est_time="1h")
        await world.run("claim")
        job_id = await world.start_print("mk4", job_name="benchy", remaining_seconds=600)
        await world.finish_print("mk4", job_id, took=timedelta(minutes=10))
        assert world.plates.needs_clearing("mk4")

        refused = await world.run("cleared", user=BOB, printer="mk4")
        assert refused.content == "Only queue admins, or the member whose print or turn it is, may clear this printer."
        assert world.plates.needs_clearing("mk4")

        reply = await world.run("cleared", user=ALICE, printer="MK4 #1", outcome="bad")
        assert not reply.ephemeral  # the channel hears the printer is free again
        assert reply.pings_nobody
        assert "plate cleared (the print failed)" in reply.content
        assert not world.plates.needs_clearing("mk4")
        assert world.plates.state("mk4").outcome is not None
        job = await world.plates.last_job("mk4")
        assert job is not None
        assert job.plate_outcome == "bad"


async def test_a_queue_admin_clears_any_printer_and_an_unknown_printer_is_refused(world: World) -> None:
    reply = await world.run("cleared", user=ADMIN, printer="x1c")
    assert "**X1 Carbon**: plate cleared (the print was good)" in reply.content
    unknown = await world.run("cleared", user=ADMIN, printer="nope")
    assert unknown.ephemeral
    assert "nope" not in unknown.content  # what the user typed is never echoed back
