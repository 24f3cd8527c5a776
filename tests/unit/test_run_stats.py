"""RunStats and its parts: summaries of digests, success rates, request rates over the run and between snapshots."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from koipond.metric_names import CALL_STATUSES, OK_STATUS
from koipond.models.latency_digest import LatencyDigest
from koipond.models.run_stats import (
    SUMMARY_FIGURES,
    ActionStats,
    LatencySummary,
    RunStats,
    requests_per_second,
)

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)
statuses = st.dictionaries(st.sampled_from(CALL_STATUSES), st.integers(0, 10**6))


def digest_of(values: list[float]) -> LatencyDigest:
    digest = LatencyDigest()
    for value in values:
        digest.record(value)
    return digest


def run(elapsed: float, actions: dict[str, int], total: int | None = None) -> RunStats:
    by_action = {name: ActionStats.of({OK_STATUS: calls}, LatencyDigest()) for name, calls in actions.items()}
    everything = ActionStats.of({OK_STATUS: sum(actions.values()) if total is None else total}, LatencyDigest())
    return RunStats(elapsed_seconds=elapsed, koi=10, actions=by_action, total=everything)


def test_a_summary_holds_the_digests_percentiles_max_and_mean() -> None:
    digest = digest_of([i / 1000 for i in range(1, 1001)])  # 1 ms .. 1 s
    summary = LatencySummary.of(digest)
    assert summary.count == 1000
    assert summary.p50 == pytest.approx(0.5, rel=0.01)
    assert summary.p90 == pytest.approx(0.9, rel=0.01)
    assert summary.p95 == pytest.approx(0.95, rel=0.01)
    assert summary.p99 == pytest.approx(0.99, rel=0.01)
    assert summary.max == 1.0
    assert summary.mean == pytest.approx(0.5005)


def test_a_summary_of_nothing_has_no_figures() -> None:
    summary = LatencySummary.of(LatencyDigest())
    assert summary == LatencySummary.empty()
    assert summary.count == 0
    assert all(summary.percentile(name) is None for name in SUMMARY_FIGURES)


def test_a_summary_does_not_follow_later_records() -> None:
    digest = digest_of([0.1])
    summary = LatencySummary.of(digest)
    digest.record(9.0)
    assert (summary.count, summary.max) == (1, 0.1)


def test_percentile_reads_every_figure_by_name_and_avg_is_the_mean() -> None:
    summary = LatencySummary(count=3, p50=0.1, p90=0.2, p95=0.3, p99=0.4, max=0.5, mean=0.25)
    figures = {name: summary.percentile(name) for name in SUMMARY_FIGURES}
    assert figures == {"p50": 0.1, "p90": 0.2, "p95": 0.3, "p99": 0.4, "max": 0.5, "avg": 0.25, "mean": 0.25}


def test_an_unknown_figure_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"'p98'.*p50, p90, p95, p99, max, avg, mean"):
        LatencySummary.empty().percentile("p98")


@PROPERTY_SETTINGS
@given(statuses, st.integers(0, 100))
def test_action_stats_count_every_status_as_a_request_and_all_but_ok_as_failures(
    counts: dict[str, int], skipped: int
) -> None:
    stats = ActionStats.of(counts, LatencyDigest(), skipped=skipped)
    assert stats.requests == sum(counts.values())
    assert stats.failures == sum(n for status, n in counts.items() if status != OK_STATUS)
    assert stats.statuses == counts
    assert stats.skipped == skipped


@PROPERTY_SETTINGS
@given(statuses)
def test_success_and_error_rates_are_fractions_adding_up_to_one(counts: dict[str, int]) -> None:
    stats = ActionStats.of(counts, LatencyDigest())
    if stats.requests == 0:
        assert (stats.success_rate, stats.error_rate) == (None, None)
    else:
        assert stats.success_rate is not None
        assert stats.error_rate is not None
        assert 0.0 <= stats.success_rate <= 1.0
        assert stats.success_rate + stats.error_rate == pytest.approx(1.0)
        assert stats.success_rate == counts.get(OK_STATUS, 0) / stats.requests


def test_success_rate_is_the_share_of_calls_that_did_not_fail() -> None:
    stats = ActionStats(requests=200, failures=3, statuses={}, latency=LatencySummary.empty())
    assert stats.success_rate == 197 / 200


def test_action_stats_keep_their_own_copy_of_the_statuses() -> None:
    counts = {OK_STATUS: 1}
    stats = ActionStats.of(counts, LatencyDigest())
    counts[OK_STATUS] = 99
    assert stats.statuses == {OK_STATUS: 1}


def test_rate_is_requests_per_second_over_the_run_for_all_or_one_action() -> None:
    stats = run(elapsed=20.0, actions={"chat.postMessage": 300, "conversations.history": 500})
    assert stats.rate() == 40.0
    assert stats.rate("chat.postMessage") == 15.0
    assert stats.rate("no.such.action") == 0.0


def test_rate_is_zero_before_any_time_passed() -> None:
    assert run(elapsed=0.0, actions={"a": 5}).rate() == 0.0


def test_a_run_without_websockets_has_empty_lag_summaries() -> None:
    stats = run(elapsed=1.0, actions={})
    assert (stats.ws_connects, stats.ws_lag.count, stats.schedule_lag.p99) == (0, 0, None)


@PROPERTY_SETTINGS
@given(
    st.floats(0, 10_000),
    st.floats(0, 10_000),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
)
def test_requests_per_second_between_snapshots_is_the_delta_of_requests_over_the_delta_of_time(
    start: float, seconds: float, before_calls: int, new_calls: int
) -> None:
    before = run(elapsed=start, actions={"a": before_calls})
    after = run(elapsed=start + seconds, actions={"a": before_calls + new_calls})
    window = after.elapsed_seconds - before.elapsed_seconds
    expected = new_calls / window if window > 0 else 0.0
    assert requests_per_second(before, after) == pytest.approx(expected)
    assert requests_per_second(before, after, "a") == pytest.approx(expected)


def test_requests_per_second_of_the_last_second() -> None:
    before = run(elapsed=9.0, actions={"a": 100, "b": 10})
    after = run(elapsed=10.0, actions={"a": 141, "b": 12})
    assert requests_per_second(before, after) == 43.0
    assert requests_per_second(before, after, "b") == 2.0
    assert requests_per_second(before, after, "c") == 0.0


def test_requests_per_second_is_zero_when_no_time_passed() -> None:
    same = run(elapsed=5.0, actions={"a": 10})
    assert requests_per_second(same, run(elapsed=5.0, actions={"a": 20})) == 0.0
