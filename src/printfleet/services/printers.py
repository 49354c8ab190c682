"""Printer management: add, edit and remove printers at run time, seed from the configuration file, commands.

Every change is persisted first, then the live connection is started, restarted or closed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum

import structlog

from printfleet.domain.printer import (
    PrinterConfig,
    PrinterNotConnected,
    PrinterStatus,
)
from printfleet.services.errors import InvalidInput, PrinterNotFound
from printfleet.services.monitoring import MonitoringService
from printfleet.services.ports import PrinterRepository

log = structlog.get_logger("printfleet.printers")


class PrinterCommand(StrEnum):
    """Commands every printer kind accepts."""

    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"


def _check(config: PrinterConfig) -> None:
    problems = config.problems()
    if problems:
        raise InvalidInput("; ".join(f"{name}: {message}" for name, message in problems))


class PrinterService:
    """Use cases on printers. Raises PrinterNotFound, PrinterAlreadyExists, InvalidInput (services.errors),
    and PrinterNotConnected / PrinterCommandRejected (domain) for commands."""

    def __init__(
        self,
        *,
        repository: PrinterRepository,
        monitoring: MonitoringService,
        on_removed: Sequence[Callable[[str], Awaitable[None]]] = (),
    ) -> None:
        self._repository = repository
        self._monitoring = monitoring
        self._on_removed = tuple(on_removed)

    async def seed(self, configs: Sequence[PrinterConfig]) -> None:
        """Insert or overwrite the configuration file's printers (before monitoring starts)."""
        for config in configs:
            _check(config)
        await self._repository.upsert_printers(configs)

    async def list(self) -> list[tuple[PrinterConfig, PrinterStatus | None]]:
        """Every printer with its live status (None when not watched), ordered by id."""
        return [(config, self._monitoring.status(config.id)) for config in await self._repository.list_printers()]

    async def get(self, printer_id: str) -> tuple[PrinterConfig, PrinterStatus | None]:
        """One printer with its live status; raises PrinterNotFound."""
        config = await self._repository.get_printer(printer_id)
        if config is None:
            raise PrinterNotFound(printer_id)
        return config, self._monitoring.status(printer_id)

    async def add(self, config: PrinterConfig) -> PrinterConfig:
        """Persist a new printer and connect to it; raises InvalidInput, PrinterAlreadyExists."""
        _check(config)
        await self._repository.add_printer(config)
        self._monitoring.watch(config)
        log.info("printer.added", printer_id=config.id, printer_kind=config.kind.value)
        return config

    async def update(self, printer_id: str, changes: dict[str, object]) -> PrinterConfig:
        """Apply ``changes`` (field → value; secrets as domain ``Secret``) and reconnect.

        Raises PrinterNotFound, InvalidInput (also for an attempt to change ``id`` or ``kind``).
        """
        current, _ = await self.get(printer_id)
        for frozen in ("id", "kind"):
            if frozen in changes and changes[frozen] != getattr(current, frozen):
                raise InvalidInput(f"{frozen}: cannot be changed; delete the printer and add it again")
        updated = current.replace(**{k: v for k, v in changes.items() if k not in ("id", "kind")})
        _check(updated)
        await self._repository.update_printer(updated)
        await self._monitoring.rewatch(updated)
        log.info("printer.updated", printer_id=printer_id, fields=sorted(changes))
        return updated

    async def delete(self, printer_id: str) -> None:
        """Disconnect and delete a printer; raises PrinterNotFound."""
        await self._repository.delete_printer(printer_id)
        await self._monitoring.unwatch(printer_id, removed=True)
        for listener in self._on_removed:
            await listener(printer_id)
        log.info("printer.deleted", printer_id=printer_id)

    async def command(self, printer_id: str, command: PrinterCommand) -> None:
        """Send pause, resume or stop to a printer.

        Raises PrinterNotFound, PrinterNotConnected (offline), PrinterCommandRejected (the printer said no).
        """
        await self.get(printer_id)
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
