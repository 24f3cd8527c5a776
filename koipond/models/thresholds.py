"""Thresholds that gate a pipeline: ``p99<500ms``, ``success_rate>=99%``, checked against a run's stats.

Grammar, one threshold per text, surrounding whitespace dropped::

    [ACTION:]METRIC OP VALUE[UNIT]

- ``ACTION`` (optional) is an action's label (its metric label), e.g. ``chat.postMessage:p99<300ms``; letters,
  digits, dots, underscores, dashes and colons. The metric is what follows the last colon. Without it, a
  metric is over every call of the run. ``ws_*`` and ``schedule_lag_*`` are over the whole run only.
- ``METRIC`` (letters in any case):

  - call latency, from each call's *scheduled* time to its answer: ``p50 p90 p95 p99 max avg``;
  - ``success_rate``, ``error_rate``: fractions of calls;
  - ``requests``, ``failures``: counts of calls; ``rps``: requests per second over the run;
  - websocket message lag (a koi's send to another koi's receipt): ``ws_lag_p50 ws_lag_p90 ws_lag_p95
    ws_lag_p99 ws_lag_max``; ``ws_connect_failures``: a count;
  - how late the runner started actions (its own overload): ``schedule_lag_p50 schedule_lag_p90
    schedule_lag_p95 schedule_lag_p99 schedule_lag_max``.

- ``OP`` is ``<``, ``<=``, ``>`` or ``>=``, with spaces around it or not.
- ``VALUE`` is a number of 0 or more, digits with an optional decimal point (no sign, no exponent).
- ``UNIT``, with a space before it or not (letters in any case):

  - durations: ``us`` (or ``µs``), ``ms``, ``s``, ``m``; a bare number is milliseconds, as in k6
    (``p99<500`` is ``p99<500ms``);
  - rates: a bare fraction from 0 to 1 (``0.99``) or a percentage (``99%``);
  - counts take no unit; ``rps`` takes none or ``/s``.

Examples: ``p99<500ms``, ``max<2s``, ``avg<100ms``, ``success_rate>=0.99``, ``success_rate>=99%``,
``error_rate<1%``, ``rps>=40``, ``requests>=100``, ``ws_lag_p99<200ms``, ``chat.postMessage:p99<300ms``.

A threshold with nothing to measure (no calls of its action, no websocket message) fails: a gate must not pass
on no data.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from koipond.models.run_stats import ActionStats, RunStats
from koipond.models.threshold_values import UNITS, MetricKind, describe, describe_amount, extra_digits, write_limit

_LATENCY = ("p50", "p90", "p95", "p99", "max")
PER_ACTION_METRICS: Mapping[str, MetricKind] = {
    **dict.fromkeys((*_LATENCY, "avg"), "duration"),
    "success_rate": "rate",
    "error_rate": "rate",
    "requests": "count",
    "failures": "count",
    "rps": "per_second",
}
"""Metrics of calls, measured per action (with an ``ACTION:`` prefix) or over every call."""
RUN_METRICS: Mapping[str, MetricKind] = {
    **{f"ws_lag_{name}": "duration" for name in _LATENCY},
    "ws_connect_failures": "count",
    **{f"schedule_lag_{name}": "duration" for name in _LATENCY},
}
"""Metrics of the whole run only: an ``ACTION:`` prefix on them is an error."""
METRICS: Mapping[str, MetricKind] = {**PER_ACTION_METRICS, **RUN_METRICS}
"""Every metric a threshold may name, and the kind of value it takes."""
OPERATORS: Mapping[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
THRESHOLD_EXAMPLES = ("p99<500ms", "success_rate>=99%", "error_rate<1%", "rps>=40", "chat.postMessage:p99<300ms")
"""A few thresholds to quote in help and error messages."""

_COMPARISON = re.compile(r"[<>=!]+")
_ACTION = re.compile(r"[A-Za-z0-9_.:-]+", re.ASCII)
_VALUE = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(.*)", re.ASCII | re.DOTALL)
_EXPONENT = re.compile(r"e[+-]?[0-9]", re.ASCII)
_KIND_NAMES: Mapping[MetricKind, str] = {
    "duration": "a duration",
    "rate": "a rate",
    "count": "a count",
    "per_second": "a rate per second",
}


class ThresholdError(ValueError):
    """A threshold's text is not one; the message quotes the text and says what is wrong."""


@dataclass(frozen=True)
class Threshold:
    """One parsed threshold; ``str()`` writes it back in a form :func:`parse_threshold` reads to an equal one."""

    text: str = field(compare=False)
    """As written (stripped); two texts meaning the same threshold compare equal."""
    action: str | None
    metric: str
    op: str
    limit: float
    """Seconds for durations, a fraction for rates, plain for counts and ``rps``."""

    @property
    def kind(self) -> MetricKind:
        """What the limit measures: a duration, a rate, a count or a per-second rate."""
        return METRICS[self.metric]

    @property
    def subject(self) -> str:
        """The metric as a detail names it: ``p99`` or ``p99 of chat.postMessage``."""
        return self.metric if self.action is None else f"{self.metric} of {self.action}"

    def describe_value(self, value: float) -> str:
        """``value`` in the metric's natural unit: ``612 ms``, ``98.7 %``, ``41.2/s``, ``12``."""
        return describe(self.kind, value, 0)

    def __str__(self) -> str:
        prefix = "" if self.action is None else f"{self.action}:"
        return f"{prefix}{self.metric}{self.op}{write_limit(self.kind, self.limit)}"


@dataclass(frozen=True)
class ThresholdResult:
    """One threshold checked against a run."""

    threshold: Threshold
    observed: float | None
    """In the limit's unit; None when there was nothing to measure."""
    passed: bool
    """False when nothing was observed: a gate must not pass on no data."""
    detail: str
    """One sentence for people: ``p99 was 612 ms: 112 ms over the limit of 500 ms``."""


def parse_threshold(text: str) -> Threshold:
    """The threshold ``text`` writes (grammar in the module docstring).

    Args:
        text: e.g. ``p99<500ms``, ``success_rate>=99%``, ``chat.postMessage:p99<300ms``.

    Returns:
        The threshold, its limit in seconds, as a fraction, or plain.

    Raises:
        ThresholdError: ``text`` is not a threshold; the message quotes it and names the problem.
    """
    cleaned = text.strip()
    if not cleaned:
        raise ThresholdError(f"{text!r}: an empty threshold (e.g. {THRESHOLD_EXAMPLES[0]})")
    comparison = _COMPARISON.search(cleaned)
    if comparison is None:
        raise _error(cleaned, "no comparison; write [ACTION:]METRIC OP VALUE with OP one of <, <=, >, >=")
    op = comparison.group()
    if op not in OPERATORS:
        raise _error(cleaned, f"{op!r} is not a comparison; use <, <=, > or >=")
    action, metric = _subject(cleaned, cleaned[: comparison.start()].strip(), op)
    limit = _limit(cleaned, metric, op, cleaned[comparison.end() :].strip())
    return Threshold(text=cleaned, action=action, metric=metric, op=op, limit=limit)


def parse_thresholds(texts: Sequence[str], actions: Collection[str] | None = None) -> list[Threshold]:
    """Every threshold in ``texts``, in order.

    Args:
        texts: thresholds as written (``--threshold`` options).
        actions: the labels of the run's actions; when given, a threshold naming another action is an error.

    Returns:
        The thresholds, in the order written.

    Raises:
        ThresholdError: the first text that is not a threshold, or names an action not in ``actions``.
    """
    thresholds = [parse_threshold(text) for text in texts]
    if actions is not None:
        for threshold in thresholds:
            if threshold.action is not None and threshold.action not in actions:
                known = ", ".join(sorted(actions)) or "none"
                problem = f"no action {threshold.action!r} in this run{_did_you_mean(threshold.action, actions)}"
                raise _error(threshold.text, f"{problem}; its actions: {known}")
    return thresholds


def evaluate(thresholds: Sequence[Threshold], stats: RunStats) -> list[ThresholdResult]:
    """Check every threshold against ``stats``, in order.

    Args:
        thresholds: parsed thresholds.
        stats: the run's snapshot (usually the final one).

    Returns:
        One result per threshold; one with nothing observed has failed.
    """
    return [_evaluate_one(threshold, stats) for threshold in thresholds]


def all_passed(results: Sequence[ThresholdResult]) -> bool:
    """True when every result passed (and for no results at all: nothing was asked)."""
    return all(result.passed for result in results)


def _error(text: str, problem: str) -> ThresholdError:
    return ThresholdError(f"{text!r}: {problem}")


def _did_you_mean(word: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _subject(text: str, left: str, op: str) -> tuple[str | None, str]:
    """The action (or None) and metric before the comparison, checked."""
    action, _, written = left.rpartition(":")
    metric = written.strip().lower()
    if not metric:
        raise _error(text, f"no metric before {op!r} (e.g. {THRESHOLD_EXAMPLES[0]})")
    if metric not in METRICS:
        hint = " (k6's p(99) is written p99 here)" if metric.startswith("p(") else _did_you_mean(metric, METRICS)
        raise _error(text, f"unknown metric {written.strip()!r}{hint}; known: {', '.join(METRICS)}")
    if ":" not in left:
        return None, metric
    action = action.strip()
    if not _ACTION.fullmatch(action):
        allowed = "letters, digits, dots, underscores, dashes and colons"
        raise _error(text, f"an action label ({action!r}) is one or more {allowed}")
    if metric in RUN_METRICS:
        raise _error(text, f"{metric} is measured over the whole run, not per action; drop {action + ':'!r}")
    return action, metric


def _limit(text: str, metric: str, op: str, right: str) -> float:
    """The limit after the comparison, in seconds, as a fraction or plain, checked against the metric's kind."""
    if _COMPARISON.search(right):
        raise _error(text, "one comparison per threshold (write two thresholds for a range)")
    match = _VALUE.fullmatch(right)
    if match is None:
        if not right:
            raise _error(text, f"no limit after {op!r} (e.g. {THRESHOLD_EXAMPLES[0]})")
        if right.startswith("-"):
            raise _error(text, "a limit is 0 or more")
        number = right.split()[0]
        raise _error(text, f"{number!r} is not a number (e.g. {THRESHOLD_EXAMPLES[0]})")
    number, unit = match.group(1), match.group(2).strip().lower().replace("μ", "µ")
    kind = METRICS[metric]
    scale = UNITS[kind].get(unit)
    if scale is None and _EXPONENT.match(unit):
        raise _error(text, "write the limit without an exponent (e.g. 1000, not 1e3)")
    if scale is None:
        raise _error(text, _unit_problem(metric, kind, unit))
    value = float(number)
    if not math.isfinite(value):
        raise _error(text, f"{number!r} is too large")
    if kind == "rate" and value > scale[1]:
        raise _error(text, f"a rate is a fraction from 0 to 1 or a percentage: {metric}{op}0.99 or {metric}{op}99%")
    return value * scale[0] / scale[1]


def _unit_problem(metric: str, kind: MetricKind, unit: str) -> str:
    if unit == "%":
        return f"% is for rates (success_rate, error_rate); {metric} is {_KIND_NAMES[kind]}"
    if kind == "duration":
        return f"unknown unit {unit!r}; a duration takes us, µs, ms, s or m (a bare number is milliseconds)"
    if kind == "rate":
        return f"{unit!r} is not a unit of a rate; write a fraction (0.99) or a percentage (99%)"
    if kind == "per_second":
        return f"{metric} takes no unit but /s, got {unit!r}"
    return f"{metric} is a count and takes no unit, got {unit!r}"


def _observed(threshold: Threshold, stats: RunStats) -> float | None:
    metric = threshold.metric
    if metric.startswith("ws_lag_"):
        return stats.ws_lag.percentile(metric.removeprefix("ws_lag_"))
    if metric.startswith("schedule_lag_"):
        return stats.schedule_lag.percentile(metric.removeprefix("schedule_lag_"))
    if metric == "ws_connect_failures":
        return float(stats.ws_connect_failures)
    if metric == "rps":
        return stats.rate(threshold.action) if stats.elapsed_seconds > 0 else None
    calls = stats.total if threshold.action is None else stats.actions.get(threshold.action, ActionStats.empty())
    return _call_figure(metric, calls)


def _call_figure(metric: str, calls: ActionStats) -> float | None:
    if metric == "success_rate":
        return calls.success_rate
    if metric == "error_rate":
        return calls.error_rate
    if metric in ("requests", "failures"):
        return float(calls.requests if metric == "requests" else calls.failures)
    return calls.latency.percentile(metric)


def _nothing_measured(threshold: Threshold) -> str:
    metric = threshold.metric
    if metric.startswith("ws_lag_"):
        reason = "no websocket message was received"
    elif metric.startswith("schedule_lag_"):
        reason = "no action was started"
    elif metric == "rps":
        reason = "no time passed"
    else:
        reason = "no calls were made" if threshold.action is None else f"no calls of {threshold.action} were made"
    return f"{reason}, so {threshold.subject} has no value and the threshold fails"


def _evaluate_one(threshold: Threshold, stats: RunStats) -> ThresholdResult:
    observed = _observed(threshold, stats)
    if observed is None:
        return ThresholdResult(threshold, None, passed=False, detail=_nothing_measured(threshold))
    passed = OPERATORS[threshold.op](observed, threshold.limit)
    return ThresholdResult(threshold, observed, passed, _detail(threshold, observed, passed))


def _detail(threshold: Threshold, observed: float, passed: bool) -> str:
    kind, limit = threshold.kind, threshold.limit
    amount = abs(observed - limit)
    extra = extra_digits(kind, observed, limit)
    was, limit_text = describe(kind, observed, extra), describe(kind, limit, extra)
    if passed:
        return f"{threshold.subject} was {was} (limit {threshold.op} {limit_text})"
    if observed == limit:
        return f"{threshold.subject} was {was}, at the limit of {limit_text} (must be {threshold.op} {limit_text})"
    direction = "over" if observed > limit else "under"
    off = describe_amount(kind, amount, extra)
    return f"{threshold.subject} was {was}: {off} {direction} the limit of {limit_text}"
