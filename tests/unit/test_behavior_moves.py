"""Moving a following test's koi onto a new version: monotone, complete after the last batch, one batch per interval."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from koipond.services.behavior_moves import (
    FOLLOW_REFRESH_SECONDS,
    BehaviorChange,
    batches_moved,
    follow,
    runs_new_version,
    version_of_koi,
)
from tests.conftest import START

fractions = st.sampled_from([0.05, 0.1, 0.2, 0.25, 0.3, 0.5, 1.0])
intervals = st.sampled_from([1.0, 30.0, 60.0, 300.0])
koi_counts = st.integers(min_value=1, max_value=400)


def _change(fraction: float, interval: float, to_version: int = 2) -> BehaviorChange:
    return BehaviorChange(to_version - 1, to_version, START, fraction, interval)


@settings(max_examples=60, deadline=None)
@given(fractions, intervals, koi_counts, st.lists(st.floats(-100, 10_000), min_size=2, max_size=8))
def test_once_moved_a_koi_never_moves_back(fraction: float, interval: float, koi: int, offsets: list[float]) -> None:
    change = _change(fraction, interval)
    times = [START + timedelta(seconds=o) for o in sorted(offsets)]
    for index in range(koi):
        moved = [runs_new_version(index, change, t) for t in times]
        assert moved == sorted(moved)  # False... then True...


@settings(max_examples=60, deadline=None)
@given(fractions, intervals, koi_counts, st.integers(2, 50))
def test_every_koi_has_moved_once_the_last_batch_is_due(fraction: float, interval: float, koi: int, v: int) -> None:
    change = _change(fraction, interval, v)
    done = START + timedelta(seconds=change.seconds_to_finish)
    assert all(runs_new_version(i, change, done) for i in range(koi))
    assert all(version_of_koi(i, change, v, done) == v for i in range(koi))


@settings(max_examples=60, deadline=None)
@given(fractions, intervals, koi_counts, st.integers(0, 40))
def test_no_interval_moves_more_than_one_batch(fraction: float, interval: float, koi: int, step: int) -> None:
    change = _change(fraction, interval)
    batch = -(-koi // change.batches)  # the biggest batch: ceil(koi / batches)
    before = START + timedelta(seconds=step * interval - interval / 2)
    after = START + timedelta(seconds=step * interval + interval / 2)
    moved_before = sum(runs_new_version(i, change, before) for i in range(koi))
    moved_after = sum(runs_new_version(i, change, after) for i in range(koi))
    assert 0 <= moved_after - moved_before <= batch


def test_nothing_moves_before_the_change_and_the_first_batch_moves_at_its_start() -> None:
    change = _change(0.1, 60)
    assert batches_moved(change, START - timedelta(seconds=1)) == 0
    assert batches_moved(change, START) == 1
    assert batches_moved(change, START + timedelta(seconds=60)) == 2
    assert sum(runs_new_version(i, change, START) for i in range(100)) == 10
    assert version_of_koi(5, None, 7, START) == 7


def test_a_change_refuses_a_fraction_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match="batch_fraction"):
        _change(0, 60)


def test_a_test_that_started_on_the_latest_version_has_no_change_to_make() -> None:
    assert follow(3, START, 3, START).change is None
    under_way = follow(4, START, 3, START + timedelta(seconds=30))
    assert under_way.version == 4
    # The first batch moves one refresh after publishing: every School has read the new spec by then.
    assert under_way.change == BehaviorChange(3, 4, START + timedelta(seconds=FOLLOW_REFRESH_SECONDS))
    assert under_way.refresh_seconds == FOLLOW_REFRESH_SECONDS
    assert follow(4, START, 3, START + timedelta(hours=1)).change is None  # long finished


def test_schools_read_a_following_spec_at_least_once_per_batch_interval() -> None:
    fast = follow(4, START, 3, START, batch_fraction=0.5, interval_seconds=5.0)
    assert fast.refresh_seconds == 5.0
    assert fast.change is not None
    assert fast.change.started_at == START + timedelta(seconds=5)
