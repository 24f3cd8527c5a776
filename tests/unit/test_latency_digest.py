"""LatencyDigest: quantiles within 1 % of the exact nearest-rank ones, exact count/total/min/max, merging."""

from __future__ import annotations

import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from koipond.models.latency_digest import (
    MAX_PRECISE_SECONDS,
    RELATIVE_ACCURACY,
    SMALLEST_PRECISE_SECONDS,
    LatencyDigest,
)

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)
# Latencies as they come: mostly milliseconds to seconds, some sub-microsecond, and every edge in between.
latency = st.one_of(
    st.floats(min_value=0.0, max_value=MAX_PRECISE_SECONDS, allow_nan=False),
    st.floats(min_value=1e-3, max_value=2.0),
    st.sampled_from([0.0, SMALLEST_PRECISE_SECONDS, MAX_PRECISE_SECONDS, 0.5, 1.0]),
)
latencies = st.lists(latency, min_size=1, max_size=300)
quantiles = st.floats(min_value=0.0, max_value=1.0)


def digest_of(values: list[float]) -> LatencyDigest:
    digest = LatencyDigest()
    for value in values:
        digest.record(value)
    return digest


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def assert_close(estimate: float | None, exact: float) -> None:
    assert estimate is not None
    if exact >= SMALLEST_PRECISE_SECONDS:
        assert abs(estimate - exact) <= RELATIVE_ACCURACY * exact
    else:
        assert abs(estimate - exact) < SMALLEST_PRECISE_SECONDS


@PROPERTY_SETTINGS
@given(latencies, quantiles)
def test_every_quantile_is_within_one_percent_of_the_exact_nearest_rank_one(values: list[float], q: float) -> None:
    assert_close(digest_of(values).quantile(q), nearest_rank(values, q))


@PROPERTY_SETTINGS
@given(latencies)
def test_the_usual_percentiles_are_within_one_percent(values: list[float]) -> None:
    digest = digest_of(values)
    for q in (0.5, 0.9, 0.95, 0.99, 0.999):
        assert_close(digest.quantile(q), nearest_rank(values, q))


@PROPERTY_SETTINGS
@given(latencies)
def test_count_total_min_and_max_are_exact_and_quantile_ends_are_min_and_max(values: list[float]) -> None:
    digest = digest_of(values)
    assert digest.count == len(values)
    assert digest.total == pytest.approx(math.fsum(values), rel=1e-12, abs=1e-12)
    assert (digest.min, digest.max) == (min(values), max(values))
    assert (digest.quantile(0.0), digest.quantile(1.0)) == (min(values), max(values))


@PROPERTY_SETTINGS
@given(latencies, quantiles)
def test_a_quantile_lies_between_min_and_max(values: list[float], q: float) -> None:
    estimate = digest_of(values).quantile(q)
    assert estimate is not None
    assert min(values) <= estimate <= max(values)


@PROPERTY_SETTINGS
@given(st.lists(latencies, min_size=1, max_size=4))
def test_merging_digests_is_recording_everything_into_one(parts: list[list[float]]) -> None:
    merged = LatencyDigest()
    for part in parts:
        merged.merge(digest_of(part))
    everything = [value for part in parts for value in part]
    whole = digest_of(everything)
    assert (merged.count, merged.min, merged.max) == (whole.count, whole.min, whole.max)
    assert merged.total == pytest.approx(whole.total, rel=1e-12, abs=1e-12)
    for q in [i / 100 for i in range(101)]:
        assert merged.quantile(q) == whole.quantile(q)


@PROPERTY_SETTINGS
@given(latencies, latencies)
def test_merge_leaves_the_other_digest_as_it_was(mine: list[float], theirs: list[float]) -> None:
    digest, other = digest_of(mine), digest_of(theirs)
    digest.merge(other)
    assert (other.count, other.max, other.quantile(0.5)) == (len(theirs), max(theirs), digest_of(theirs).quantile(0.5))


def test_a_copy_is_independent_of_the_original() -> None:
    digest = digest_of([0.1, 0.2])
    twin = digest.copy()
    twin.record(5.0)
    assert (digest.count, digest.max) == (2, 0.2)
    assert (twin.count, twin.max) == (3, 5.0)


def test_an_empty_digest_has_no_figures() -> None:
    digest = LatencyDigest()
    assert (digest.count, digest.total, digest.min, digest.max, digest.quantile(0.99)) == (0, 0.0, None, None, None)


def test_merging_an_empty_digest_changes_nothing() -> None:
    digest = digest_of([0.25])
    digest.merge(LatencyDigest())
    assert (digest.count, digest.min, digest.max, digest.quantile(0.5)) == (1, 0.25, 0.25, 0.25)


def test_the_rank_convention_is_nearest_rank() -> None:
    digest = digest_of([0.001, 0.002, 0.003, 0.004])
    assert digest.quantile(0.5) == pytest.approx(0.002, rel=RELATIVE_ACCURACY)
    assert digest.quantile(0.51) == pytest.approx(0.003, rel=RELATIVE_ACCURACY)
    assert digest.quantile(0.25) == 0.001  # rank 1: the min, exactly


def test_a_negative_latency_counts_as_zero() -> None:
    digest = digest_of([-0.5, 0.1])
    assert (digest.min, digest.total, digest.count) == (0.0, 0.1, 2)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinite_latencies_are_refused(value: float) -> None:
    digest = LatencyDigest()
    with pytest.raises(ValueError, match="finite"):
        digest.record(value)
    assert digest.count == 0


@pytest.mark.parametrize("q", [-0.01, 1.01, math.nan])
def test_a_quantile_outside_zero_to_one_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="from 0 to 1"):
        digest_of([0.1]).quantile(q)


def test_latencies_over_an_hour_are_counted_and_their_max_is_exact() -> None:
    digest = digest_of([0.1] * 98 + [7200.0, 86_400.5])
    assert (digest.count, digest.max) == (100, 86_400.5)
    assert digest.quantile(0.99) == 86_400.5  # over an hour reads as the max
    assert digest.quantile(0.5) == pytest.approx(0.1, rel=RELATIVE_ACCURACY)


def test_memory_stays_the_same_whatever_the_count() -> None:
    small, large = digest_of([0.1]), digest_of([i / 1000 for i in range(100_000)])
    assert len(pickle.dumps(large)) < 2 * len(pickle.dumps(small))


def test_a_digest_survives_pickling_to_another_process() -> None:
    digest = digest_of([0.1, 0.2, 0.3])
    clone = pickle.loads(pickle.dumps(digest))  # noqa: S301 - our own bytes, just made
    assert (clone.count, clone.total, clone.max, clone.quantile(0.5)) == (3, digest.total, 0.3, digest.quantile(0.5))


def test_values_on_every_bucket_edge_are_within_one_percent() -> None:
    # A value on a bucket's edge may be rounded by math.log into either neighbour; both must read within 1 %.
    edges = [SMALLEST_PRECISE_SECONDS * 1.02**i for i in range(1200)]
    for value in [v for edge in edges for v in (edge, math.nextafter(edge, 0.0))]:
        if value <= MAX_PRECISE_SECONDS:
            middle = digest_of([0.0, value, MAX_PRECISE_SECONDS * 2]).quantile(0.5)
            assert_close(middle, value)
