"""Printer commands sent through the process that owns the printer: :class:`CommandRelay`.

In a shared farm only a printer's owner is connected to it (docs/farm.md). A pause, resume or stop asked of another
process travels to the owner as a ``command`` hint; the owner sends it to the printer and answers with a ``reply``
hint, which the asking process turns back into the same outcome as a local command: done, refused by the printer
(PrinterCommandRejected, HTTP 409), or not connected (PrinterNotConnected, 409). No answer within ``timeout_s``
(the owner died, or the hint was lost while a listener reconnected) is PrinterNotConnected as well: the command may
be tried again, and pause, resume and stop are harmless to repeat.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable, Sequence

import structlog

from printfleet.domain.announcements import MAX_KEY_LENGTH, Hint, HintKind
from printfleet.domain.printer import PrinterCommandRejected, PrinterNotConnected
from printfleet.services.errors import PrinterNotFound

log = structlog.get_logger(__name__)

OK, REJECTED, NOT_CONNECTED, NOT_FOUND = "ok", "rejected", "not_connected", "not_found"
"""The outcomes a reply carries."""

MESSAGE_CHARS = 120
"""A reply's message is cut to this many characters (a hint's key is at most 200)."""


class CommandRelay:
    """Sends commands to printers other processes own and runs those asked of printers this one owns.

    ``announce(hint)`` sends a hint to the farm; ``run(printer_id, command)`` runs a command here (the printers
    service, raising PrinterNotConnected, PrinterCommandRejected, PrinterNotFound); ``owns(printer_id)`` says
    whether this process owns the printer. :meth:`commands` and :meth:`replies` are the announcements' loaders of
    the ``command`` and ``reply`` hints."""

    def __init__(
        self,
        *,
        announce: Callable[[Hint], None],
        run: Callable[[str, str], Awaitable[None]],
        owns: Callable[[str], bool],
        timeout_s: float = 10.0,
    ) -> None:
        self._announce = announce
        self._run = run
        self._owns = owns
        self._timeout_s = timeout_s
        self._waiting: dict[str, asyncio.Future[tuple[str, str]]] = {}
        self._running: set[asyncio.Task[None]] = set()

    async def send(self, printer_id: str, command: str) -> None:
        """Have the printer's owner send ``command`` (``pause``, ``resume``, ``stop``) and wait for its answer.
        Raises PrinterNotConnected (also when no owner answers in ``timeout_s`` seconds), PrinterCommandRejected,
        PrinterNotFound."""
        request = secrets.token_hex(8)
        try:
            hint = Hint(HintKind.COMMAND, json.dumps([printer_id, command, request]))
        except ValueError:
            raise PrinterNotConnected(printer_id, "its id is too long to relay a command") from None
        answer: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
        self._waiting[request] = answer
        try:
            self._announce(hint)
            outcome, message = await asyncio.wait_for(answer, self._timeout_s)
        except TimeoutError:
            log.warning("command_relay.no_answer", printer_id=printer_id, command=command)
            raise PrinterNotConnected(
                printer_id, f"the process that owns it did not answer within {self._timeout_s:g} s"
            ) from None
        finally:
            self._waiting.pop(request, None)
        if outcome == OK:
            return
        if outcome == REJECTED:
            raise PrinterCommandRejected(printer_id, message)
        if outcome == NOT_FOUND:
            raise PrinterNotFound(printer_id)
        raise PrinterNotConnected(printer_id, message)

    async def commands(self, keys: Sequence[str]) -> None:
        """Run the commands asked of the printers this process owns (each in a task of its own, so a slow printer
        holds up no other hint); others are left to their owners. A malformed key is logged and skipped."""
        for key in keys:
            try:
                printer_id, command, request = json.loads(key)
            except (ValueError, TypeError):
                log.warning("command_relay.malformed", size=len(key))
                continue
            if not self._owns(str(printer_id)):
                continue
            task = asyncio.create_task(self._execute(str(printer_id), str(command), str(request)))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _execute(self, printer_id: str, command: str, request: str) -> None:
        try:
            await self._run(printer_id, command)
            outcome, message = OK, ""
        except PrinterCommandRejected as error:
            outcome, message = REJECTED, error.message
        except PrinterNotConnected as error:
            outcome, message = NOT_CONNECTED, error.message
        except PrinterNotFound:
            outcome, message = NOT_FOUND, ""
        except Exception:  # answered all the same: the asking process is not left waiting
            log.exception("command_relay.failed", printer_id=printer_id, command=command)
            outcome, message = NOT_CONNECTED, "the command failed in the process that owns the printer"
        log.info("command_relay.ran", printer_id=printer_id, command=command, outcome=outcome)
        self._announce(Hint(HintKind.REPLY, _reply_key(request, outcome, message)))

    async def replies(self, keys: Sequence[str]) -> None:
        """Hand the owners' answers to the commands waiting for them (answers to other processes are ignored)."""
        for key in keys:
            try:
                request, outcome, message = json.loads(key)
            except (ValueError, TypeError):
                log.warning("command_relay.malformed", size=len(key))
                continue
            answer = self._waiting.get(str(request))
            if answer is not None and not answer.done():
                answer.set_result((str(outcome), str(message)))


def _reply_key(request: str, outcome: str, message: str) -> str:
    """The reply's key, the message cut until it fits a hint."""
    message = message[:MESSAGE_CHARS]
    while True:
        key = json.dumps([request, outcome, message])
        if len(key) <= MAX_KEY_LENGTH or not message:
            return key
        message = message[: len(message) // 2]
