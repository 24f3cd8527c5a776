"""Pure shutdown-guard decision: what one query's samples over its window mean, and whether to act.

The driver does the I/O: at ``now`` it runs the query as a Prometheus range query over
``[now - time_range, now]`` at ``step``, hands the samples (or the error) to :func:`evaluate`, records the
:class:`~koipond.models.guard.Evaluation`, and acts when :func:`should_act` says so. Pass the same
``now`` that was the query's ``end``; nothing here reads a clock.

Rules, in the order :func:`evaluate` applies them:

1. **Error.** A failed query is ``ERROR`` whatever else is known; ``consecutive_errors`` counts failed
   runs in a row (``previous.consecutive_errors + 1``) and every other outcome resets it to 0.
2. **Window.** Only samples with ``now - time_range <= at <= now`` count (closed at both ends); the
   driver may hand more, e.g. a start aligned down to a multiple of ``step`` by Trickster.
3. **NaN is no data.** A NaN sample (``0/0`` success ratio while there was no traffic) neither breaches
   nor heals; it is an instant we know nothing about, exactly like a point Prometheus dropped. ``+inf``
   and ``-inf`` compare normally. No sample, or only NaN samples, in the window is ``NO_DATA``.
4. **One healthy sample wins.** If any known (non-NaN) sample does not breach, the outcome is ``HEALTHY``.
5. **Sustained breach needs coverage.** Every known sample breaches: the outcome is ``BREACH`` when the
   known samples cover the window (see :func:`coverage_gap`), else ``BREACHING``.

Coverage, with ``tolerance = min(1 s, step / 10)``: the earliest known sample is at most
``step + tolerance`` after the window start, the latest at most ``step + tolerance`` before ``now``, and no
two consecutive known samples are more than ``2 * step + tolerance`` apart. So one missing point (a
missed scrape) is tolerated anywhere, two in a row never are: the tolerance, always under a tenth of a
step, absorbs Prometheus' millisecond timestamps and float rounding but can never excuse a point.

``value`` is the latest known sample in the window (the larger of two at the same instant, so the
order the driver hands samples in never matters; ``None`` for no data and errors); ``samples`` counts the
samples in the window, NaN included; ``acted`` is always False (the driver sets it after acting).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from koipond.durations import format_duration
from koipond.models.guard import Comparator, Evaluation, GuardQuery, NoDataPolicy, Outcome

MAX_TOLERANCE_SECONDS = 1.0
TOLERANCE_STEP_FRACTION = 0.1
MAX_ERROR_CHARS = 200  # detail is shown in the console and stored in history events; PromQL errors run long

_SYMBOLS = {
    Comparator.LESS_THAN: "<",
    Comparator.LESS_THAN_OR_EQUAL: "<=",
    Comparator.GREATER_THAN: ">",
    Comparator.GREATER_THAN_OR_EQUAL: ">=",
}


@dataclass(frozen=True)
class Sample:
    """One point of a range query: Unix seconds and the value (NaN and ±inf happen in PromQL)."""

    at: float
    value: float


@dataclass(frozen=True)
class QueryResult:
    """What the driver got for one query: its samples, or why the query failed.

    ``error`` is set when the query failed: connection refused, timeout, bad PromQL, more than one series.
    """

    samples: tuple[Sample, ...] = ()
    error: str | None = None

    def __post_init__(self) -> None:
        if self.error is not None and self.samples:
            raise ValueError("a failed query carries no samples: set either samples or error")


def tolerance_seconds(step_seconds: float) -> float:
    """Slack on every coverage bound: ``min(1 s, step / 10)``, so always less than one step."""
    return min(MAX_TOLERANCE_SECONDS, TOLERANCE_STEP_FRACTION * step_seconds)


def coverage_gap(known: Sequence[Sample], start: float, end: float, step: float) -> str | None:
    """Why the time-sorted ``known`` samples do not cover ``[start, end]``, or None when they do.

    Args:
        known: Non-NaN samples inside the window, sorted by time; at least one.
        start: Window start, Unix seconds.
        end: Window end (``now``), Unix seconds.
        step: Query resolution in seconds.

    Returns:
        A short clause for the evaluation's detail, or None when the window is covered.
    """
    tolerance = tolerance_seconds(step)
    if known[0].at - start > step + tolerance:
        return f"the earliest is {_seconds(known[0].at - start)} after the window start"
    if end - known[-1].at > step + tolerance:
        return f"the latest is {_seconds(end - known[-1].at)} old"
    widest = max((b.at - a.at for a, b in pairwise(known)), default=0.0)
    if widest > 2 * step + tolerance:
        return f"they have a {_seconds(widest)} gap"
    return None


def evaluate(query: GuardQuery, result: QueryResult, now: datetime, previous: Evaluation | None) -> Evaluation:
    """Judge one query's range-query result at ``now`` (rules in the module docstring).

    Args:
        query: The guard rule.
        result: The samples over ``[now - time_range, now]`` at ``query.step``, or the query's error.
        now: Timezone-aware end of the window; the same instant the driver used as the query's end.
        previous: This query's last evaluation, for counting consecutive errors; None on the first run.

    Returns:
        The evaluation, with ``acted`` False.

    Raises:
        ValueError: ``now`` is naive, or ``previous`` belongs to another query.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if previous is not None and previous.label != query.label:
        raise ValueError(f"previous evaluation is of {previous.label!r}, not {query.label!r}")
    if result.error is not None:
        errors = (previous.consecutive_errors if previous else 0) + 1
        detail = f"query failed ({errors} in a row): {_short_error(result.error)}"
        return Evaluation(label=query.label, at=now, outcome=Outcome.ERROR, detail=detail, consecutive_errors=errors)
    end = now.timestamp()
    start = end - query.time_range_seconds
    in_window = [s for s in result.samples if start <= s.at <= end]
    # Sorting on (at, value) makes the result independent of the order the driver hands samples in.
    known = sorted((s for s in in_window if not math.isnan(s.value)), key=lambda s: (s.at, s.value))
    outcome, detail = _judge(query, len(in_window), known, start, end)
    value = known[-1].value if known else None
    return Evaluation(label=query.label, at=now, outcome=outcome, value=value, samples=len(in_window), detail=detail)


def should_act(query: GuardQuery, evaluation: Evaluation) -> bool:
    """Whether the driver should now apply ``query.action`` to the tests in ``query.scope``.

    A sustained ``BREACH`` acts; ``NO_DATA`` acts iff ``on_no_data`` is ``stop``; ``ERROR`` acts iff
    ``on_error.action`` is ``stop`` and ``consecutive_errors >= on_error.consecutive``; ``HEALTHY`` and
    ``BREACHING`` never act, and neither does a disabled query.

    Raises:
        ValueError: ``evaluation`` belongs to another query.
    """
    if evaluation.label != query.label:
        raise ValueError(f"evaluation is of {evaluation.label!r}, not {query.label!r}")
    if not query.enabled:
        return False
    match evaluation.outcome:
        case Outcome.BREACH:
            return True
        case Outcome.NO_DATA:
            return query.on_no_data == NoDataPolicy.STOP
        case Outcome.ERROR:
            return query.on_error.action == "stop" and evaluation.consecutive_errors >= query.on_error.consecutive
        case Outcome.HEALTHY | Outcome.BREACHING:
            return False


def _judge(query: GuardQuery, counted: int, known: list[Sample], start: float, end: float) -> tuple[Outcome, str]:
    """Outcome and detail for samples already cut to the window; ``known`` is sorted and NaN-free."""
    window = query.time_range
    if not known:
        if counted == 0:
            return Outcome.NO_DATA, f"no samples in the last {window}"
        return Outcome.NO_DATA, f"all {counted} samples in the last {window} are NaN"
    rule = f"{_SYMBOLS[query.comparator]} {_number(query.threshold)}"
    latest = f"latest {_number(known[-1].value)}"
    nan_note = f"; {counted - len(known)} NaN ignored" if counted > len(known) else ""
    healthy = sum(not query.comparator.breached(s.value, query.threshold) for s in known)
    if healthy:
        detail = f"{healthy} of {len(known)} samples over {window} are not {rule} ({latest}{nan_note})"
        return Outcome.HEALTHY, detail
    gap = coverage_gap(known, start, end, query.step_seconds)
    if gap is None:
        return Outcome.BREACH, f"all {len(known)} samples over {window} {rule} ({latest}{nan_note})"
    detail = f"all {len(known)} samples {rule} ({latest}{nan_note}), but {gap}: not yet sustained over {window}"
    return Outcome.BREACHING, detail


def _number(value: float) -> str:
    return f"{value:.6g}"


def _seconds(seconds: float) -> str:
    whole = round(seconds)
    return format_duration(whole) if whole >= 1 else f"{seconds:.3g}s"


def _short_error(error: str) -> str:
    flat = " ".join(error.split()) or "(no message)"
    return flat if len(flat) <= MAX_ERROR_CHARS else flat[: MAX_ERROR_CHARS - 1] + "…"
