"""Smoke test of the web UI benchmark (``bench/web.py``) at small sizes: the figures come out and make sense.

Whether the targets are met is ``make bench``'s business (``python -m bench web``), not this test's.
"""

from __future__ import annotations

import re

from bench import Figure
from bench.web import CHROMIUM, FRAME_TARGET_MS, PAGE_TARGET_MS, measure
from tests.support import need_service

_PAGE = re.compile(
    r"server p50 ([0-9.]+) ms  p99 ([0-9.]+) ms  \(client p50 ([0-9.]+) p99 ([0-9.]+) ms, (\d+) requests\)"
)
_FRAMES = re.compile(r"p50 ([0-9.]+) ms  p99 ([0-9.]+) ms  max ([0-9.]+) ms  \((\d+) frames\)")


def _numbers(pattern: re.Pattern[str], figure: Figure) -> list[float]:
    match = pattern.fullmatch(figure.measured)
    assert match is not None, f"{figure.name}: {figure.measured}"
    return [float(group) for group in match.groups()]


async def test_web_benchmark_measures_pages_and_frames_at_small_sizes() -> None:
    need_service(CHROMIUM.is_file(), f"{CHROMIUM} is missing: the web benchmark drives Chromium")
    figures = await measure(jobs=300, requests=3, frames=10, card_seconds=1.5, printers=2)
    by_name = {figure.name: figure for figure in figures}

    pages = [figure for figure in figures if figure.name.startswith("web /jobs (300 jobs) ")]
    assert len(pages) == 5, [figure.name for figure in figures]
    for figure in pages:
        server_p50, server_p99, client_p50, client_p99, requests = _numbers(_PAGE, figure)
        assert requests == 3
        assert 0 < server_p50 <= server_p99 < 10_000
        assert 0 < client_p50 <= client_p99 < 10_000
        assert server_p50 <= client_p50 * 1.05 + 1  # the server's time is part of the round trip
        assert figure.target == f"p99 < {PAGE_TARGET_MS:g} ms"
        assert figure.passed is (server_p99 < PAGE_TARGET_MS)

    # label → (frames expected, None: at least one; what the end-to-end context line starts from)
    kinds = {
        "job row update": (10, "PATCH sent"),
        "job row insert": (5, "POST sent"),
        "printer card": (None, "printer change"),
    }
    for label, (count, cause) in kinds.items():
        figure = by_name.get(f"web {label} frame → DOM")
        assert figure is not None, [figure.name for figure in figures]
        p50, p99, most, frames = _numbers(_FRAMES, figure)
        assert 0 <= p50 <= p99 <= most < 10_000
        if count is None:
            assert frames >= 1, figure.measured
        else:
            assert frames == count, figure.measured
        assert figure.target == f"p99 < {FRAME_TARGET_MS:g} ms"
        assert figure.passed is (p99 < FRAME_TARGET_MS)
        assert by_name[f"  {label}: {cause} → in DOM"].measured.endswith("changes seen)")

    assert any(figure.name == "  web UI page console" for figure in figures)
