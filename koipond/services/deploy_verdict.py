"""Pure deploy verdict: compare the soak window after a deploy with the baseline window before it.

Rules:

1. **Methods.** Per-method SLIs compare the busiest methods of the *baseline* (at most ``max_methods``, each
   with at least ``min_calls`` calls, busiest first, then by name). A method the deploy introduced has no
   baseline to compare with and is left out; a method that vanished after the deploy is inconclusive.
2. **Enough traffic.** A row whose soak window has fewer than ``min_calls`` calls (``min_lag_samples`` lag
   samples for the lag SLI) is inconclusive; so is a per-method SLI when no method had enough baseline calls.
3. **No data never passes.** A NaN value (``histogram_quantile`` over nothing) makes its row inconclusive.
4. **Thresholds.** Success rate fails when it drops by more than ``max_drop_points`` percentage points.
   Latency and lag fail when they rise by more than ``max_increase_percent`` of the baseline AND by more than
   ``min_increase_ms``; ``+inf`` (beyond the last histogram bucket) compares as larger than any number.
5. **Outcome.** Any failing row fails the deploy; otherwise any inconclusive row makes it inconclusive;
   otherwise it passes. Worsening a soak value can only move a row from ok to failing, never back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from koipond.models.deploys import (
    SliKind,
    SliRow,
    SliRule,
    SliSettings,
    Verdict,
    VerdictOutcome,
    format_sli_value,
)

_NAMES = {
    SliKind.SUCCESS_RATE: "success rate",
    SliKind.LATENCY_P50: "p50 latency",
    SliKind.LATENCY_P99: "p99 latency",
    SliKind.WEBSOCKET_LAG_P99: "p99 websocket lag",
}
MAX_REASON_PARTS = 3


@dataclass(frozen=True)
class MethodMeasurement:
    """One API method in one window: calls, how many were ok, and latency quantiles in seconds (NaN: none)."""

    calls: float
    ok_calls: float
    p50: float = math.nan
    p99: float = math.nan


@dataclass(frozen=True)
class WindowMeasurements:
    methods: Mapping[str, MethodMeasurement] = field(default_factory=dict)
    lag_samples: float = 0.0
    lag_p99: float = math.nan


def compare(baseline: WindowMeasurements, soak: WindowMeasurements, settings: SliSettings) -> Verdict:
    """The verdict on a deploy whose windows measured ``baseline`` and ``soak`` (see the module rules)."""
    methods = busiest_methods(baseline, settings)
    rows: list[SliRow] = []
    for rule in (r for r in settings.effective_rules() if r.enabled):
        if not rule.kind.per_method:
            rows.append(_lag_row(rule, baseline, soak, settings.min_lag_samples))
        elif not methods:
            note = f"no method had {settings.min_calls} calls in the baseline window"
            rows.append(SliRow(kind=rule.kind, threshold=describe_threshold(rule), note=note))
        else:
            rows.extend(_method_row(rule, m, baseline.methods[m], soak.methods.get(m), settings) for m in methods)
    return Verdict(outcome=_outcome(rows), reason=_reason(rows), rows=tuple(rows))


def busiest_methods(baseline: WindowMeasurements, settings: SliSettings) -> list[str]:
    """The methods compared: enough baseline calls, busiest first, at most ``max_methods``."""
    busy = [(m, w.calls) for m, w in baseline.methods.items() if w.calls >= settings.min_calls]
    busy.sort(key=lambda pair: (-pair[1], pair[0]))
    return [m for m, _ in busy[: settings.max_methods]]


def describe_threshold(rule: SliRule) -> str:
    if rule.kind is SliKind.SUCCESS_RATE:
        return f"drop <= {rule.max_drop_points:g} pp"
    return f"rise <= +{rule.max_increase_percent:g}% or <= {rule.min_increase_ms:g} ms"


def _method_row(
    rule: SliRule, method: str, before: MethodMeasurement, after: MethodMeasurement | None, settings: SliSettings
) -> SliRow:
    threshold = describe_threshold(rule)
    if rule.kind is SliKind.SUCCESS_RATE:
        base = 100 * before.ok_calls / before.calls
        value = 100 * after.ok_calls / after.calls if after is not None and after.calls > 0 else math.nan
    else:
        base = _quantile(rule.kind, before)
        value = _quantile(rule.kind, after) if after is not None else math.nan
    calls = after.calls if after is not None else 0.0
    if not calls >= settings.min_calls:  # written so that NaN counts as too few
        note = f"only {_count(calls)} calls after the deploy (< {settings.min_calls})"
        return SliRow(kind=rule.kind, method=method, baseline=base, after=value, threshold=threshold, note=note)
    return _judged_row(rule, method, base, value, threshold)


def _lag_row(rule: SliRule, baseline: WindowMeasurements, soak: WindowMeasurements, min_samples: int) -> SliRow:
    threshold = describe_threshold(rule)
    for name, window in (("baseline", baseline), ("after", soak)):
        if not window.lag_samples >= min_samples:
            note = f"{name}: only {_count(window.lag_samples)} lag samples (< {min_samples})"
            return SliRow(kind=rule.kind, baseline=baseline.lag_p99, after=soak.lag_p99, threshold=threshold, note=note)
    return _judged_row(rule, None, baseline.lag_p99, soak.lag_p99, threshold)


def _judged_row(rule: SliRule, method: str | None, base: float, after: float, threshold: str) -> SliRow:
    if math.isnan(base) or math.isnan(after):
        note = "no data in the " + ("baseline window" if math.isnan(base) else "soak window")
        return SliRow(kind=rule.kind, method=method, baseline=base, after=after, threshold=threshold, note=note)
    delta = 0.0 if base == after else after - base  # inf - inf would be NaN
    return SliRow(
        kind=rule.kind,
        method=method,
        baseline=base,
        after=after,
        delta=delta,
        threshold=threshold,
        ok=_within(rule, base, after),
    )


def _within(rule: SliRule, base: float, after: float) -> bool:
    if rule.kind is SliKind.SUCCESS_RATE:
        assert rule.max_drop_points is not None
        return base - after <= rule.max_drop_points
    assert rule.max_increase_percent is not None
    assert rule.min_increase_ms is not None
    if after <= base:
        return True
    rise = after - base
    relative = rise > base * rule.max_increase_percent / 100
    absolute = rise > rule.min_increase_ms / 1000
    return not (relative and absolute)


def _quantile(kind: SliKind, measurement: MethodMeasurement) -> float:
    return measurement.p50 if kind is SliKind.LATENCY_P50 else measurement.p99


def _count(value: float) -> str:
    return "no" if math.isnan(value) else f"{value:.0f}"


def _outcome(rows: list[SliRow]) -> VerdictOutcome:
    if any(row.ok is False for row in rows):
        return VerdictOutcome.FAIL
    if not rows or any(row.ok is None for row in rows):
        return VerdictOutcome.INCONCLUSIVE
    return VerdictOutcome.PASS


def describe_row(row: SliRow) -> str:
    """``p99 latency of chat.postMessage: 4.1 ms -> 310.2 ms`` (the row's SLI, method and values)."""
    where = f"{_NAMES[row.kind]} of {row.method}" if row.method else _NAMES[row.kind]
    return f"{where}: {format_sli_value(row.kind, row.baseline)} -> {format_sli_value(row.kind, row.after)}"


def _reason(rows: list[SliRow]) -> str:
    failing = [r for r in rows if r.ok is False]
    unknown = [r for r in rows if r.ok is None]
    if failing:
        parts = [f"{describe_row(r)} ({r.threshold})" for r in failing[:MAX_REASON_PARTS]]
        more = f" and {len(failing) - MAX_REASON_PARTS} more" if len(failing) > MAX_REASON_PARTS else ""
        return f"{len(failing)} SLI(s) regressed: " + "; ".join(parts) + more
    if unknown:
        parts = [f"{_NAMES[r.kind]}{' of ' + r.method if r.method else ''}: {r.note}" for r in unknown]
        more = f" and {len(unknown) - MAX_REASON_PARTS} more" if len(unknown) > MAX_REASON_PARTS else ""
        return f"{len(unknown)} SLI(s) could not be judged: " + "; ".join(parts[:MAX_REASON_PARTS]) + more
    if not rows:
        return "no SLI to judge"
    return f"all {len(rows)} SLI(s) within their thresholds"
