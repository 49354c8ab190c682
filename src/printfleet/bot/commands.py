"""The slash commands of the shared print queue and the command tree that answers their errors.

:class:`QueueCommands` builds the application commands over a :class:`~printfleet.services.queue.QueueService`;
:func:`install` registers them on one guild of a :class:`QueueCommandTree`. A member acts as their printfleet
account (:mod:`printfleet.bot.identity`: made on first use, or linked with ``/link CODE``), under its queue user id and
display name; without accounts, under their Discord id and display name.

Every command first counts against the user's rate limit (``QueueService.check_rate``); the admin commands
(``/queue_remove``, ``/queue_move``, ``/printer_hold``, ``/queue_pause``) then require the configured admin role,
matched by role name (case-insensitive) or id, or an account that may manage the queue (a linked operator or
admin). Both are command checks, so a refusal never reaches the service.

Replies never ping anyone (``AllowedMentions.none()``). A user's own commands are answered ephemerally (only they
see the answer; what the channel must know, offers and prints, the notifier announces); admin commands are
answered in the channel, so everybody sees the queue was changed and by whom. Service errors are mapped to one
sentence each in :meth:`QueueCommandTree.on_error`: the service's messages are safe to show (they never quote user
input), and a printer id typed by the user is never echoed back.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import discord
import structlog
from discord import app_commands

from printfleet.bot import replies
from printfleet.bot.identity import DiscordIdentities, Member, NoAccount
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.dispatch.plates import PlateOutcome
from printfleet.domain.durations import QueueInputError
from printfleet.domain.queue import MAX_JOB_NAME, QueueEntry, QueueRefusal
from printfleet.services.dispatch.plates import PlateService
from printfleet.services.errors import (
    Conflict,
    PermissionDenied,
    PrinterNotFound,
    QueueConflict,
    QueueEntryNotFound,
    RateLimited,
)
from printfleet.services.queue import QueueService

log = structlog.get_logger("printfleet.bot")

Interaction: TypeAlias = discord.Interaction[discord.Client]
AppCommand: TypeAlias = app_commands.Command[Any, ..., Any]

NO_MENTIONS = discord.AllowedMentions.none()
"""What every reply may ping: nobody."""

HISTORY_LIMIT = 10
"""Ended entries ``/history`` shows."""

RECENT_LIMIT = 5
"""Ended entries of the user ``/myjobs`` shows."""

ADMIN_COMMANDS = frozenset({"queue_remove", "queue_move", "printer_hold", "queue_pause"})
"""The commands that need the admin role."""

_EST_TIME = "How long the print takes: 90 (minutes), 90m, 1h30m or 2:15"


_MEMBER = "printfleet_member"
NO_ACCOUNT = (
    "You have no printfleet account yet. Ask an admin for one, then link it: "
    "open your profile page, create a link code and type `/link CODE` here."
)


class Refused(app_commands.CheckFailure):
    """A command check refused the interaction; ``message`` is the sentence to answer with."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def send(interaction: Interaction, text: str, *, ephemeral: bool) -> None:
    """Answer ``interaction`` with ``text`` (a follow-up when it was answered already); never pings."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=ephemeral, allowed_mentions=NO_MENTIONS)
    else:
        await interaction.response.send_message(text, ephemeral=ephemeral, allowed_mentions=NO_MENTIONS)


def error_message(error: BaseException) -> str | None:
    """The sentence answering a command's ``error`` (unwrapped from ``CommandInvokeError``); None for a bug."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, Refused):
        return error.message
    if isinstance(error, NoAccount):
        return NO_ACCOUNT
    if isinstance(error, RateLimited):
        return f"Slow down a little, please. {error.message}"
    if isinstance(error, QueueInputError | QueueRefusal):
        return error.message
    if isinstance(error, PrinterNotFound):
        return "There is no printer with that id; `/status` lists the printers."
    if isinstance(error, QueueEntryNotFound):
        return error.message[:1].upper() + error.message[1:]
    if isinstance(error, QueueConflict):
        return "The queue changed at the same moment; please try again."
    if isinstance(error, PermissionDenied | Conflict):
        return error.message[:1].upper() + error.message[1:] + "."
    if isinstance(error, app_commands.TransformerError | app_commands.CommandSignatureMismatch):
        return "Discord sent a value this command does not understand; try again in a minute."
    if isinstance(error, app_commands.CommandNotFound):
        return "This command is not (or no longer) available."
    return None


class QueueCommandTree(app_commands.CommandTree[discord.Client]):
    """The command tree: answers every failed command with one clear ephemeral sentence."""

    async def on_error(self, interaction: Interaction, error: app_commands.AppCommandError, /) -> None:
        """Answer the user; an unexpected error (a bug, Discord down) is logged with its traceback."""
        message = error_message(error)
        if message is None:
            original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
            command = interaction.command.name if interaction.command is not None else None
            log.error("discord.command_failed", command=command, exc_info=original)
            message = "Something went wrong on the server; please try again later."
        try:
            await send(interaction, message, ephemeral=True)
        except discord.HTTPException as failure:  # the interaction expired or Discord is down: nothing to tell
            log.warning("discord.reply_failed", status=failure.status, code=failure.code)


def has_role(member: discord.Member | discord.User, role: str) -> bool:
    """Whether ``member`` has the role named ``role`` (case-insensitive) or with id ``role``."""
    if not isinstance(member, discord.Member):
        return False
    wanted = role.strip()
    return any(str(r.id) == wanted or r.name.casefold() == wanted.casefold() for r in member.roles)


class QueueCommands:
    """The queue's slash commands over ``queue``; ``admin_role`` is the admin role's name or id."""

    def __init__(
        self,
        queue: QueueService,
        *,
        admin_role: str,
        identities: DiscordIdentities | None = None,
        plates: PlateService | None = None,
    ) -> None:
        """``identities`` maps members to accounts (None: members act under their Discord ids); ``plates`` is the
        plate-clear gate ``/cleared`` confirms (None: the command says it is not available)."""
        self._queue = queue
        self._admin_role = admin_role
        self._identities = identities or DiscordIdentities(None)
        self._plates = plates

    async def member(self, interaction: Interaction) -> Member:
        """Who the interaction's user is to the queue (looked up once per interaction). Raises Refused when they
        have no account."""
        known = interaction.extras.get(_MEMBER)
        if isinstance(known, Member):
            return known
        try:
            found = await self._identities.member(interaction.user)
        except NoAccount:
            raise Refused(NO_ACCOUNT) from None
        interaction.extras[_MEMBER] = found
        return found

    # --- helpers ------------------------------------------------------------------------------------------------

    def _names(self) -> replies.PrinterNames:
        return {slot.id: slot.name for slot in self._queue.view().printers}

    def _printer_id(self, text: str) -> str:
        """The printer id ``text`` means: an id, or a printer's name (case-insensitive); unknown text as it is
        (the service refuses it)."""
        wanted = text.strip()
        names = self._names()
        if wanted in names:
            return wanted
        folded = wanted.casefold()
        for printer_id, name in names.items():
            if folded in (printer_id.casefold(), name.casefold()):
                return printer_id
        return wanted

    def _printer_ids(self, text: str | None) -> list[str]:
        """The printers of a comma-separated list (ids or names); empty: any printer."""
        if not text:
            return []
        return [self._printer_id(part) for part in text.split(",") if part.strip()]

    async def check_rate(self, interaction: Interaction) -> bool:
        """Command check: count the command against the user's rate limit; raises Refused when it is used up (or
        when the user has no account)."""
        linking = interaction.command is not None and interaction.command.name == "link"
        # /link is counted under the bare Discord id: the member may have no account until it has run.
        user_id = None if linking else (await self.member(interaction)).user_id
        try:
            self._queue.check_rate(user_id or f"discord:{interaction.user.id}")
        except RateLimited as limited:
            raise Refused(error_message(limited) or limited.message) from None
        return True

    async def check_admin(self, interaction: Interaction) -> bool:
        """Command check: the member must have the admin role, or an account that may manage the queue; raises
        Refused otherwise."""
        if has_role(interaction.user, self._admin_role) or (await self.member(interaction)).may_manage:
            return True
        raise Refused(f"Only queue admins (role {replies.safe(self._admin_role)}) may do that.")

    async def printer_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Autocomplete of one printer: the printers whose id or name contains what was typed."""
        return self._choices(current, prefix="")

    async def printer_list_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Autocomplete of a comma-separated printer list: completes the last item."""
        head, _, last = current.rpartition(",")
        return self._choices(last, prefix=f"{head}, " if head else "")

    def _choices(self, typed: str, *, prefix: str) -> list[app_commands.Choice[str]]:
        needle = typed.strip().casefold()
        choices = []
        for printer_id, name in sorted(self._names().items()):
            if needle in printer_id.casefold() or needle in name.casefold():
                label = f"{prefix}{name} ({printer_id})" if name and name != printer_id else f"{prefix}{printer_id}"
                choices.append(app_commands.Choice(name=label[:100], value=f"{prefix}{printer_id}"[:100]))
        return choices[:25]  # Discord shows at most 25 choices

    def _before_cancel(self, user_id: str, entry_id: int | None) -> QueueEntry | None:
        mine = self._queue.view().user_entries(user_id)
        if entry_id is not None:
            return next((e for e in mine if e.id == entry_id), None)
        return next((e for e in mine if e.status.holds_printer), mine[0] if mine else None)

    async def _may_clear(self, interaction: Interaction, me: Member, printer_id: str) -> bool:
        """Who may confirm a plate is clear: queue admins and operators, the member the printer is offered to or
        reserved for, and the member whose print is on the plate (the member at the printer clears it)."""
        if has_role(interaction.user, self._admin_role) or me.may_manage:
            return True
        holder = self._queue.holder_of(printer_id)
        if holder is not None and holder.user_id == me.user_id:
            return True
        assert self._plates is not None
        last = await self._plates.last_job(printer_id)
        return last is not None and last.queue_user_id == me.user_id

    # --- the commands -------------------------------------------------------------------------------------------

    def build(self) -> list[AppCommand]:
        """The application commands, each with its checks (rate limit; admin role for the admin commands)."""
        queue = self._queue

        @app_commands.command(name="join", description="Queue a print: you are offered the next free printer.")
        @app_commands.describe(
            job_name="What you print (file or model name)",
            est_time=_EST_TIME,
            printers="Only these printers (ids or names, comma-separated); empty: any printer",
        )
        @app_commands.autocomplete(printers=self.printer_list_choices)
        async def join(
            interaction: Interaction,
            job_name: app_commands.Range[str, 1, MAX_JOB_NAME],
            est_time: app_commands.Range[str, 1, 40],
            printers: app_commands.Range[str, 1, 400] | None = None,
        ) -> None:
            me = await self.member(interaction)
            result = await queue.join(
                user_id=me.user_id,
                user_name=me.name,
                job_name=job_name,
                estimate=est_time,
                printer_ids=self._printer_ids(printers),
            )
            await send(interaction, replies.join_reply(result, self._names()), ephemeral=True)

        @app_commands.command(name="claim", description="Take the printer offered to you.")
        async def claim(interaction: Interaction) -> None:
            entry = await queue.claim(user_id=(await self.member(interaction)).user_id)
            await send(interaction, replies.claim_reply(entry, self._names()), ephemeral=True)

        @app_commands.command(name="cancel", description="Leave the queue, or give up your offer or reservation.")
        @app_commands.describe(entry_id="Which of your entries (default: the one holding a printer, else the first)")
        async def cancel(interaction: Interaction, entry_id: app_commands.Range[int, 1] | None = None) -> None:
            user_id = (await self.member(interaction)).user_id
            before = self._before_cancel(user_id, entry_id)
            entry = await queue.cancel(user_id=user_id, entry_id=entry_id)
            await send(interaction, replies.cancel_reply(before, entry, self._names()), ephemeral=True)

        @app_commands.command(name="update_time", description="Change the estimated print time of your entry.")
        @app_commands.describe(est_time=_EST_TIME, entry_id="Which of your entries (default: the first in line)")
        async def update_time(
            interaction: Interaction,
            est_time: app_commands.Range[str, 1, 40],
            entry_id: app_commands.Range[int, 1] | None = None,
        ) -> None:
            entry = await queue.update_estimate(
                user_id=(await self.member(interaction)).user_id, estimate=est_time, entry_id=entry_id
            )
            eta = queue.view().etas.get(entry.id)
            await send(interaction, replies.update_reply(entry, eta), ephemeral=True)

        @app_commands.command(name="status", description="The queue and the printers: who holds which, deadlines.")
        async def status(interaction: Interaction) -> None:
            await send(interaction, replies.status_reply(queue.view()), ephemeral=True)

        @app_commands.command(name="myjobs", description="Your queue entries and your recent ones.")
        async def myjobs(interaction: Interaction) -> None:
            mine = await queue.my_jobs((await self.member(interaction)).user_id, recent=RECENT_LIMIT)
            await send(interaction, replies.my_jobs_reply(mine, self._names()), ephemeral=True)

        @app_commands.command(name="predict", description="How long a job is likely to take, from past prints.")
        @app_commands.describe(job_name="The job or file name", printer="On this printer (id or name)")
        @app_commands.autocomplete(printer=self.printer_choices)
        async def predict(
            interaction: Interaction,
            job_name: app_commands.Range[str, 1, MAX_JOB_NAME],
            printer: app_commands.Range[str, 1, 100] | None = None,
        ) -> None:
            printer_id = self._printer_id(printer) if printer else None
            me = await self.member(interaction)
            prediction = await queue.predict(job_name, user_id=me.user_id, printer_id=printer_id)
            text = replies.predict_reply(prediction, printer_id=printer_id, names=self._names())
            await send(interaction, text, ephemeral=True)

        @app_commands.command(name="history", description="Recently ended queue entries.")
        @app_commands.describe(mine="Only your own entries")
        async def history(interaction: Interaction, mine: bool = False) -> None:
            user_id = (await self.member(interaction)).user_id if mine else None
            entries = await queue.history(limit=HISTORY_LIMIT, user_id=user_id)
            await send(interaction, replies.history_reply(entries, self._names()), ephemeral=True)

        @app_commands.command(name="queue_remove", description="Admin only: remove an entry from the queue.")
        @app_commands.describe(entry_id="The entry's number (#12: 12)")
        async def queue_remove(interaction: Interaction, entry_id: app_commands.Range[int, 1]) -> None:
            entry = await queue.remove(entry_id, by=interaction.user.display_name)
            await self._identities.audit(await self.member(interaction), "remove", f"queue_entry:{entry_id}")
            await send(interaction, replies.removed_reply(entry), ephemeral=False)

        @app_commands.command(name="queue_move", description="Admin only: move a waiting entry to another place.")
        @app_commands.describe(entry_id="The entry's number (#12: 12)", position="Its new place in line, 1 is first")
        async def queue_move(
            interaction: Interaction, entry_id: app_commands.Range[int, 1], position: app_commands.Range[int, 1]
        ) -> None:
            entry = await queue.move(entry_id, position, by=interaction.user.display_name)
            await self._identities.audit(
                await self.member(interaction), f"move to {position}", f"queue_entry:{entry_id}"
            )
            await send(interaction, replies.moved_reply(entry, position), ephemeral=False)

        @app_commands.command(name="printer_hold", description="Admin only: take a printer out of rotation or back.")
        @app_commands.describe(printer="The printer (id or name)", held="True: out of rotation; False: back in")
        @app_commands.autocomplete(printer=self.printer_choices)
        async def printer_hold(interaction: Interaction, printer: app_commands.Range[str, 1, 100], held: bool) -> None:
            printer_id = self._printer_id(printer)
            await queue.hold(printer_id, held=held, by=interaction.user.display_name)
            command = "hold" if held else "release"
            await self._identities.audit(await self.member(interaction), command, f"printer:{printer_id}")
            await send(interaction, replies.hold_reply(printer_id, held=held, names=self._names()), ephemeral=False)

        @app_commands.command(name="queue_pause", description="Admin only: pause the queue (no new offers) or resume.")
        @app_commands.describe(paused="True: pause; False: resume")
        async def queue_pause(interaction: Interaction, paused: bool) -> None:
            await queue.set_paused(paused, by=interaction.user.display_name)
            await self._identities.audit(await self.member(interaction), "pause" if paused else "resume", "queue")
            await send(interaction, replies.pause_reply(paused=paused), ephemeral=False)

        @app_commands.command(name="cleared", description="Confirm a printer's plate is clear after its print.")
        @app_commands.describe(printer="The printer (id or name)", outcome="How the print on the plate turned out")
        @app_commands.choices(
            outcome=[app_commands.Choice(name="good", value="good"), app_commands.Choice(name="bad", value="bad")]
        )
        @app_commands.autocomplete(printer=self.printer_choices)
        async def cleared(
            interaction: Interaction, printer: app_commands.Range[str, 1, 100], outcome: str = "good"
        ) -> None:
            if self._plates is None:
                raise Refused("Plate clearing is not available on this server.")
            me = await self.member(interaction)
            printer_id = self._printer_id(printer)
            if printer_id not in self._names():
                raise PrinterNotFound(printer_id)
            if not await self._may_clear(interaction, me, printer_id):
                raise Refused("Only queue admins, or the member whose print or turn it is, may clear this printer.")
            by = me.account.id if me.account is not None else None
            await self._plates.clear(printer_id, PlateOutcome(outcome), by=by)
            await self._identities.audit(
                me, f"cleared ({outcome})", f"printer:{printer_id}", action=AuditAction.PLATE_CLEARED
            )
            await send(interaction, replies.cleared_reply(printer_id, outcome, names=self._names()), ephemeral=False)

        @app_commands.command(name="link", description="Link your Discord account to your printfleet web account.")
        @app_commands.describe(code="The code shown on your profile page (valid 10 minutes)")
        async def link(interaction: Interaction, code: app_commands.Range[str, 4, 16]) -> None:
            name = await self._identities.link(code, interaction.user)
            text = f"Linked: your Discord commands now act as **{replies.safe(name, limit=replies.NAME_LIMIT)}**."
            await send(interaction, text, ephemeral=True)

        built: list[AppCommand] = [
            join,
            claim,
            cancel,
            update_time,
            status,
            myjobs,
            predict,
            history,
            queue_remove,
            queue_move,
            printer_hold,
            queue_pause,
            cleared,
            link,
        ]
        for command in built:
            command.guild_only = True
            command.add_check(self.check_rate)  # first: a refused admin command counts too
            if command.name in ADMIN_COMMANDS:
                command.add_check(self.check_admin)
        return built


def install(tree: app_commands.CommandTree[discord.Client], commands: QueueCommands, *, guild_id: int) -> None:
    """Register ``commands`` on the guild ``guild_id`` of ``tree`` (``tree.sync(guild=...)`` publishes them)."""
    guild = discord.Object(id=guild_id)
    for command in commands.build():
        tree.add_command(command, guild=guild)
