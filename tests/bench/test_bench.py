"""Smoke tests of the benchmark harness: the ingest message mix, the ingest path, percentiles, the table.

The slow benchmarks (latency, farm) are not run here; ``make bench`` runs them.
"""

from __future__ import annotations

import json

import pytest

from bench import Figure, percentile
from bench.__main__ import format_table, main
from bench.ingest import PARTIALS_PER_FULL, build_messages, ingest_all, json_loads_all


def test_message_mix_is_one_full_report_per_hundred_partials_of_real_fields() -> None:
    messages = build_messages(cycles=2)
    assert len(messages) == 2 * (1 + PARTIALS_PER_FULL)
    full = json.loads(messages[0])["print"]
    assert full["gcode_state"] == "RUNNING"
    assert len(full["ams"]["ams"][0]["tray"]) == 4
    partials = [json.loads(raw)["print"] for raw in messages[1 : 1 + PARTIALS_PER_FULL]]
    assert all(p["command"] == "push_status" and "gcode_state" not in p for p in partials)
    assert any("nozzle_temper" in p for p in partials)
    assert any("ams" in p for p in partials)
    assert build_messages(cycles=2) == messages  # deterministic


def test_ingest_path_normalises_the_reports_that_change_something() -> None:
    messages = build_messages(cycles=2)
    assert json_loads_all(messages) == len(messages)
    emitted = ingest_all(messages)
    assert len(messages) // 2 < emitted <= len(messages)


def test_percentile_is_nearest_rank() -> None:
    samples = [float(n) for n in range(1, 201)]
    assert percentile(samples, 0.50) == 100.0
    assert percentile(samples, 0.99) == 198.0
    assert percentile([3.0], 0.99) == 3.0


def test_table_shows_target_and_verdict_and_leaves_context_lines_unpadded() -> None:
    table = format_table(
        [
            Figure("bambu ingest", "40,000 reports/s", "≥ 25,000/s", True),
            Figure("  context", "a long context line " * 5),
            Figure("farm CPU", "30 %", "< 25 %", False),
        ]
    )
    lines = table.splitlines()
    assert lines[0].startswith("benchmark")
    assert lines[2].endswith("PASS")
    assert lines[4].endswith("MISS")
    assert lines[3].endswith("line")


def test_unknown_benchmark_name_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["no-such-benchmark"])
    assert exited.value.code == 2
