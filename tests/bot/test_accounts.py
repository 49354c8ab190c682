"""Discord members and printfleet accounts: a member gets an account on first use, a web user links their Discord
account with a one-time code, and a linked operator may use the admin commands without the Discord role. Through
discord.py's own parser and command tree, on a real QueueService, AccountService and SQLite."""

from __future__ import annotations

from printfleet.domain.accounts.audit import AuditAction, AuditFilter
from printfleet.domain.accounts.roles import Role
from printfleet.domain.accounts.users import queue_user_id
from tests.bot.conftest import ALICE, BOB, WorldFactory, idle
from tests.support_accounts import TEST_PASSWORD

REFUSAL = "Only queue admins (role Print Admin) may do that."


async def test_a_discord_member_gets_a_member_account_on_first_use(make_world: WorldFactory) -> None:
    async with make_world(accounts=True) as world:
        assert world.accounts is not None
        await world.run("join", job_name="benchy", est_time="1h")
        await world.run("join", job_name="vase", est_time="30m", user=BOB)
        [alice] = [u for u in await world.accounts.list_users() if u.discord_id == str(ALICE.id)]
        entries = world.queue.view().entries

    assert (alice.role, alice.display_name, alice.has_password) == (Role.MEMBER, "Alice", False)
    assert (entries[0].user_id, entries[0].user_name) == (queue_user_id(alice.id), "Alice")
    assert len({e.user_id for e in entries}) == 2


async def test_without_auto_provisioning_an_unlinked_member_is_told_to_link(make_world: WorldFactory) -> None:
    async with make_world(accounts=True, auto_provision=False) as world:
        reply = await world.run("join", job_name="benchy", est_time="1h")
        assert list(world.queue.view().entries) == []

    assert reply.ephemeral
    assert "/link CODE" in reply.content


async def test_a_linked_web_user_and_their_discord_commands_are_one_person(make_world: WorldFactory) -> None:
    async with make_world(printers={"mk4": idle()}, accounts=True) as world:
        accounts = world.accounts
        assert accounts is not None
        # Alice used the bot before she had a web account: a member account was made for her.
        await world.run("status")
        web = await accounts.create_user(
            username="alice", password=TEST_PASSWORD, role=Role.MEMBER, display_name="Alice W."
        )
        signed = await accounts.sign_in("alice", TEST_PASSWORD, client=None)
        code = await accounts.issue_link_code(signed.principal)

        wrong = await world.run("link", code="WRONGCODE")
        linked = await world.run("link", code=code.lower())
        await world.run("join", job_name="benchy", est_time="1h")
        [entry] = world.queue.view().entries
        [offer] = await world.notify()
        again = await world.run("link", code=code)
        records, _ = await accounts.list_audit(AuditFilter(action=AuditAction.DISCORD_LINKED), limit=10, offset=0)

    assert "not valid" in wrong.content
    assert linked.content == "Linked: your Discord commands now act as **Alice W.**."
    assert (entry.user_id, entry.user_name) == (queue_user_id(web.id), "Alice W.")
    assert offer.content.startswith(f"<@{ALICE.id}>, **MK4 #1** is free for")  # the linked Discord id is pinged
    assert not offer.pings_nobody
    assert "not valid" in again.content  # a code works once
    assert [r.actor_name for r in records] == ["alice"]


async def test_a_linked_operator_may_use_the_admin_commands_without_the_role(make_world: WorldFactory) -> None:
    async with make_world(accounts=True) as world:
        accounts = world.accounts
        assert accounts is not None
        await world.run("join", job_name="benchy", est_time="1h", user=BOB)
        refused = await world.run("queue_pause", paused=True)  # Alice: a member, no admin role
        operator = await accounts.create_user(username="ops", password=TEST_PASSWORD, role=Role.OPERATOR)
        signed = await accounts.sign_in("ops", TEST_PASSWORD, client=None)
        code = await accounts.issue_link_code(signed.principal)
        await world.run("link", code=code)
        paused = await world.run("queue_pause", paused=True)
        view = world.queue.view()
        records, _ = await accounts.list_audit(AuditFilter(action=AuditAction.QUEUE_ADMIN), limit=10, offset=0)

    assert refused.content == REFUSAL
    assert operator.role is Role.OPERATOR
    assert not paused.ephemeral  # admin commands answer in the channel
    assert view.paused
    assert [(r.actor_name, r.detail) for r in records] == [("ops", {"command": "pause", "via": "discord"})]
