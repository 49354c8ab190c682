"""What a printer's own reports announce: a new error code (``hms_error``, or ``filament_runout`` for the codes that
mean a spool ran out) and a printer gone offline for longer than a grace period (``printer_offline``).

:class:`PrinterWatch` is pure: it is fed each printer status as it changes and asked which offline printers are due;
it answers with domain events (:class:`~printfleet.domain.events.PrinterErrorRaised`,
:class:`~printfleet.domain.events.PrinterWentOffline`). Rules:

- An error code is announced when it appears: present in a report, absent from the previous one. A code still
  showing in the next report is the same error; a code that clears and comes back is a new one. The codes a printer
  shows in its first report after start-up are taken as known (they may have been announced before the restart),
  and a printer going offline keeps its codes, so a reconnect announces nothing again.
- A printer of another kind that reports the ``error`` state without a code is announced once per entry into it.
- A printer that was online since start-up and then stays offline for ``grace`` is announced once, with the moment
  it went offline; coming back online ends the episode. Printers never reached since start-up are not announced
  (their card says why), nor are printers another printfleet process holds.

Runout codes (materials-notifications research §1.8, from Bambu's HMS texts as shipped by ha-bambulab):
``print_error`` 0x03008015 (external spool), 0x12008011 (AMS Lite), 0x18FE8011 / 0x18FF8011 (H2D left / right
external spool); HMS ``07XX_2000_0002_000N`` ("AMS <unit> slot <n> filament has run out") and
``07XX_2000_0003_000N`` (ran out and switched to a backup spool of the same filament), ``12XX_2000_…`` the same for
AMS Lite.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from printfleet.domain.events import PrinterErrorRaised, PrinterWentOffline
from printfleet.domain.notifications.error_texts import ENGLISH, error_text
from printfleet.domain.printer import OfflineReason, PrinterState, PrinterStatus
from printfleet.domain.printer_errors import known_error

__all__ = ["ENGLISH", "PrinterWatch", "error_text", "is_runout"]

_NOT_ANNOUNCED_OFFLINE = frozenset({OfflineReason.CONNECTING, OfflineReason.OWNED_ELSEWHERE})


def is_runout(code: str) -> bool:
    """True for an error code (as in ``PrinterStatus.error_codes``) that means a spool ran out."""
    known = known_error(code)
    return known is not None and known.is_runout


@dataclass(slots=True)
class _Seen:
    codes: tuple[str, ...] = ()
    in_error: bool = False
    online: bool = False
    offline_since: datetime | None = None
    offline_reason: OfflineReason | None = None
    offline_detail: str | None = None
    announced: bool = False


class PrinterWatch:
    """Per-printer memory of error codes and offline episodes (pure; see the module text for the rules).

    ``grace``: how long a printer must stay offline before it is announced (``notifications.offline_grace``)."""

    def __init__(self, grace: timedelta) -> None:
        self.grace = grace
        self._printers: dict[str, _Seen] = {}

    def observe(self, printer_id: str, status: PrinterStatus, now: datetime) -> list[PrinterErrorRaised]:
        """Take a printer's new status (at ``now``, aware UTC); the errors it raises."""
        seen = self._printers.get(printer_id)
        if seen is None:
            seen = self._printers[printer_id] = _Seen()
        if status.state is PrinterState.OFFLINE:
            if seen.online and seen.offline_since is None and status.offline_reason not in _NOT_ANNOUNCED_OFFLINE:
                seen.offline_since = now
                seen.offline_reason = status.offline_reason
                seen.offline_detail = status.offline_detail
                seen.announced = False
            return []
        known = seen.online  # the first report after start-up only sets what is known
        seen.online = True
        seen.offline_since = None
        raised: list[PrinterErrorRaised] = []
        if known:
            raised = [
                PrinterErrorRaised(
                    printer_id=printer_id, code=code, text=error_text(code), runout=is_runout(code), occurred_at=now
                )
                for code in status.error_codes
                if code not in seen.codes
            ]
            entered_error = status.state is PrinterState.ERROR and not seen.in_error
            if entered_error and not status.error_codes:
                raised.append(
                    PrinterErrorRaised(printer_id=printer_id, code=None, text=None, runout=False, occurred_at=now)
                )
        seen.codes = status.error_codes
        seen.in_error = status.state is PrinterState.ERROR
        return raised

    def due(self, now: datetime) -> list[PrinterWentOffline]:
        """The printers offline for ``grace`` by ``now`` and not yet announced in this episode (each once)."""
        found: list[PrinterWentOffline] = []
        for printer_id, seen in self._printers.items():
            since = seen.offline_since
            if since is None or seen.announced or now - since < self.grace:
                continue
            seen.announced = True
            found.append(
                PrinterWentOffline(
                    printer_id=printer_id,
                    since=since,
                    reason=seen.offline_reason.value if seen.offline_reason is not None else None,
                    detail=seen.offline_detail,
                )
            )
        return found

    def next_due(self) -> datetime | None:
        """When :meth:`due` will next have something (None: no printer is waiting out its grace)."""
        pending = [
            seen.offline_since + self.grace
            for seen in self._printers.values()
            if seen.offline_since is not None and not seen.announced
        ]
        return min(pending, default=None)

    def forget(self, printer_id: str) -> None:
        """Drop a removed printer."""
        self._printers.pop(printer_id, None)
