"""Bambu ingest: reports per second through the adapter's per-message path, on one core.

What is measured: the work :meth:`printfleet.printers.bambu.client.BambuConnection._handle` does for each MQTT
message, with the same functions in the same order: ``parse_payload`` (``json.loads`` + object check), then
``apply_report`` into the kept state, then the slot tracker (``SlotTracker.take``: the report's material parts
through the pure AMS merge, and the slots re-read when they changed), then — only when something changed and the
state is not a placeholder — ``normalise(state, last_seen=utcnow(), material_slots=...)``. Left out: the Prometheus
counter and the hand-off to the monitoring service (an ``await`` of the sink), which are not parsing; the reply
matching returns at once with no command pending, as here.

The messages are built up front as bytes (compact JSON as a printer sends it) and replayed in order: a P1/X1
printing a long print, one full ``push_status`` (the ``pushall`` answer: every field, 4 AMS trays, one empty)
followed by 100 partial reports, one per second, carrying only what changed that second — nozzle and bed
temperatures nearly always, ``mc_print_line_number``, now and then ``mc_percent``, ``mc_remaining_time``,
``layer_num``, fan speeds, ``wifi_signal``, the chamber temperature, the AMS unit's humidity/temperature or one
tray's ``remain``. Field names and shapes are the firmware's (PROTOCOLS.md, and the same as
:mod:`printfleet.sim.bambu`'s render). The stream is deterministic (seeded).

The AMS-heavy variant replays the same stream with the whole ``ams`` object (4 trays) in every report, as an X1
sends it; its target is the same ratio to bare ``json.loads`` on its own (larger) messages.

How: ``time.perf_counter`` around a loop over all messages; one warm-up pass, then the best of 5 runs. Each run
starts from an empty kept state (so the first message is the full report, as after a connect) and decodes every
message afresh (``apply_report`` may keep the decoded objects). The baseline is bare ``json.loads`` over the same
bytes; the ratio ingest / ``json.loads`` says how much the merge and normalisation cost on top of decoding.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench import Figure
from printfleet.printers.bambu.protocol import apply_report, is_placeholder, normalise, parse_payload
from printfleet.printers.bambu.slots import SlotTracker
from printfleet.printers.base import utcnow

__all__ = ["TARGET_RATE", "TARGET_RATIO", "build_messages", "ingest_all", "json_loads_all", "run"]

TARGET_RATE = 25_000.0
"""Reports per second the full ingest path must sustain on one core."""
TARGET_RATIO = 0.25
"""Ingest rate over bare ``json.loads`` rate."""
PARTIALS_PER_FULL = 100
CYCLES = 40
"""40 x (1 full + 100 partials) = 4,040 messages per run: about 0.1 s at the target, long enough to time."""
RUNS = 5

_TRAYS = (
    ("PLA", "PLA Basic", "FFFFFFFF", "GFA00", 87),
    ("PLA", "PLA Matte", "000000FF", "GFA01", 64),
    ("PETG", "PETG HF", "FF6A13FF", "GFG02", 35),
)


def _ams_block(state: dict[str, Any]) -> dict[str, Any]:
    """The whole ``ams`` object as a ``pushall`` answer (and every X1 report) carries it: one AMS, 3 RFID spools."""
    trays: list[dict[str, Any]] = [
        {
            "id": str(index),
            "remain": state["remain"][index],
            "k": 0.02,
            "n": 1.399999976158142,
            "cali_idx": -1,
            "tag_uid": f"{0x1A2B3C4D5E6F7000 + index:016X}",
            "tray_id_name": f"A00-{kind[0]}{index}",
            "tray_info_idx": info_idx,
            "tray_type": kind,
            "tray_sub_brands": sub_brand,
            "tray_color": color,
            "tray_weight": "1000",
            "tray_diameter": "1.75",
            "tray_temp": "55",
            "tray_time": "8",
            "bed_temp_type": "1",
            "bed_temp": "35",
            "nozzle_temp_max": "230",
            "nozzle_temp_min": "190",
            "xcam_info": "803E803EE803E8039A99193F",
            "tray_uuid": f"{index:032X}",
            "ctype": 0,
            "cols": [color],
        }
        for index, (kind, sub_brand, color, info_idx, _) in enumerate(_TRAYS)
    ]
    trays.append({"id": "3"})  # an empty slot is only its id
    return {
        "ams": [{"id": "0", "humidity": state["humidity"], "temp": state["ams_temp"], "tray": trays}],
        "ams_exist_bits": "1",
        "tray_exist_bits": "7",
        "tray_is_bbl_bits": "7",
        "tray_tar": "0",
        "tray_now": "0",
        "tray_pre": "0",
        "tray_read_done_bits": "7",
        "tray_reading_bits": "0",
        "version": 4,
        "insert_flag": True,
        "power_on_flag": False,
    }


def _full_report(state: dict[str, Any], sequence: int) -> dict[str, Any]:
    """The answer to ``pushall``: everything, including fields the adapter ignores (as a real printer sends)."""
    return {
        "print": {
            "command": "push_status",
            "msg": 0,
            "sequence_id": str(sequence),
            "upload": {"status": "idle", "progress": 0, "message": ""},
            "nozzle_temper": state["nozzle"],
            "nozzle_target_temper": 220,
            "bed_temper": state["bed"],
            "bed_target_temper": 60,
            "chamber_temper": state["chamber"],
            "mc_print_stage": "2",
            "heatbreak_fan_speed": "15",
            "cooling_fan_speed": state["fan"],
            "big_fan1_speed": "0",
            "big_fan2_speed": "0",
            "mc_percent": state["percent"],
            "mc_remaining_time": state["remaining"],
            "ams_status": 768,
            "ams_rfid_status": 6,
            "hw_switch_state": 1,
            "spd_mag": 100,
            "spd_lvl": 2,
            "print_error": 0,
            "lifecycle": "product",
            "wifi_signal": state["wifi"],
            "gcode_state": "RUNNING",
            "gcode_file_prepare_percent": "100",
            "queue_number": 0,
            "queue_total": 0,
            "queue_est": 0,
            "queue_sts": 0,
            "project_id": "0",
            "profile_id": "0",
            "task_id": "0",
            "subtask_id": "0",
            "subtask_name": "gearbox_housing_v3",
            "gcode_file": "gearbox_housing_v3.gcode.3mf",
            "stg": [2, 14, 1],
            "stg_cur": 0,
            "print_type": "local",
            "home_flag": 6145944,
            "mc_print_line_number": str(state["line"]),
            "mc_print_sub_stage": 0,
            "sdcard": True,
            "force_upgrade": False,
            "mess_production_state": "active",
            "layer_num": state["layer"],
            "total_layer_num": 412,
            "s_obj": [],
            "filam_bak": [],
            "fan_gear": 12579,
            "nozzle_diameter": "0.4",
            "nozzle_type": "hardened_steel",
            "upgrade_state": {
                "sequence_id": 0,
                "progress": "",
                "status": "",
                "consistency_request": False,
                "dis_state": 0,
                "err_code": 0,
                "force_upgrade": False,
                "message": "",
                "module": "",
                "new_version_state": 2,
                "new_ver_list": [],
            },
            "hms": [],
            "online": {"ahb": False, "rfid": False, "version": 7},
            "ams": _ams_block(state),
            "ipcam": {"ipcam_dev": "1", "ipcam_record": "enable", "timelapse": "disable", "resolution": "1080p"},
            "xcam": {
                "allow_skip_parts": False,
                "buildplate_marker_detector": True,
                "first_layer_inspector": True,
                "halt_print_sensitivity": "medium",
                "print_halt": True,
                "printing_monitor": True,
                "spaghetti_detector": True,
            },
            "lights_report": [{"node": "chamber_light", "mode": "on"}],
            "vt_tray": {"id": "254", "tray_type": "", "tray_color": "00000000", "remain": 0, "k": 0.02, "n": 1.4},
            "net": {"conf": 16, "info": [{"ip": 1677830336, "mask": 16777215}, {"ip": 0, "mask": 0}]},
        }
    }


def _partial_report(
    second: int, state: dict[str, Any], rng: random.Random, sequence: int, *, full_ams: bool = False
) -> dict[str, Any]:
    """One second of a printing P1/X1: only the fields whose value changed since the last report; with
    ``full_ams`` the whole ``ams`` object too, changed or not (an X1)."""
    fields: dict[str, Any] = {}

    def update(key: str, wire_key: str, value: Any) -> None:
        if state[key] != value:
            state[key] = value
            fields[wire_key] = value

    # Temperatures are read with sub-degree noise: almost every report carries one or both.
    update("nozzle", "nozzle_temper", round(220 + rng.uniform(-0.4, 0.4), 1))
    update("bed", "bed_temper", round(60 + rng.uniform(-0.25, 0.25), 1))
    state["line"] += rng.randint(40, 400)
    fields["mc_print_line_number"] = str(state["line"])
    # A 7-hour print: 1 % every ~4 minutes is too slow for a 100 s window, so progress moves every ~25 s.
    update("percent", "mc_percent", min(99, 30 + second // 25))
    update("remaining", "mc_remaining_time", max(1, 290 - second // 60))
    update("layer", "layer_num", min(412, 120 + second // 9))
    if rng.random() < 0.1:
        update("chamber", "chamber_temper", round(31 + rng.uniform(-0.5, 0.5), 1))
    if rng.random() < 0.15:
        update("fan", "cooling_fan_speed", rng.choice(("12", "13", "15")))
    if rng.random() < 0.08:
        update("wifi", "wifi_signal", f"-{rng.randint(42, 49)}dBm")
    ams_units: list[dict[str, Any]] = []
    if rng.random() < 0.05:
        update("humidity", "humidity", rng.choice(("3", "4")))
        state["ams_temp"] = f"{rng.uniform(26.5, 27.5):.1f}"
        ams_units.append({"id": "0", "humidity": state["humidity"], "temp": state["ams_temp"]})
        fields.pop("humidity", None)
    if second % 37 == 0:  # filament use shows on the active tray now and then
        state["remain"][0] = max(0, state["remain"][0] - 1)
        tray = {"id": "0", "remain": state["remain"][0]}
        if ams_units:
            ams_units[0]["tray"] = [tray]
        else:
            ams_units.append({"id": "0", "tray": [tray]})
    if full_ams:
        fields["ams"] = _ams_block(state)
    elif ams_units:
        fields["ams"] = {"ams": ams_units}
    return {"print": {"command": "push_status", "msg": 1, "sequence_id": str(sequence), **fields}}


def build_messages(
    *, cycles: int = CYCLES, partials: int = PARTIALS_PER_FULL, seed: int = 2024, full_ams: bool = False
) -> list[bytes]:
    """``cycles`` x (1 full ``push_status`` + ``partials`` partial reports) as compact JSON bytes; with ``full_ams``
    every partial also carries the whole ``ams`` object (the AMS-heavy stream)."""
    rng = random.Random(seed)
    state: dict[str, Any] = {
        "nozzle": 220.0,
        "bed": 60.0,
        "chamber": 31.0,
        "fan": "15",
        "wifi": "-45dBm",
        "percent": 30,
        "remaining": 290,
        "layer": 120,
        "line": 180_000,
        "humidity": "4",
        "ams_temp": "27.1",
        "remain": [tray[4] for tray in _TRAYS],
    }
    messages: list[bytes] = []
    sequence = 2000
    second = 0
    for _ in range(cycles):
        sequence += 1
        report = _full_report(state, sequence)
        messages.append(json.dumps(report, separators=(",", ":")).encode())
        for _ in range(partials):
            second += 1
            sequence += 1
            messages.append(
                json.dumps(
                    _partial_report(second, state, rng, sequence, full_ams=full_ams), separators=(",", ":")
                ).encode()
            )
    return messages


def json_loads_all(messages: Sequence[bytes]) -> int:
    """Bare ``json.loads`` of every message; returns how many were decoded."""
    loads = json.loads
    for raw in messages:
        loads(raw)
    return len(messages)


def ingest_all(messages: Sequence[bytes]) -> int:
    """What ``BambuConnection._handle`` does per message, into one fresh kept state; returns statuses emitted."""
    state: dict[str, Any] = {}
    slots = SlotTracker()
    emitted = 0
    for raw in messages:
        payload = parse_payload(raw)
        state, changed = apply_report(state, payload)
        material_slots = slots.take(payload, changed)
        if changed and state and not is_placeholder(state):
            normalise(state, last_seen=utcnow(), material_slots=material_slots)
            emitted += 1
    return emitted


def best_rate(work: Callable[[Sequence[bytes]], int], messages: Sequence[bytes], *, runs: int = RUNS) -> float:
    """Messages per second of the fastest of ``runs`` timed passes, after one untimed warm-up pass."""
    work(messages)
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        work(messages)
        best = min(best, time.perf_counter() - started)
    return len(messages) / best


def run() -> list[Figure]:
    """Measure and return the ingest figures."""
    messages = build_messages()
    partial_sizes = sorted(len(m) for i, m in enumerate(messages) if i % (PARTIALS_PER_FULL + 1))
    full_size = len(messages[0])
    emitted = ingest_all(messages)
    loads_rate = best_rate(json_loads_all, messages)
    ingest_rate = best_rate(ingest_all, messages)
    ratio = ingest_rate / loads_rate
    passed = ingest_rate >= TARGET_RATE and ratio >= TARGET_RATIO
    heavy = build_messages(full_ams=True)
    heavy_loads = best_rate(json_loads_all, heavy)
    heavy_rate = best_rate(ingest_all, heavy)
    heavy_ratio = heavy_rate / heavy_loads
    heavy_median = sorted(map(len, heavy))[len(heavy) // 2]
    return [
        Figure(
            "bambu ingest",
            f"{ingest_rate:,.0f} reports/s  (json.loads {loads_rate:,.0f}/s, ratio {ratio:.2f})",
            f"≥ {TARGET_RATE:,.0f}/s, ratio ≥ {TARGET_RATIO}",
            passed,
        ),
        Figure(
            "  message mix",
            f"{len(messages):,} msgs: 1 full ({full_size:,} B) per {PARTIALS_PER_FULL} partials "
            f"(median {partial_sizes[len(partial_sizes) // 2]} B); {emitted:,} statuses normalised",
        ),
        Figure(
            "bambu ingest, AMS-heavy",
            f"{heavy_rate:,.0f} reports/s  (json.loads {heavy_loads:,.0f}/s, ratio {heavy_ratio:.2f})",
            f"ratio ≥ {TARGET_RATIO}",
            heavy_ratio >= TARGET_RATIO,
        ),
        Figure(
            "  message mix",
            f"{len(heavy):,} msgs, every one with the whole ams object (median {heavy_median:,} B)",
        ),
    ]
