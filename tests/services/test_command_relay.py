"""Commands relayed to a printer's owner: two relays wired back to back as two processes' announcements would be
(the end-to-end path, through PostgreSQL, is tests/e2e/test_shared_farm.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from printfleet.domain.announcements import Hint, HintKind
from printfleet.domain.printer import PrinterCommandRejected, PrinterNotConnected
from printfleet.services.farm.command_relay import CommandRelay


def pair(
    run_on_owner: Callable[[str, str], Awaitable[None]], *, owner_has: set[str], timeout_s: float = 2.0
) -> CommandRelay:
    """The asking process's relay, wired to an owner's relay that runs ``run_on_owner``."""
    asking: list[CommandRelay] = []

    def to_asker(hint: Hint) -> None:
        assert hint.kind is HintKind.REPLY
        asking[0]._running.add(_spawn(asking[0].replies([hint.key])))

    owner = CommandRelay(announce=to_asker, run=run_on_owner, owns=lambda printer_id: printer_id in owner_has)

    def to_owner(hint: Hint) -> None:
        assert hint.kind is HintKind.COMMAND
        owner._running.add(_spawn(owner.commands([hint.key])))

    asking.append(CommandRelay(announce=to_owner, run=run_on_owner, owns=lambda _: False, timeout_s=timeout_s))
    return asking[0]


def _spawn(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(coroutine)


async def test_a_command_runs_on_the_owner_and_its_refusal_comes_back_as_it_would_locally() -> None:
    ran: list[tuple[str, str]] = []

    async def run(printer_id: str, command: str) -> None:
        ran.append((printer_id, command))
        if command == "resume":
            raise PrinterCommandRejected(printer_id, "not paused")

    relay = pair(run, owner_has={"x1c-1"})
    await relay.send("x1c-1", "pause")
    with pytest.raises(PrinterCommandRejected, match="not paused"):
        await relay.send("x1c-1", "resume")
    assert ran == [("x1c-1", "pause"), ("x1c-1", "resume")]


async def test_a_command_nobody_owns_fails_as_not_connected_after_the_timeout() -> None:
    async def run(printer_id: str, command: str) -> None:
        raise AssertionError("no process owns it: nothing may run")

    relay = pair(run, owner_has=set(), timeout_s=0.2)
    with pytest.raises(PrinterNotConnected, match=r"did not answer within 0\.2 s"):
        await relay.send("x1c-9", "stop")
