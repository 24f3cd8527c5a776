"""A School's koi split over its workers by index: a partition, even, stable; and how many workers by default."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from koipond.api.poll import BehaviorRef, LoadTestSpec
from koipond.models.behavior import BehaviorDocument
from school_container.cpus import usable_cpus
from school_container.orders import (
    KoiOrder,
    Range,
    Slot,
    orders_from_wire,
    orders_to_wire,
    share_of,
    share_sizes,
    summed,
)


@st.composite
def disjoint_ranges(draw: st.DrawFn) -> tuple[Range, ...]:
    """Disjoint half-open ranges, as an assignment has them."""
    bounds = sorted(draw(st.sets(st.integers(0, 5_000), max_size=12)))
    pairs = list(zip(bounds[::2], bounds[1::2], strict=False))
    return tuple((start, end) for start, end in pairs if end > start)


WORKERS = st.integers(1, 9)


def every_index(ranges: tuple[Range, ...]) -> set[int]:
    return {i for start, end in ranges for i in range(start, end)}


@given(disjoint_ranges(), WORKERS)
def test_the_shares_partition_the_schools_koi(ranges: tuple[Range, ...], workers: int) -> None:
    shares = [share_of(ranges, Slot(w, workers)) for w in range(workers)]
    assert sum(len(s) for s in shares) == len(every_index(ranges)), "a koi is hosted twice"
    assert set().union(*shares) == every_index(ranges), "a koi is hosted nowhere"


@given(disjoint_ranges(), WORKERS)
def test_no_worker_has_more_than_one_koi_over_an_even_share_per_range(ranges: tuple[Range, ...], workers: int) -> None:
    sizes = [len(share_of(ranges, Slot(w, workers))) for w in range(workers)]
    assert max(sizes) - min(sizes) <= len(ranges)
    assert sizes == share_sizes(ranges, workers)


@given(disjoint_ranges(), disjoint_ranges(), WORKERS, st.integers(0, 5_000))
def test_a_kois_worker_depends_on_its_index_alone(
    before: tuple[Range, ...], after: tuple[Range, ...], workers: int, index: int
) -> None:
    """A scale, a shed or a move of other koi never moves a koi to another worker (which would restart it)."""
    hosts_before = {w for w in range(workers) if index in share_of(before, Slot(w, workers))}
    hosts_after = {w for w in range(workers) if index in share_of(after, Slot(w, workers))}
    if hosts_before and hosts_after:
        assert hosts_before == hosts_after == {index % workers}


def test_one_worker_hosts_every_koi() -> None:
    assert share_of(((0, 3), (10, 12)), Slot(0, 1)) == {0, 1, 2, 10, 11}


@pytest.mark.parametrize(("worker", "workers"), [(-1, 2), (2, 2), (0, 0)])
def test_a_slot_outside_the_school_is_refused(worker: int, workers: int) -> None:
    with pytest.raises(ValueError, match="is not one of"):
        Slot(worker, workers)


def test_counts_of_several_hosts_add_up_per_test() -> None:
    assert summed([{"a": 3, "b": 1}, {"a": 2}, {}]) == {"a": 5, "b": 1}


def test_orders_survive_the_pipe_to_a_worker() -> None:
    spec = LoadTestSpec(
        test_id="lt-1",
        test_name="n",
        behavior=BehaviorRef(name="b", version=None),
        target="http://t",
        workspace="w",
        tags=[],
    )
    behavior = BehaviorDocument.model_validate(
        {"description": "d", "actions": {"p": {"method": "GET", "path": "/api/users.info", "rate_per_hour": 60}}}
    )
    orders = (KoiOrder("lt-1", ((0, 10), (20, 25)), spec, behavior), KoiOrder("lt-2", ((5, 6),)))
    assert orders_from_wire(orders_to_wire(orders)) == orders
    # version None (the latest, read once) is one lane of its own, keyed 0
    [lane] = orders[0].lanes(frozenset(range(3)), datetime.now(UTC))
    assert (lane.version, lane.koi) == (0, frozenset(range(3)))
    assert orders[0].identity(lane.version) == ("b", "0", "http://t", "w")
    assert not orders[1].runnable


@pytest.mark.parametrize(
    ("affinity", "cpu_max", "expected"),
    [
        (2, None, 2),  # no cgroup v2 file: the CPUs the scheduler allows
        (8, "max 100000", 8),  # no quota
        (8, "200000 100000", 2),  # two CPUs' worth of time
        (8, "150000 100000", 2),  # a partial CPU still gets a worker
        (8, "50000 100000", 1),
        (2, "400000 100000", 2),  # a quota above the affinity does not add CPUs
        (0, "garbage", 1),
        (4, "abc 100000", 4),
    ],
)
def test_default_workers_are_the_cpus_the_container_may_use(affinity: int, cpu_max: str | None, expected: int) -> None:
    assert usable_cpus(affinity, cpu_max) == expected
