"""``/predict``: how long a job is likely to take, from the actual durations of similar finished jobs (pure).

Similar job names. A name is reduced to its tokens (:func:`job_name_tokens`): the directory and the file
extension (``.gcode.3mf``, ``.bgcode``, ``.gcode``, ``.3mf``, ``.stl``, ``.step``, ``.obj``) are dropped, the rest
is lowercased and split at every character that is not a letter or digit (``_``, ``-``, ``.``, spaces), and noise
tokens are dropped: numbers (``2``, ``03``), versions (``v2``, ``rev3``), slicer additions (print times such as
``1h2m`` or ``45m``, layer heights and nozzles such as ``2mm`` or ``4n``, material names such as ``pla``, ``petg``)
and ``copy``, ``final``, ``plate``. ``Benchy_v2.gcode`` and ``benchy_0.4n_0.2mm_PLA_MK4_1h2m.bgcode`` give
``benchy`` and ``benchy mk4``.

History samples match at the best level available: **exact** (the same set of tokens, so word order does not
matter) when any sample matches exactly,
else **similar** (Jaccard overlap of the token sets ``|A ∩ B| / |A ∪ B|`` at least :data:`SIMILARITY_THRESHOLD`).
A name with no tokens left matches only exactly.

Percentiles use linear interpolation between the closest ranks (numpy's default): for sorted values ``x[0..n-1]``
and fraction ``p``, ``h = (n - 1) * p`` and the value is ``x[⌊h⌋] + (h - ⌊h⌋) * (x[⌊h⌋+1] - x[⌊h⌋])``; the median
is ``p = 0.5``. Only completed prints are samples: a failed or cancelled print's length says little about the job.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from printfleet.domain.jobs import JobStatus
from printfleet.domain.queue import EntryStatus, QueueEntry

SIMILARITY_THRESHOLD = 0.5
"""Least Jaccard overlap of two names' token sets for them to count as similar."""

_EXTENSIONS = (".gcode.3mf", ".bgcode", ".gcode", ".3mf", ".stl", ".step", ".obj", ".bgc", ".gco")  # 8.3 names too
_SPLIT = re.compile(r"[^a-z0-9]+")
_NOISE = re.compile(
    r"\d+"  # numbers: copies, plates, dates
    r"|v\d+|rev\d+"  # versions
    r"|(\d+d)?(\d+h)?(\d+m)?(\d+s)?"  # slicer print times (the empty match never reaches here: tokens are non-empty)
    r"|\d+(mm|n)"  # layer heights, nozzle sizes
    r"|pla|petg|pet|abs|asa|tpu|pc|pa|pa6|pa12|hips|pva|cf"  # materials
    r"|copy|final|plate"
)


def job_name_tokens(name: str) -> tuple[str, ...]:
    """The tokens of a job or file name that identify the job (rules in the module docstring), in order."""
    base = name.strip().rsplit("/", 1)[-1].lower()
    for extension in _EXTENSIONS:
        if base.endswith(extension) and len(base) > len(extension):
            base = base[: -len(extension)]
            break
    return tuple(token for token in _SPLIT.split(base) if token and not _NOISE.fullmatch(token))


def similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """Jaccard overlap of two token sequences as sets, 0.0 to 1.0 (0.0 when either is empty)."""
    left, right = set(a), set(b)
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` (0.0–1.0) percentile of ``values`` by linear interpolation between closest ranks.
    Raises ValueError for no values or a fraction out of range."""
    if not values:
        raise ValueError("no values")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("fraction must be from 0 to 1")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * fraction
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


@dataclass(frozen=True, slots=True, kw_only=True)
class DurationSample:
    """One completed print: its ``job_name``, ``actual`` duration, and when known the printer, the user and the
    user's ``estimate`` for it (timedeltas)."""

    job_name: str
    actual: timedelta
    printer_id: str | None = None
    user_id: str | None = None
    estimate: timedelta | None = None


def samples_from_entries(entries: Iterable[QueueEntry]) -> list[DurationSample]:
    """The samples of ``done`` entries whose print completed and whose duration is known."""
    return [
        DurationSample(
            job_name=e.job_name,
            actual=e.actual_duration,
            printer_id=e.printer_id,
            user_id=e.user_id,
            estimate=e.estimate,
        )
        for e in entries
        if e.status is EntryStatus.DONE and e.outcome is JobStatus.COMPLETED and e.actual_duration is not None
    ]


@dataclass(frozen=True, slots=True)
class DurationStats:
    """``count`` samples; their ``median`` and 90th percentile ``p90``, rounded to whole seconds."""

    count: int
    median: timedelta
    p90: timedelta

    @classmethod
    def of(cls, durations: Sequence[timedelta]) -> DurationStats | None:
        """The stats of ``durations``; None when there are none."""
        if not durations:
            return None
        seconds = [d.total_seconds() for d in durations]
        return cls(
            count=len(seconds),
            median=timedelta(seconds=round(percentile(seconds, 0.5))),
            p90=timedelta(seconds=round(percentile(seconds, 0.9))),
        )


@dataclass(frozen=True, slots=True)
class EstimateBias:
    """How a user's estimates compare with reality over ``count`` completed prints: ``ratio`` is the median of
    actual / estimate (1.25: prints take a quarter longer than they say)."""

    count: int
    ratio: float

    def adjust(self, estimate: timedelta) -> timedelta:
        """``estimate`` corrected by the bias, rounded to whole seconds."""
        return timedelta(seconds=round(estimate.total_seconds() * self.ratio))


class Match(StrEnum):
    """How the history samples used matched the job name."""

    EXACT = "exact"
    SIMILAR = "similar"


@dataclass(frozen=True, slots=True, kw_only=True)
class Prediction:
    """The answer to ``/predict``. ``match`` is None when no sample matched (then ``overall`` and ``on_printer``
    are None). ``on_printer`` covers the matched samples on the printer asked about; ``bias`` the user's estimates
    over all their completed prints."""

    job_name: str
    match: Match | None
    overall: DurationStats | None
    on_printer: DurationStats | None
    bias: EstimateBias | None

    @property
    def suggested(self) -> timedelta | None:
        """The duration to suggest: the median on the printer when known, else over all printers."""
        stats = self.on_printer or self.overall
        return stats.median if stats else None


def matching_samples(history: Iterable[DurationSample], job_name: str) -> tuple[Match | None, list[DurationSample]]:
    """The samples similar to ``job_name`` at the best level (exact first, else similar) and that level."""
    tokens = job_name_tokens(job_name)
    if not tokens:
        key = job_name.strip().lower()
        exact = [s for s in history if not job_name_tokens(s.job_name) and s.job_name.strip().lower() == key]
        return (Match.EXACT, exact) if exact else (None, [])
    scored = [(s, job_name_tokens(s.job_name)) for s in history]
    exact = [s for s, other in scored if set(other) == set(tokens)]
    if exact:
        return Match.EXACT, exact
    similar = [s for s, other in scored if similarity(tokens, other) >= SIMILARITY_THRESHOLD]
    return (Match.SIMILAR, similar) if similar else (None, [])


def estimate_bias(history: Iterable[DurationSample], user_id: str) -> EstimateBias | None:
    """``user_id``'s :class:`EstimateBias` over their samples with a positive estimate; None without any."""
    ratios = [
        s.actual / s.estimate
        for s in history
        if s.user_id == user_id and s.estimate is not None and s.estimate > timedelta(0)
    ]
    return EstimateBias(len(ratios), percentile(ratios, 0.5)) if ratios else None


def predict(
    history: Sequence[DurationSample], job_name: str, *, printer_id: str | None = None, user_id: str | None = None
) -> Prediction:
    """Duration statistics for ``job_name`` from ``history`` (completed prints), overall and on ``printer_id``
    when given, with ``user_id``'s estimate bias when given."""
    match, samples = matching_samples(history, job_name)
    on_printer = [s.actual for s in samples if printer_id is not None and s.printer_id == printer_id]
    return Prediction(
        job_name=job_name,
        match=match,
        overall=DurationStats.of([s.actual for s in samples]),
        on_printer=DurationStats.of(on_printer),
        bias=estimate_bias(history, user_id) if user_id is not None else None,
    )
