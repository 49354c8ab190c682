"""How printfleet shows a printer's status: the printer's own report plus what only printfleet knows.

:class:`ShownStatus` fills in, for every status the monitoring service hands out or publishes, the fields adapters
leave unset (see :class:`~printfleet.domain.printer.PrinterStatus`): ``plate_needs_clearing``, ``sending``,
``slot_spools``, ``next_print`` and ``thumbnail_url``. Each comes from a lookup the composition root sets, answered
from memory (no I/O: a status is shown many times a second on a large farm).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from urllib.parse import quote

from printfleet.domain.materials.slots import SlotSpool
from printfleet.domain.printer import PrinterConfig, PrinterStatus, UpNext


class ShownStatus:
    """The lookups, by printer id, and :meth:`of`, which applies them. Until set, each lookup answers "nothing".

    - ``plate``: whether the printer's plate needs clearing;
    - ``sending``: the step of the print printfleet is sending the printer (``uploading``, ``starting``…; None);
    - ``spools``: the spools printfleet knows in the printer's slots, by slot label;
    - ``next_print``: the scheduled print predicted next on the printer;
    - ``thumbnail``: the preview URL of the print under way.
    """

    def __init__(self) -> None:
        self.plate: Callable[[str], bool] = lambda _printer_id: False
        self.sending: Callable[[str], str | None] = lambda _printer_id: None
        self.spools: Callable[[str], dict[str, SlotSpool]] = lambda _printer_id: {}
        self.next_print: Callable[[str], UpNext | None] = lambda _printer_id: None
        self.thumbnail: Callable[[str], str | None] = lambda _printer_id: None

    def of(self, config: PrinterConfig, status: PrinterStatus) -> PrinterStatus:
        """``status`` as printfleet shows it (the same object when nothing differs). A print under way without a
        preview of printfleet's own shows the printer's (PrusaLink's ``extra["thumbnail"]``) through the web UI."""
        flag = self.plate(config.id)
        sending = self.sending(config.id)
        spools = self.spools(config.id)
        up_next = self.next_print(config.id)
        thumbnail = None
        if status.state.is_active:
            thumbnail = self.thumbnail(config.id)
            if thumbnail is None and "thumbnail" in status.extra:  # the printer serves one (PrusaLink)
                # ``of`` tells one print's picture from the next for the browser's cache; a digest, so that the
                # printer's path (a DOS alias such as BENCHY~1.BGC) never reaches the page
                of = hashlib.sha256(status.extra["thumbnail"].encode()).hexdigest()[:16]
                thumbnail = f"/ui/printers/{quote(config.id)}/preview?of={of}"
        if (
            flag is status.plate_needs_clearing
            and sending == status.sending
            and spools == status.slot_spools
            and up_next == status.next_print
            and thumbnail == status.thumbnail_url
        ):
            return status
        return dataclasses.replace(
            status,
            plate_needs_clearing=flag,
            sending=sending,
            slot_spools=spools,
            next_print=up_next,
            thumbnail_url=thumbnail,
        )

    def of_shared(self, config: PrinterConfig, status: PrinterStatus) -> PrinterStatus:
        """A status another process of the farm shared, as this process shows it: the owner's print being sent,
        spools and preview kept (it alone knows them), the plate and the next print from this process's lookups
        (the store keeps both and the farm announces their changes)."""
        flag = self.plate(config.id)
        up_next = self.next_print(config.id)
        if flag is status.plate_needs_clearing and up_next == status.next_print:
            return status
        return dataclasses.replace(status, plate_needs_clearing=flag, next_print=up_next)
