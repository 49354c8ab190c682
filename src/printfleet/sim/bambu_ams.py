"""The simulated Bambu printer's AMS: one unit of four trays and the external spool, rendered as firmware pushes
them (research materials-notifications.md §1 and its samples: ``ams_full_pushall_x1c.json``,
``ams_partial_updates_p1s.json``).

At start AMS 0 holds two Bambu RFID spools (stable ``tray_uuid`` per printer and tray, ``tray_weight`` "1000",
``remain`` %), a third-party spool set up by hand (no tag: zero ids, ``tray_weight`` "0", ``remain`` -1) and nothing
in tray 3 (only ``{"id": "3"}``). Presence is ``tray_exist_bits``; a spool taken out clears only its bit while the
tray still echoes its old fields, as firmware does (Bambuddy #2670).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

_TRAYS = (
    ("PLA", "PLA Basic", "FFFFFFFF", "GFA00", True),
    ("PLA", "PLA Matte", "000000FF", "GFA01", True),
    ("PETG", "", "FF6A13FF", "GFG99", False),
    ("", "", "", "", False),
)
_ZERO_TAG = "0" * 16
_ZERO_UUID = "0" * 32


@dataclass
class _Tray:
    kind: str  # tray_type; "" = empty slot
    color: str
    info_idx: str
    remain: int  # %, -1 unknown
    sub_brand: str = ""
    uuid: str | None = None  # the RFID spool id (tray_uuid); None: untagged
    present: bool = True  # its tray_exist_bits bit


class SimulatedAms:
    """AMS 0 (four trays) and the empty external spool of the simulated printer with serial ``serial``."""

    def __init__(self, serial: str) -> None:
        self.serial = serial
        self.trays = [
            _Tray(
                kind=kind,
                color=color,
                info_idx=info_idx,
                remain=100 - 15 * n if tagged else -1,
                sub_brand=sub_brand,
                uuid=self.tray_uuid(n) if tagged else None,
                present=bool(kind),
            )
            for n, (kind, sub_brand, color, info_idx, tagged) in enumerate(_TRAYS)
        ]

    def tray_uuid(self, tray_id: int) -> str:
        """The RFID spool id of the spool first in tray ``tray_id``: 32 hex digits, unique per printer."""
        return hashlib.sha256(f"{self.serial}:{tray_id}".encode()).hexdigest()[:32].upper()

    def set_tray(
        self, tray_id: int, *, tray_type: str | None = None, color: str | None = None, remain: int | None = None
    ) -> None:
        """Change tray ``tray_id``'s material, colour or ``remain`` % (a material in an empty tray puts it in)."""
        tray = self.trays[tray_id]
        if tray_type is not None and not tray.kind:
            tray.present = True
        if tray_type is not None:
            tray.kind = tray_type
        if color is not None:
            tray.color = color
        if remain is not None:
            tray.remain = remain

    def remove(self, tray_id: int) -> None:
        """Take the spool out of tray ``tray_id``: its exist bit clears; its fields stay in the reports."""
        self.trays[tray_id].present = False

    def insert(
        self, tray_id: int, *, tray_type: str, color: str, remain: int = 100, rfid: bool = True, sub_brand: str = ""
    ) -> str | None:
        """Put a spool in tray ``tray_id``: an RFID spool (a new ``tray_uuid``, returned) or an untagged one."""
        tray = self.trays[tray_id]
        uuid = hashlib.sha256(f"{self.serial}:{tray_id}:{secrets.token_hex(4)}".encode()).hexdigest()[:32].upper()
        tray.kind, tray.color, tray.present = tray_type, color, True
        tray.uuid = uuid if rfid else None
        tray.remain = remain if rfid else -1
        tray.sub_brand = sub_brand or (f"{tray_type} Basic" if rfid else "")
        tray.info_idx = "GFA00" if rfid else "GFL99"
        return tray.uuid

    def render(self, *, used: int, feeding: bool, loading: bool) -> dict[str, Any]:
        """The ``print.ams`` object now: ``used`` % taken from tray 0 by the print so far; ``feeding`` tray 0 feeds
        the nozzle (``tray_now``); ``loading`` it is the target (``tray_tar``)."""
        trays = [self._tray(index, tray, used) for index, tray in enumerate(self.trays)]
        exist_bits = sum(1 << index for index, tray in enumerate(self.trays) if tray.present and tray.kind)
        bbl_bits = sum(1 << index for index, tray in enumerate(self.trays) if tray.present and tray.uuid)
        unit = {
            "id": "0",
            "humidity": "4",
            "humidity_raw": "23",
            "temp": "24.5",
            "dry_time": 0,
            "info": "1001",
            "tray": trays,
        }
        return {
            "ams": [unit],
            "ams_exist_bits": "1",
            "tray_exist_bits": f"{exist_bits:x}",
            "tray_is_bbl_bits": f"{bbl_bits:x}",
            "tray_read_done_bits": f"{exist_bits:x}",
            "tray_reading_bits": "0",
            "tray_now": "0" if feeding else "255",
            "tray_tar": "0" if loading else "255",
            "tray_pre": "0",
            "version": 4,
            "insert_flag": True,
            "power_on_flag": False,
        }

    @staticmethod
    def external() -> dict[str, Any]:
        """The empty external spool (``vt_tray``)."""
        return {
            "id": "254",
            "tray_type": "",
            "tray_color": "00000000",
            "tray_weight": "0",
            "remain": 0,
            "tag_uid": _ZERO_TAG,
            "tray_uuid": _ZERO_UUID,
        }

    @staticmethod
    def _tray(index: int, tray: _Tray, used: int) -> dict[str, Any]:
        if not tray.kind:
            return {"id": str(index)}
        tagged = tray.uuid is not None
        remain = tray.remain - used if index == 0 and tray.remain >= 0 else tray.remain
        pla = tray.kind == "PLA"
        return {
            "id": str(index),
            "tray_id_name": f"A00-{tray.color[:2]}" if tagged else "",
            "tray_type": tray.kind,
            "tray_sub_brands": tray.sub_brand if tagged else "",
            "tray_color": tray.color,
            "cols": [tray.color],
            "ctype": 0,
            "tray_info_idx": tray.info_idx,
            "remain": max(remain, 0) if tagged else remain,
            "state": 11,
            "tag_uid": f"{int(tray.uuid[:16], 16) ^ 0x5A5A:016X}" if tray.uuid else _ZERO_TAG,
            "tray_uuid": tray.uuid or _ZERO_UUID,
            "tray_weight": "1000" if tagged else "0",
            "tray_diameter": "1.75",
            "total_len": 330000,
            "nozzle_temp_min": "190" if pla else "220",
            "nozzle_temp_max": "230" if pla else "260",
            "bed_temp": "35",
            "bed_temp_type": "1",
            "drying_temp": "55",
            "drying_time": "8",
            "k": 0.02,
            "n": 1.0,
            "cali_idx": -1,
        }
