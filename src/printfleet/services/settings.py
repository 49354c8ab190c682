"""Run-time settings: automatic job creation on/off and the monitoring interval, persisted and effective at once.

The configuration file (and ``JOB_CREATION_AUTO_CREATE``) give the initial values; a value saved through the API is
stored and wins from then on, across restarts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from printfleet.domain.events import SettingsUpdated
from printfleet.services.errors import InvalidInput
from printfleet.services.events import EventBus
from printfleet.services.ports import SettingsRepository

log = structlog.get_logger("printfleet.settings")

AUTO_CREATE = "job_creation_auto_create"
MONITORING_INTERVAL = "monitoring_interval"

SettingsListener = Callable[[dict[str, Any], dict[str, Any]], Awaitable[None]]
"""``await listener(old, new)`` after settings changed and were stored."""


def _check(key: str, value: Any) -> Any:
    if key == AUTO_CREATE:
        if not isinstance(value, bool):
            raise InvalidInput(f"{AUTO_CREATE}: must be true or false")
        return value
    if key == MONITORING_INTERVAL:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.5 <= value <= 3600:
            raise InvalidInput(f"{MONITORING_INTERVAL}: must be a number of seconds from 0.5 to 3600")
        return float(value)
    raise InvalidInput(f"{key}: unknown setting (known: {AUTO_CREATE}, {MONITORING_INTERVAL})")


class SettingsService:
    """Holds the current settings in memory (read on every print start, so no query per report)."""

    def __init__(self, *, repository: SettingsRepository, bus: EventBus, auto_create: bool, monitoring_interval: float):
        self._repository = repository
        self._bus = bus
        self._values: dict[str, Any] = {AUTO_CREATE: auto_create, MONITORING_INTERVAL: monitoring_interval}
        self._listeners: list[SettingsListener] = []

    async def load(self) -> None:
        """Overlay the stored values on the configured ones (stored values that no longer validate are ignored)."""
        for key, value in (await self._repository.get_all()).items():
            try:
                self._values[key] = _check(key, value)
            except InvalidInput as exc:
                log.warning("settings.stored_value_ignored", key=key, problem=exc.message)

    async def reload(self) -> bool:
        """Read the stored values again (another process of the farm changed them): when something changed, apply
        it as :meth:`update` does (listeners called) and publish it as a remote event (for pages only: the other
        process announced it already). Whether something changed."""
        old = self.snapshot()
        await self.load()
        new = self.snapshot()
        if new == old:
            return False
        log.info("settings.reloaded", changes={key: value for key, value in new.items() if old.get(key) != value})
        self._bus.publish(SettingsUpdated(settings=new), remote=True)
        for listener in self._listeners:
            await listener(old, new)
        return True

    def add_listener(self, listener: SettingsListener) -> None:
        """Call ``listener(old, new)`` after every change."""
        self._listeners.append(listener)

    @property
    def auto_create(self) -> bool:
        """Whether prints that start create jobs automatically (the global setting)."""
        return bool(self._values[AUTO_CREATE])

    @property
    def monitoring_interval(self) -> float:
        """Default poll interval of polled printers, seconds."""
        return float(self._values[MONITORING_INTERVAL])

    def snapshot(self) -> dict[str, Any]:
        """Every setting and its value."""
        return dict(self._values)

    async def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Validate, store and apply ``changes``; raises InvalidInput naming the bad key. Returns all settings."""
        checked = {key: _check(key, value) for key, value in changes.items()}
        old = self.snapshot()
        for key, value in checked.items():
            await self._repository.set(key, value)
        self._values.update(checked)
        new = self.snapshot()
        log.info("settings.updated", changes=checked)
        self._bus.publish(SettingsUpdated(settings=new))
        for listener in self._listeners:
            await listener(old, new)
        return new
