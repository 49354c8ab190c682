"""Printer management: add, edit and remove printers at run time, seed from the configuration file, commands,
and connection tests of a configuration before it is saved.

Every change is persisted first, then the live connection is started, restarted or closed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

import structlog

from printfleet.domain.files.model import Thumbnail
from printfleet.domain.printer import (
    OfflineReason,
    PrinterConfig,
    PrinterNotConnected,
    PrinterState,
    PrinterStatus,
)
from printfleet.services.errors import InvalidInput, NotFound, PrinterNotFound
from printfleet.services.monitoring import MonitoringService
from printfleet.services.ports import (
    DetachedPreviewSource,
    PreviewSource,
    PrinterConnection,
    PrinterRepository,
    StateTransition,
)

log = structlog.get_logger("printfleet.printers")


class PrinterCommand(StrEnum):
    """Commands every printer kind accepts."""

    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"


MAX_TEST_TIMEOUT_S = 60.0
"""The longest a connection test may wait for the printer, in seconds."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionCheck:
    """The outcome of a connection test; never holds a secret.

    ``ok`` is True when the printer answered with a live state (so the credentials were accepted); then ``state``
    is that state (``idle``, ``printing``, ...) and ``offline_reason``/``detail`` are None. Otherwise ``state`` is
    ``offline``, ``offline_reason`` says why and ``detail`` is a short human explanation. ``seconds`` is how long
    the test took.
    """

    ok: bool
    state: PrinterState
    offline_reason: OfflineReason | None
    detail: str | None
    seconds: float

    @classmethod
    def from_status(cls, status: PrinterStatus, *, seconds: float) -> ConnectionCheck:
        """The check for a probe's answer ``status`` that took ``seconds``."""
        return cls(
            ok=status.state is not PrinterState.OFFLINE,
            state=status.state,
            offline_reason=status.offline_reason,
            detail=status.offline_detail,
            seconds=seconds,
        )


def _check(config: PrinterConfig) -> None:
    problems = config.problems()
    if problems:
        raise InvalidInput("; ".join(f"{name}: {message}" for name, message in problems))


DESTINATION_FIELDS = ("host", "url")
"""Where a printer's secrets are sent: changing one of these needs the secrets again (a new ``port`` on the same
host does not: the secret stays on that machine)."""

SECRET_FIELDS = ("access_code", "password", "api_key")


def _secrets_kept_for_new_destination(
    current: PrinterConfig, updated: PrinterConfig, changes: dict[str, object]
) -> None:
    """Refuse to send a stored secret to a new address: when ``host`` or ``url`` changed, every secret
    stored for ``current`` must be in ``changes`` (given again, or cleared). Raises InvalidInput naming them."""
    moved = [name for name in DESTINATION_FIELDS if getattr(updated, name) != getattr(current, name)]
    if not moved:
        return
    missing = [name for name in SECRET_FIELDS if getattr(current, name) and name not in changes]
    if missing:
        raise InvalidInput(
            "; ".join(
                f"{name}: give it again: the {' and '.join(moved)} changed, and a stored secret is never sent to a "
                "new address"
                for name in missing
            )
        )


def _edited(current: PrinterConfig, changes: dict[str, object]) -> PrinterConfig:
    """``current`` with ``changes`` applied and checked; InvalidInput for a change of id or kind, a problem, or a
    new address (``host``, ``url``) without the stored secrets given again."""
    for frozen in ("id", "kind"):
        if frozen in changes and changes[frozen] != getattr(current, frozen):
            raise InvalidInput(f"{frozen}: cannot be changed; delete the printer and add it again")
    updated = current.replace(**{k: v for k, v in changes.items() if k not in ("id", "kind")})
    _check(updated)
    _secrets_kept_for_new_destination(current, updated, changes)
    return updated


class PrinterService:
    """Use cases on printers. Raises PrinterNotFound, PrinterAlreadyExists, InvalidInput (services.errors),
    and PrinterNotConnected / PrinterCommandRejected (domain) for commands."""

    def __init__(
        self,
        *,
        repository: PrinterRepository,
        monitoring: MonitoringService,
        on_removed: Sequence[Callable[[str], Awaitable[None]]] = (),
        on_added: Sequence[Callable[[str], None]] = (),
    ) -> None:
        """``on_removed``: awaited with the id of a printer removed; ``on_added``: called with the id of a printer
        added while running, before it is connected (job tracking then knows its first print is not one found at
        start-up)."""
        self._repository = repository
        self._monitoring = monitoring
        self._on_removed = tuple(on_removed)
        self._on_added = tuple(on_added)
        self._on_changed: list[Callable[[str], None]] = []
        self.relay: Callable[[str, str], Awaitable[None]] | None = None
        """``await relay(printer_id, command)`` has the process that owns a printer send it a command (a shared
        farm: ``services.farm.command_relay``); None when every printer is connected here."""
        self.detached: Callable[[PrinterConfig], PrinterConnection] | None = None
        """``detached(config)`` builds a printer's connection without running it, for what any number of clients
        may ask of the printer (PrusaLink's preview image) when another process of a shared farm owns it; None when
        every printer is connected here."""
        self.freshen: Callable[[Collection[str] | None], Awaitable[None]] | None = None
        """``await freshen(printer_ids)`` (None: all) reads the statuses other processes of a shared farm announced
        but this one did not read yet (``services.farm.status_sharing``), before they are shown; may raise
        StoreUnavailable. None when every printer is connected here."""

    def add_change_listener(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(printer_id)`` after a printer was added, edited or deleted here (and stored)."""
        self._on_changed.append(listener)

    def _changed(self, printer_id: str) -> None:
        for listener in self._on_changed:
            listener(printer_id)

    async def seed(self, configs: Sequence[PrinterConfig]) -> None:
        """Insert or overwrite the configuration file's printers (before monitoring starts)."""
        for config in configs:
            _check(config)
        await self._repository.upsert_printers(configs)

    async def list(self) -> list[tuple[PrinterConfig, PrinterStatus | None]]:
        """Every printer with its live status (None when not watched), ordered by id. Raises StoreUnavailable."""
        if self.freshen is not None:
            await self.freshen(None)
        return [(config, self._monitoring.status(config.id)) for config in await self._repository.list_printers()]

    async def get(self, printer_id: str) -> tuple[PrinterConfig, PrinterStatus | None]:
        """One printer with its live status; raises PrinterNotFound, StoreUnavailable."""
        config = await self._repository.get_printer(printer_id)
        if config is None:
            raise PrinterNotFound(printer_id)
        if self.freshen is not None:
            await self.freshen((printer_id,))
        return config, self._monitoring.status(printer_id)

    async def transitions(self, printer_id: str, *, limit: int = 50) -> Sequence[StateTransition]:
        """The printer's latest state changes, newest first (at most ``limit``); raises PrinterNotFound."""
        await self.get(printer_id)
        return await self._repository.list_transitions(printer_id, limit=limit)

    async def add(self, config: PrinterConfig) -> PrinterConfig:
        """Persist a new printer and connect to it; raises InvalidInput, PrinterAlreadyExists."""
        _check(config)
        await self._repository.add_printer(config)
        for listener in self._on_added:
            listener(config.id)
        self._monitoring.add(config)
        log.info("printer.added", printer_id=config.id, printer_kind=config.kind.value)
        self._changed(config.id)
        return config

    async def update(self, printer_id: str, changes: dict[str, object]) -> PrinterConfig:
        """Apply ``changes`` (field → value; secrets as domain ``Secret``) and reconnect.

        Raises PrinterNotFound, InvalidInput (also for an attempt to change ``id`` or ``kind``, and for a changed
        ``host`` or ``url`` without every stored secret given again).
        """
        current, _ = await self.get(printer_id)
        updated = _edited(current, changes)
        await self._repository.update_printer(updated)
        await self._monitoring.rewatch(updated)
        log.info("printer.updated", printer_id=printer_id, fields=sorted(changes))
        self._changed(printer_id)
        return updated

    async def test_connection(
        self,
        config: PrinterConfig,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - expiry is an answer, not an error
    ) -> ConnectionCheck:
        """Try ``config`` without saving it: connect once and report the printer's first answer.

        Nothing is stored, published or tracked as a job, and no printer is added; ``config.id`` need not be
        new (a watched printer with that id keeps its own connection). ``timeout`` is in seconds, at most
        :data:`MAX_TEST_TIMEOUT_S`; without an answer by then the result is ``offline``/``timeout``.
        Raises InvalidInput when ``config`` has problems (as :meth:`add`) or ``timeout`` is out of range.
        """
        _check(config)
        if not 0 < timeout <= MAX_TEST_TIMEOUT_S:
            raise InvalidInput(f"timeout: must be more than 0 and at most {MAX_TEST_TIMEOUT_S:g} seconds")
        started = time.monotonic()
        status = await self._monitoring.probe(config, timeout=timeout)
        check = ConnectionCheck.from_status(status, seconds=round(time.monotonic() - started, 3))
        log.info(
            "printer.connection_tested",
            printer_id=config.id,
            printer_kind=config.kind.value,
            ok=check.ok,
            state=check.state.value,
            offline_reason=check.offline_reason.value if check.offline_reason else None,
            seconds=check.seconds,
        )
        return check

    async def test_existing(
        self,
        printer_id: str,
        changes: dict[str, object] | None = None,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - expiry is an answer, not an error
    ) -> ConnectionCheck:
        """Test a stored printer's configuration with ``changes`` applied (as :meth:`update` takes them), unsaved.

        This is the edit form's test: secrets not in ``changes`` keep their stored value, but only for the stored
        address: with ``host`` or ``url`` changed, every stored secret must be in ``changes`` (InvalidInput
        otherwise; nothing is sent). The stored printer and its live connection are left alone.
        Raises PrinterNotFound, and InvalidInput as :meth:`update` and :meth:`test_connection`.
        """
        current, _ = await self.get(printer_id)
        return await self.test_connection(_edited(current, changes or {}), timeout=timeout)

    async def delete(self, printer_id: str) -> None:
        """Disconnect and delete a printer; raises PrinterNotFound."""
        await self._repository.delete_printer(printer_id)
        await self._monitoring.unwatch(printer_id, removed=True)
        for listener in self._on_removed:
            await listener(printer_id)
        log.info("printer.deleted", printer_id=printer_id)
        self._changed(printer_id)

    async def reconcile(self, printer_id: str) -> None:
        """Make this process's connection to ``printer_id`` follow the stored configuration, which another process
        of the farm added, edited or deleted (that process did the rest: jobs closed, queue told). Raises
        StoreUnavailable."""
        stored = await self._repository.get_printer(printer_id)
        live = self._monitoring.config(printer_id)
        if stored is None and live is not None:
            await self._monitoring.unwatch(printer_id, removed=True)
            log.info("printer.deleted_elsewhere", printer_id=printer_id)
        elif stored is not None and live is None:
            for listener in self._on_added:
                listener(printer_id)
            self._monitoring.add(stored)
            log.info("printer.added_elsewhere", printer_id=printer_id, printer_kind=stored.kind.value)
        elif stored is not None and stored != live:
            await self._monitoring.rewatch(stored)
            log.info("printer.updated_elsewhere", printer_id=printer_id)

    async def reconcile_all(self) -> None:
        """:meth:`reconcile` every printer stored or watched here. Raises StoreUnavailable."""
        stored = {config.id for config in await self._repository.list_printers()}
        watched = {config.id for config, _ in self._monitoring.watched()}
        for printer_id in sorted(stored | watched):
            await self.reconcile(printer_id)

    async def preview(self, printer_id: str) -> Thumbnail:
        """The preview image of the print under way, as the printer serves it (``status.extra["thumbnail"]``: a
        PrusaLink job's ``refs.thumbnail``). Raises PrinterNotFound, NotFound (no print, or no preview), and
        PrinterNotConnected / PrinterCommandRejected from the printer."""
        config, status = await self.get(printer_id)
        path = status.extra.get("thumbnail") if status is not None and status.state.is_active else None
        if path is None:
            raise NotFound(f"printer {printer_id!r} shows no preview now")
        connection = self._monitoring.connection(printer_id)
        if isinstance(connection, PreviewSource):
            return await connection.preview(path)
        if connection is None and self.detached is not None:  # another process of the farm owns the printer
            unconnected = self.detached(config)
            if isinstance(unconnected, DetachedPreviewSource):
                return await unconnected.preview_once(path)
        raise NotFound(f"printer {printer_id!r} shows no preview now")

    async def command(self, printer_id: str, command: PrinterCommand) -> None:
        """Send pause, resume or stop to a printer (through the process that owns it, in a shared farm).

        Raises PrinterNotFound, PrinterNotConnected (offline), PrinterCommandRejected (the printer said no).
        """
        await self.get(printer_id)
        connection = self._monitoring.connection(printer_id)
        if connection is None and self.relay is not None and self._monitoring.config(printer_id) is not None:
            await self.relay(printer_id, command.value)  # another process of the farm owns the printer
            log.info("printer.command_relayed", printer_id=printer_id, command=command.value)
            return
        await self.command_here(printer_id, command)

    async def command_here(self, printer_id: str, command: PrinterCommand) -> None:
        """Send pause, resume or stop to a printer connected to this process. Raises PrinterNotConnected (offline,
        or not connected here), PrinterCommandRejected."""
        connection = self._monitoring.connection(printer_id)
        if connection is None:
            raise PrinterNotConnected(printer_id, "not connected")
        if command is PrinterCommand.PAUSE:
            await connection.pause()
        elif command is PrinterCommand.RESUME:
            await connection.resume()
        else:
            await connection.stop()
        log.info("printer.command_sent", printer_id=printer_id, command=command.value)
