"""Pure shutdown-guard decision: what one query's samples over its window mean, and whether to act.

The driver does the I/O: at ``now`` it runs the query as a Prometheus range query over
``[now - time_range, now]`` at ``step``, hands the samples (or the error) to :func:`evaluate`, records the
:class:`~koipond.models.guard.Evaluation`, and acts when :func:`should_act` says so. Pass the same
``now`` that was the query's ``end``; nothing here reads a clock.

Rules, in the order :func:`evaluate` applies them:

1. **Error.** A failed query is ``ERROR`` whatever else is known; ``consecutive_errors`` counts failed
   runs in a row (``previous.consecutive_errors + 1``) and every other outcome resets it to 0.
2. **Window.** Samples with ``now - time_range <= at <= now`` count (closed at both ends), and so does
   the window's *opener*: the latest known (non-NaN) sample at or before ``now - time_range``, the state
   the window opened with. Driving the query with the window's exact start puts a sample on the start,
   which is then its own opener; a grid aligned down to a multiple of ``step`` (Trickster, Cortex-style
   query frontends, a client that rounds to whole seconds) opens with the point just before the start.
   Samples after ``now`` and older than the opener never matter. Instants are compared to the
   microsecond (Prometheus reports milliseconds), so a sample reported at the start is at the start
   whatever float rounding did to ``970.412``.
3. **NaN is no data.** A NaN sample (``0/0`` success ratio while there was no traffic) neither breaches
   nor heals; it is an instant we know nothing about, exactly like a point Prometheus dropped. ``+inf``
   and ``-inf`` compare normally. No sample, or only NaN samples, in the window is ``NO_DATA`` (an opener
   from before the window is not data about the window).
4. **One healthy sample wins.** If any known sample, the opener included, does not breach, the outcome
   is ``HEALTHY``.
5. **Sustained breach needs coverage.** Every known sample breaches: the outcome is ``BREACH`` when the
   known samples cover the window (see :func:`coverage_gap`), else ``BREACHING``.

Coverage, with ``tolerance = min(1 s, step / 10)``: there is an opener (a known sample at or before the
window start, never after it: the breach was already on when the window opened, so the guard never acts
before ``time_range`` has passed since the breach's first breaching sample), the latest known sample is at most
``step + tolerance`` before ``now``, and no two consecutive known samples (from the opener on) are more
than ``2 * step + tolerance`` apart. So one missing point (a missed scrape) is tolerated inside the window
and at its end, two in a row never are; a missing opener is never excused, as that would shorten the
window by up to a step (issue 15: stops 27 s into a 30 s window). The tolerance, always under a tenth of
a step, absorbs Prometheus' millisecond timestamps and scrape jitter but can never excuse a point.

``value`` is the latest known sample in the window (the larger of two at the same instant, so the
order the driver hands samples in never matters; ``None`` for no data and errors); ``samples`` counts the
samples judged: those in the window, NaN included, plus an opener from before it; ``acted`` is always
False (the driver sets it after acting).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from koipond.models.durations import format_duration
from koipond.models.guard import Comparator, Evaluation, GuardQuery, NoDataPolicy, Outcome
from koipond.models.prometheus import QueryResult, Sample

MAX_TOLERANCE_SECONDS = 1.0
TOLERANCE_STEP_FRACTION = 0.1
MICROS_PER_SECOND = 1_000_000
MAX_ERROR_CHARS = 200  # detail is shown in the console and stored in history events; PromQL errors run long

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SYMBOLS = {
    Comparator.LESS_THAN: "<",
    Comparator.LESS_THAN_OR_EQUAL: "<=",
    Comparator.GREATER_THAN: ">",
    Comparator.GREATER_THAN_OR_EQUAL: ">=",
}


def tolerance_seconds(step_seconds: float) -> float:
    """Slack on the end and gap bounds of coverage: ``min(1 s, step / 10)``, so always less than one step."""
    return min(MAX_TOLERANCE_SECONDS, TOLERANCE_STEP_FRACTION * step_seconds)


def micros(seconds: float) -> int:
    """Unix seconds as whole microseconds: a millisecond stamp such as ``970.412`` lands exactly."""
    return round(seconds * MICROS_PER_SECOND)


def coverage_gap(known: Sequence[Sample], start: float, end: float, step: float) -> str | None:
    """Why the time-sorted ``known`` samples do not cover ``[start, end]``, or None when they do.

    Args:
        known: Non-NaN samples from the window's opener (if any) to ``end``, sorted by time; at least one.
        start: Window start, Unix seconds.
        end: Window end (``now``), Unix seconds.
        step: Query resolution in seconds.

    Returns:
        A short clause for the evaluation's detail, or None when the window is covered.
    """
    tolerance = micros(tolerance_seconds(step))
    step_us, start_us, end_us = micros(step), micros(start), micros(end)
    first, last = micros(known[0].at), micros(known[-1].at)
    if first > start_us:
        return f"none is at or before the window start (the earliest is {_duration(first - start_us)} after it)"
    if end_us - last > step_us + tolerance:
        return f"the latest is {_duration(end_us - last)} old"
    widest = max((micros(b.at) - micros(a.at) for a, b in pairwise(known)), default=0)
    if widest > 2 * step_us + tolerance:
        return f"they have a {_duration(widest)} gap"
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
    # Whole microseconds from the datetime itself: now.timestamp() - time_range could land a float ulp
    # past a sample Prometheus stamped exactly on the window start, and drop the window's opener.
    end_us = (now - _EPOCH) // timedelta(microseconds=1)
    start_us = end_us - query.time_range_seconds * MICROS_PER_SECOND
    in_window = [s for s in result.samples if start_us <= micros(s.at) <= end_us]
    # Sorting on (at, value) makes the result independent of the order the driver hands samples in.
    known = sorted((s for s in in_window if not math.isnan(s.value)), key=lambda s: (micros(s.at), s.value))
    opener = _opener_before(result.samples, start_us)
    judged = [*opener, *known]
    outcome, detail = _judge(query, len(in_window), known, judged, (start_us, end_us))
    value = known[-1].value if known else None
    return Evaluation(
        label=query.label, at=now, outcome=outcome, value=value, samples=len(in_window) + len(opener), detail=detail
    )


def _opener_before(samples: Sequence[Sample], start_us: int) -> list[Sample]:
    """The known samples at the latest instant before the window start, sorted; none when one is on the start.

    All of them, not one: two values at one instant are judged alike, as inside the window.
    """
    known = [s for s in samples if micros(s.at) <= start_us and not math.isnan(s.value)]
    latest = max((micros(s.at) for s in known), default=None)
    if latest is None or latest == start_us:
        return []  # no opener, or it is in the window already
    return sorted((s for s in known if micros(s.at) == latest), key=lambda s: s.value)


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


def error_policy_note(query: GuardQuery, evaluation: Evaluation) -> str:
    """The evaluation's detail plus what the query's ``on_error`` policy does about it, for logs."""
    policy = query.on_error
    if policy.action == "ignore":
        then = "on_error is ignore: load keeps running while the guard cannot see"
    elif evaluation.consecutive_errors >= policy.consecutive:
        then = f"on_error stops the tests in scope after {policy.consecutive} in a row: acting"
    else:
        left = policy.consecutive - evaluation.consecutive_errors
        then = f"on_error stops the tests in scope after {policy.consecutive} in a row: {left} more to go"
    return f"{evaluation.detail}; {then}"


def _judge(
    query: GuardQuery, counted: int, known: list[Sample], judged: list[Sample], window_us: tuple[int, int]
) -> tuple[Outcome, str]:
    """Outcome and detail; ``known`` is the window's NaN-free samples, ``judged`` those plus an earlier opener."""
    window = query.time_range
    if not known:
        if counted == 0:
            return Outcome.NO_DATA, f"no samples in the last {window}"
        return Outcome.NO_DATA, f"all {counted} samples in the last {window} are NaN"
    rule = f"{_SYMBOLS[query.comparator]} {_number(query.threshold)}"
    latest = f"latest {_number(known[-1].value)}"
    nan_note = f"; {counted - len(known)} NaN ignored" if counted > len(known) else ""
    healthy = sum(not query.comparator.breached(s.value, query.threshold) for s in judged)
    if healthy:
        detail = f"{healthy} of {len(judged)} samples over {window} are not {rule} ({latest}{nan_note})"
        return Outcome.HEALTHY, detail
    start, end = (edge / MICROS_PER_SECOND for edge in window_us)
    gap = coverage_gap(judged, start, end, query.step_seconds)
    if gap is None:
        return Outcome.BREACH, f"all {len(judged)} samples over {window} {rule} ({latest}{nan_note})"
    detail = f"all {len(judged)} samples {rule} ({latest}{nan_note}), but {gap}: not yet sustained over {window}"
    return Outcome.BREACHING, detail


def _number(value: float) -> str:
    return f"{value:.6g}"


def _duration(micro: int) -> str:
    seconds = micro / MICROS_PER_SECOND
    whole = round(seconds)
    # "4.6s", not "5s": a window is short by the fraction this reports, and whole seconds would hide it.
    return format_duration(whole) if whole >= 60 or seconds == whole else f"{seconds:.3g}s"


def _short_error(error: str) -> str:
    flat = " ".join(error.split()) or "(no message)"
    return flat if len(flat) <= MAX_ERROR_CHARS else flat[: MAX_ERROR_CHARS - 1] + "…"
