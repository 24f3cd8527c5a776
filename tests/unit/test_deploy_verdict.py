"""The pure deploy verdict: rows, thresholds, minimum traffic, and its properties."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from koipond.models.deploys import SliKind, SliRule, SliSettings, VerdictOutcome
from koipond.services.deploy_verdict import MethodMeasurement, WindowMeasurements, busiest_methods, compare

SETTINGS = SliSettings(min_calls=50, min_lag_samples=50)
ONLY_P50 = SliSettings(
    min_calls=50, rules=tuple(SliRule(kind=kind, enabled=False) for kind in SliKind if kind is not SliKind.LATENCY_P50)
)


def window(calls: float = 1000, ok: float = 1000, p50: float = 0.02, p99: float = 0.2, lag: float = 0.05,
           methods: tuple[str, ...] = ("chat.postMessage", "users.info")) -> WindowMeasurements:  # fmt: skip
    return WindowMeasurements(
        methods={m: MethodMeasurement(calls=calls, ok_calls=ok, p50=p50, p99=p99) for m in methods},
        lag_samples=calls,
        lag_p99=lag,
    )


def test_identical_healthy_windows_pass_with_a_row_per_method_and_sli() -> None:
    verdict = compare(window(), window(), SETTINGS)
    assert verdict.outcome is VerdictOutcome.PASS
    assert len(verdict.rows) == 2 * 3 + 1
    assert all(row.ok for row in verdict.rows)


def test_a_latency_rise_beyond_both_thresholds_fails_naming_the_sli_and_method() -> None:
    verdict = compare(window(p50=0.02), window(p50=0.03), SETTINGS)  # +50% and +10 ms
    assert verdict.outcome is VerdictOutcome.FAIL
    failing = [(r.kind, r.method) for r in verdict.rows if r.ok is False]
    assert failing == [(SliKind.LATENCY_P50, "chat.postMessage"), (SliKind.LATENCY_P50, "users.info")]
    assert "p50 latency of chat.postMessage: 20.0 ms -> 30.0 ms" in verdict.reason


def test_a_large_relative_rise_on_a_tiny_value_is_noise() -> None:
    verdict = compare(window(p50=0.001), window(p50=0.004), SETTINGS)  # +300% but only +3 ms
    assert verdict.outcome is VerdictOutcome.PASS


def test_a_success_rate_drop_beyond_the_points_fails() -> None:
    assert compare(window(ok=1000), window(ok=996), SETTINGS).outcome is VerdictOutcome.PASS  # -0.4 pp
    verdict = compare(window(ok=1000), window(ok=990), SETTINGS)  # -1 pp
    assert verdict.outcome is VerdictOutcome.FAIL
    row = next(r for r in verdict.rows if r.kind is SliKind.SUCCESS_RATE)
    assert (row.baseline, row.after, row.delta) == (100.0, 99.0, -1.0)


def test_too_little_traffic_after_the_deploy_is_inconclusive_not_pass() -> None:
    verdict = compare(window(), window(calls=10, ok=10), SETTINGS)
    assert verdict.outcome is VerdictOutcome.INCONCLUSIVE
    assert "only 10 calls after the deploy (< 50)" in verdict.reason


def test_a_baseline_without_traffic_is_inconclusive() -> None:
    verdict = compare(window(calls=3, ok=3), window(), SETTINGS)
    assert verdict.outcome is VerdictOutcome.INCONCLUSIVE
    assert "no method had 50 calls in the baseline window" in verdict.reason


def test_a_method_that_vanished_after_the_deploy_is_inconclusive() -> None:
    verdict = compare(window(), window(methods=("chat.postMessage",)), SETTINGS)
    assert verdict.outcome is VerdictOutcome.INCONCLUSIVE


def test_a_failure_outweighs_an_inconclusive_row() -> None:
    after = window(p50=0.5, methods=("chat.postMessage",))
    assert compare(window(), after, SETTINGS).outcome is VerdictOutcome.FAIL


def test_a_p99_beyond_the_last_bucket_fails_and_stays_failing() -> None:
    assert compare(window(p99=0.2), window(p99=math.inf), SETTINGS).outcome is VerdictOutcome.FAIL
    assert compare(window(p99=math.inf), window(p99=math.inf), SETTINGS).outcome is VerdictOutcome.PASS


def test_disabled_slis_have_no_rows() -> None:
    verdict = compare(window(), window(), ONLY_P50)
    assert {row.kind for row in verdict.rows} == {SliKind.LATENCY_P50}


def test_the_busiest_methods_are_compared_at_most_max_methods() -> None:
    methods = {f"m{i:02d}": MethodMeasurement(calls=100 + i, ok_calls=100 + i) for i in range(30)}
    methods["quiet"] = MethodMeasurement(calls=49, ok_calls=49)
    chosen = busiest_methods(WindowMeasurements(methods=methods), SliSettings(max_methods=20))
    assert chosen == [f"m{i:02d}" for i in range(29, 9, -1)]


latencies = st.floats(min_value=0, max_value=60, allow_nan=False)
rates = st.floats(min_value=0, max_value=1)
traffic = st.integers(min_value=50, max_value=1_000_000)


@given(traffic, rates, latencies, latencies, latencies)
def test_identical_windows_always_pass(calls: int, ok_share: float, p50: float, p99: float, lag: float) -> None:
    same = window(calls=calls, ok=math.floor(calls * ok_share), p50=p50, p99=p99, lag=lag)
    assert compare(same, same, SETTINGS).outcome is VerdictOutcome.PASS


@given(latencies, st.floats(min_value=0.0001, max_value=100))
def test_a_rise_beyond_both_thresholds_always_fails(before: float, excess: float) -> None:
    # Beyond +20% and beyond 5 ms, whichever is larger.
    after = before + max(before * 0.2, 0.005) + excess
    verdict = compare(window(p50=before), window(p50=after), ONLY_P50)
    assert verdict.outcome is VerdictOutcome.FAIL


@given(traffic, rates, rates, latencies, latencies, st.floats(min_value=0, max_value=1), latencies)
def test_worsening_the_soak_never_turns_a_fail_into_a_pass(
    calls: int, ok_before: float, ok_after: float, p99_before: float, p99_after: float, drop: float, rise: float
) -> None:
    before = window(calls=calls, ok=calls * ok_before, p99=p99_before)
    after = window(calls=calls, ok=calls * ok_after, p99=p99_after)
    worse = window(calls=calls, ok=calls * ok_after * (1 - drop), p99=p99_after + rise)
    if compare(before, after, SETTINGS).outcome is VerdictOutcome.FAIL:
        assert compare(before, worse, SETTINGS).outcome is VerdictOutcome.FAIL


@given(st.sampled_from(["p50", "p99", "lag"]), st.booleans(), traffic)
def test_nan_never_passes(which: str, in_baseline: bool, calls: int) -> None:
    bad = window(calls=calls, **{which: math.nan})  # type: ignore[arg-type]
    good = window(calls=calls)
    before, after = (bad, good) if in_baseline else (good, bad)
    assert compare(before, after, SETTINGS).outcome is VerdictOutcome.INCONCLUSIVE


@given(st.floats(min_value=0, max_value=49.9), traffic)
def test_too_few_samples_never_pass(few: float, calls: int) -> None:
    assert compare(window(calls=calls), window(calls=few, ok=few), SETTINGS).outcome is not VerdictOutcome.PASS
