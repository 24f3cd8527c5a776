"""Allocation of koi to Schools: invariants as properties, key scenarios as examples."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from koipond.models.allocation import Allocation, KoiRange
from koipond.services.allocation import (
    QUIET_SLACK_SECONDS,
    KoiDemand,
    QuietWindow,
    RebalanceTolerance,
    SchoolView,
    allocate_koi,
    heard_until,
    is_live,
    silent_for,
)

SCHOOL_IDS = [f"s{i}" for i in range(6)]
TEST_IDS = [f"t{i}" for i in range(4)]
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


# --- helpers ---------------------------------------------------------------------------------------


def ranges(*bounds: tuple[int, int]) -> tuple[KoiRange, ...]:
    return tuple(KoiRange(start=start, end=end) for start, end in bounds)


def indexes(allocation: Allocation, school_id: str, test_id: str) -> set[int]:
    held = allocation.assignments.get(school_id, {}).get(test_id, ())
    return {i for r in held for i in range(r.start, r.end)}


def live_capacity(schools: Sequence[SchoolView]) -> int:
    return sum(s.capacity for s in schools if s.live)


def assert_invariants(allocation: Allocation, demands: Sequence[KoiDemand], schools: Sequence[SchoolView]) -> None:
    """Every invariant of an allocation, checked on ranges so it also works for millions of koi."""
    wanted = {d.test_id: d.koi for d in demands}
    capacity = {s.school_id: s.capacity for s in schools if s.live}
    assert_canonical(allocation)
    assert set(allocation.assignments) <= set(capacity), "a dead or unknown School holds koi"
    for school_id in allocation.assignments:
        assert allocation.load_of_school(school_id) <= capacity[school_id]
    held = {test_id: 0 for test_id in wanted}
    for test_id, claims in claims_by_test(allocation).items():
        assert wanted.get(test_id, 0) > 0, f"stopped test {test_id} still holds koi"
        for (_, end_a, _), (start_b, _, _) in pairwise(claims):
            assert end_a <= start_b, f"a koi of {test_id} is held by two Schools"
        assert claims[-1][1] <= wanted[test_id], f"{test_id} holds more koi than it demands"
        held[test_id] = sum(end - start for start, end, _ in claims)
    assert sum(held.values()) == min(sum(wanted.values()), sum(capacity.values()))
    if sum(wanted.values()) <= sum(capacity.values()):
        assert held == wanted, "capacity suffices but some demanded koi are unheld"


def assert_canonical(allocation: Allocation) -> None:
    for tests in allocation.assignments.values():
        assert tests, "a School with no tests is listed"
        for held in tests.values():
            assert held, "a test with no ranges is listed"
            for a, b in pairwise(held):
                assert a.end < b.start, "ranges are not sorted, disjoint and merged"


def claims_by_test(allocation: Allocation) -> dict[str, list[tuple[int, int, str]]]:
    claims: dict[str, list[tuple[int, int, str]]] = {}
    for school_id, tests in allocation.assignments.items():
        for test_id, held in tests.items():
            claims.setdefault(test_id, []).extend((r.start, r.end, school_id) for r in held)
    return {test_id: sorted(test_claims) for test_id, test_claims in claims.items()}


def canonical(spans: list[tuple[int, int]]) -> tuple[KoiRange, ...]:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return ranges(*((start, end) for start, end in merged))


def within_tolerance(load: int, capacity: int, demands: Sequence[KoiDemand], schools: Sequence[SchoolView]) -> bool:
    total_capacity = live_capacity(schools)
    settled = min(sum(d.koi for d in demands), total_capacity)
    fair = Fraction(settled * capacity, total_capacity) if total_capacity else Fraction(0)
    return load <= fair + max(fair / 10, Fraction(50))


# --- strategies ------------------------------------------------------------------------------------

demands_st = st.dictionaries(st.sampled_from(TEST_IDS), st.integers(0, 600)).map(
    lambda wanted: [KoiDemand(test_id, koi) for test_id, koi in wanted.items()]
)
schools_st = st.dictionaries(st.sampled_from(SCHOOL_IDS), st.tuples(st.integers(0, 400), st.booleans())).map(
    lambda seen: [SchoolView(school_id, cap, live) for school_id, (cap, live) in seen.items()]
)
live_schools_st = st.dictionaries(st.sampled_from(SCHOOL_IDS), st.integers(0, 400), min_size=2).map(
    lambda seen: [SchoolView(school_id, cap, True) for school_id, cap in seen.items()]
)
# Any stored document, even one where two Schools claim the same koi or Schools/tests are unknown.
arbitrary_previous_st = st.builds(
    lambda assignments, version: Allocation(
        version=version,
        assignments={
            school_id: {test_id: canonical(spans) for test_id, spans in tests.items()}
            for school_id, tests in assignments.items()
            if tests
        },
    ),
    st.dictionaries(
        st.sampled_from([*SCHOOL_IDS, "ghost"]),
        st.dictionaries(
            st.sampled_from([*TEST_IDS, "gone"]),
            st.lists(
                st.tuples(st.integers(0, 700), st.integers(1, 300)).map(lambda p: (p[0], p[0] + p[1])),
                min_size=1,
                max_size=3,
            ),
        ),
    ),
    st.integers(0, 1000),
)
settled_previous_st = st.builds(lambda d, s: allocate_koi(Allocation(version=7), d, s), demands_st, schools_st)
previous_st = st.one_of(arbitrary_previous_st, settled_previous_st)


# --- properties ------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(previous=previous_st, demands=demands_st, schools=schools_st)
def test_no_koi_index_is_held_by_two_schools(
    previous: Allocation, demands: list[KoiDemand], schools: list[SchoolView]
) -> None:
    for claims in claims_by_test(allocate_koi(previous, demands, schools)).values():
        for (_, end_a, _), (start_b, _, _) in pairwise(claims):
            assert end_a <= start_b


@PROPERTY_SETTINGS
@given(previous=previous_st, demands=demands_st, schools=schools_st)
def test_no_test_gets_more_koi_than_it_demands(
    previous: Allocation, demands: list[KoiDemand], schools: list[SchoolView]
) -> None:
    wanted = {d.test_id: d.koi for d in demands}
    for test_id, claims in claims_by_test(allocate_koi(previous, demands, schools)).items():
        assert all(end <= wanted.get(test_id, 0) for _, end, _ in claims)


@PROPERTY_SETTINGS
@given(previous=previous_st, demands=demands_st, schools=schools_st)
def test_no_school_exceeds_its_capacity(
    previous: Allocation, demands: list[KoiDemand], schools: list[SchoolView]
) -> None:
    allocation = allocate_koi(previous, demands, schools)
    for school in schools:
        assert allocation.load_of_school(school.school_id) <= school.capacity


@PROPERTY_SETTINGS
@given(previous=previous_st, demands=demands_st, schools=schools_st)
def test_dead_or_unknown_schools_hold_nothing(
    previous: Allocation, demands: list[KoiDemand], schools: list[SchoolView]
) -> None:
    live = {s.school_id for s in schools if s.live}
    assert set(allocate_koi(previous, demands, schools).assignments) <= live


@PROPERTY_SETTINGS
@given(previous=previous_st, demands=demands_st, schools=schools_st)
def test_every_demanded_koi_is_held_when_capacity_suffices(
    previous: Allocation, demands: list[KoiDemand], schools: list[SchoolView]
) -> None:
    allocation = allocate_koi(previous, demands, schools)
    if sum(d.koi for d in demands) <= live_capacity(schools):
        for demand in demands:
            assert sum(allocation.koi_of_test(demand.test_id).values()) == demand.koi
    else:
        for school in schools:
            if school.live:
                assert allocation.load_of_school(school.school_id) == school.capacity


@PROPERTY_SETTINGS
@given(previous=previous_st, demands=demands_st, schools=schools_st)
def test_output_is_canonical_and_keeps_the_version(
    previous: Allocation, demands: list[KoiDemand], schools: list[SchoolView]
) -> None:
    allocation = allocate_koi(previous, demands, schools)
    assert_canonical(allocation)
    assert allocation.version == previous.version
    assert_invariants(allocation, demands, schools)


@PROPERTY_SETTINGS
@given(previous=previous_st, demands=demands_st, schools=schools_st)
def test_allocating_twice_changes_nothing(
    previous: Allocation, demands: list[KoiDemand], schools: list[SchoolView]
) -> None:
    once = allocate_koi(previous, demands, schools)
    assert allocate_koi(once, demands, schools) == once


@PROPERTY_SETTINGS
@given(previous=previous_st, demands=demands_st, schools=schools_st, data=st.data())
def test_allocation_ignores_the_order_of_inputs(
    previous: Allocation, demands: list[KoiDemand], schools: list[SchoolView], data: st.DataObject
) -> None:
    shuffled_demands = data.draw(st.permutations(demands))
    shuffled_schools = data.draw(st.permutations(schools))
    assert allocate_koi(previous, shuffled_demands, shuffled_schools) == allocate_koi(previous, demands, schools)


@PROPERTY_SETTINGS
@given(demands=demands_st, schools=live_schools_st, data=st.data())
def test_survivors_keep_their_koi_when_a_school_dies(
    demands: list[KoiDemand], schools: list[SchoolView], data: st.DataObject
) -> None:
    before = allocate_koi(Allocation(), demands, schools)
    victim = data.draw(st.sampled_from(schools))
    after_schools = [s if s != victim else SchoolView(s.school_id, s.capacity, False) for s in schools]
    after = allocate_koi(before, demands, after_schools)
    assert_invariants(after, demands, after_schools)
    for school in after_schools:
        if school.live:
            # A settled allocation leaves every survivor within tolerance of its new, larger fair
            # share, so only the dead School's koi may move; asserted here rather than assumed.
            load = before.load_of_school(school.school_id)
            assert within_tolerance(load, school.capacity, demands, after_schools)
            for demand in demands:
                kept = indexes(before, school.school_id, demand.test_id)
                assert kept <= indexes(after, school.school_id, demand.test_id)


@PROPERTY_SETTINGS
@given(previous=settled_previous_st, demands=demands_st, schools=schools_st)
def test_koi_leave_a_school_only_when_it_is_over_capacity_or_far_above_its_fair_share(
    previous: Allocation, demands: list[KoiDemand], schools: list[SchoolView]
) -> None:
    after = allocate_koi(previous, demands, schools)
    wanted = {d.test_id: d.koi for d in demands}
    for school in (s for s in schools if s.live):
        kept = {
            test_id: {i for i in indexes(previous, school.school_id, test_id) if i < koi}
            for test_id, koi in wanted.items()
        }
        load = sum(len(held) for held in kept.values())
        if load <= school.capacity and within_tolerance(load, school.capacity, demands, schools):
            for test_id, held in kept.items():
                assert held <= indexes(after, school.school_id, test_id)


# --- a random sequence of pond events --------------------------------------------------------------


class PondMachine(RuleBasedStateMachine):
    """Polls interleaved with scaling, shedding, tests starting and stopping, Schools coming and going."""

    def __init__(self) -> None:
        super().__init__()
        self.wanted: dict[str, int] = {}
        self.schools: dict[str, SchoolView] = {}
        self.allocation = Allocation()
        self.settled = True

    def demands(self) -> list[KoiDemand]:
        return [KoiDemand(test_id, koi) for test_id, koi in self.wanted.items()]

    def school_views(self) -> list[SchoolView]:
        return list(self.schools.values())

    def changed(self) -> None:
        self.settled = False

    @initialize(koi=st.integers(0, 800), capacity=st.integers(0, 500))
    def first_school_and_test(self, koi: int, capacity: int) -> None:
        self.wanted["t0"] = koi
        self.schools["s0"] = SchoolView("s0", capacity, True)
        self.changed()

    @rule()
    def poll(self) -> None:
        polled = allocate_koi(self.allocation, self.demands(), self.school_views())
        self.allocation = polled.model_copy(update={"version": polled.version + 1})
        self.settled = True

    @rule(test_id=st.sampled_from([*TEST_IDS, "t4", "t5"]), koi=st.integers(0, 800))
    def start_or_scale_test(self, test_id: str, koi: int) -> None:
        self.wanted[test_id] = koi
        self.changed()

    @precondition(lambda self: bool(self.wanted))
    @rule(data=st.data(), percent=st.integers(0, 100))
    def shed(self, data: st.DataObject, percent: int) -> None:
        test_id = data.draw(st.sampled_from(sorted(self.wanted)))
        self.wanted[test_id] -= int(self.wanted[test_id] * percent / 100 + 0.5)
        self.changed()

    @precondition(lambda self: bool(self.wanted))
    @rule(data=st.data())
    def stop_test(self, data: st.DataObject) -> None:
        del self.wanted[data.draw(st.sampled_from(sorted(self.wanted)))]
        self.changed()

    @rule(school_id=st.sampled_from([*SCHOOL_IDS, "s6", "s7"]), capacity=st.integers(0, 500))
    def join_or_change_capacity(self, school_id: str, capacity: int) -> None:
        self.schools[school_id] = SchoolView(school_id, capacity, True)
        self.changed()

    @precondition(lambda self: bool(self.schools))
    @rule(data=st.data())
    def kill_school(self, data: st.DataObject) -> None:
        victim = self.schools[data.draw(st.sampled_from(sorted(self.schools)))]
        self.schools[victim.school_id] = SchoolView(victim.school_id, victim.capacity, False)
        if self.settled:
            self.check_survivors_keep_their_koi(victim.school_id)
        self.changed()

    @precondition(lambda self: bool(self.schools))
    @rule(data=st.data())
    def revive_or_forget_school(self, data: st.DataObject) -> None:
        school = self.schools[data.draw(st.sampled_from(sorted(self.schools)))]
        if school.live:
            del self.schools[school.school_id]  # gone from the table: unknown to the allocation
            if self.settled:
                self.check_survivors_keep_their_koi(school.school_id)
        else:
            self.schools[school.school_id] = SchoolView(school.school_id, school.capacity, True)
        self.changed()

    def check_survivors_keep_their_koi(self, victim: str) -> None:
        after = allocate_koi(self.allocation, self.demands(), self.school_views())
        for school_id, tests in self.allocation.assignments.items():
            if school_id != victim:
                for test_id in tests:
                    assert indexes(self.allocation, school_id, test_id) <= indexes(after, school_id, test_id)

    @invariant()
    def next_poll_satisfies_every_invariant(self) -> None:
        demands, schools = self.demands(), self.school_views()
        polled = allocate_koi(self.allocation, demands, schools)
        assert_invariants(polled, demands, schools)
        assert allocate_koi(polled, demands, schools).same_assignments(polled)
        if self.settled:
            assert polled.same_assignments(self.allocation), "a poll with nothing changed moved koi"


PondMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=50, deadline=None)
TestPondEvents = PondMachine.TestCase


# --- examples --------------------------------------------------------------------------------------


def test_new_test_on_two_empty_schools_is_split_evenly_in_contiguous_ranges() -> None:
    schools = [SchoolView("b", 5000, True), SchoolView("a", 5000, True)]
    allocation = allocate_koi(Allocation(version=3), [KoiDemand("t", 2000)], schools)
    assert allocation == Allocation(
        version=3, assignments={"a": {"t": ranges((0, 1000))}, "b": {"t": ranges((1000, 2000))}}
    )


def test_scaling_down_stops_the_highest_indexes_and_keeps_the_rest_in_place() -> None:
    schools = [SchoolView("a", 5000, True), SchoolView("b", 5000, True)]
    before = allocate_koi(Allocation(), [KoiDemand("t", 2000)], schools)
    after = allocate_koi(before, [KoiDemand("t", 1900)], schools)
    assert after.assignments == {"a": {"t": ranges((0, 1000))}, "b": {"t": ranges((1000, 1900))}}


def test_scaling_down_far_moves_only_the_excess_of_the_school_left_far_above_its_fair_share() -> None:
    schools = [SchoolView("a", 5000, True), SchoolView("b", 5000, True)]
    before = allocate_koi(Allocation(), [KoiDemand("t", 2000)], schools)
    after = allocate_koi(before, [KoiDemand("t", 1500)], schools)
    assert after.assignments == {"a": {"t": ranges((0, 750))}, "b": {"t": ranges((750, 1500))}}


def test_scaling_up_a_little_fills_only_the_new_indexes_on_as_few_schools_as_tolerance_allows() -> None:
    schools = [SchoolView("a", 5000, True), SchoolView("b", 5000, True)]
    before = allocate_koi(Allocation(), [KoiDemand("t", 2000)], schools)
    after = allocate_koi(before, [KoiDemand("t", 2200)], schools)
    # fair share 1,100 each, tolerance 110: one School takes all 200 new koi (one write, not two).
    assert after.assignments == {"a": {"t": ranges((0, 1000), (2000, 2200))}, "b": {"t": ranges((1000, 2000))}}


def test_scaling_up_a_lot_levels_the_schools_left_far_below_their_fair_share() -> None:
    schools = [SchoolView("a", 5000, True), SchoolView("b", 5000, True)]
    before = allocate_koi(Allocation(), [KoiDemand("t", 2000)], schools)
    after = allocate_koi(before, [KoiDemand("t", 4000)], schools)
    assert after.assignments == {
        "a": {"t": ranges((0, 1000), (2000, 3000))},
        "b": {"t": ranges((1000, 2000), (3000, 4000))},
    }


def test_a_dead_schools_koi_go_to_a_few_schools_each_filled_to_the_tolerance() -> None:
    schools = [SchoolView(f"s{i:02}", 1000, True) for i in range(20)]
    before = allocate_koi(Allocation(), [KoiDemand("t", 10_000)], schools)
    assert {before.load_of_school(s.school_id) for s in schools} == {500}
    after_schools = [SchoolView("s00", 1000, False), *schools[1:]]
    after = allocate_koi(before, [KoiDemand("t", 10_000)], after_schools)
    assert_invariants(after, [KoiDemand("t", 10_000)], after_schools)
    # Fair share 526.3 koi, tolerance 52.6: the 500 orphaned koi fill six Schools to 578 and a seventh
    # takes the rest, where levelling them would have touched all 19 survivors.
    loads = [after.load_of_school(s.school_id) for s in schools[1:]]
    assert sorted(load - 500 for load in loads if load > 500) == [32, 78, 78, 78, 78, 78, 78]


def test_stopped_and_zero_koi_tests_lose_all_their_koi() -> None:
    previous = Allocation(
        assignments={"a": {"run": ranges((0, 10)), "stopped": ranges((0, 10)), "zero": ranges((0, 5))}}
    )
    demands = [KoiDemand("run", 10), KoiDemand("zero", 0)]
    allocation = allocate_koi(previous, demands, [SchoolView("a", 100, True)])
    assert allocation.assignments == {"a": {"run": ranges((0, 10))}}


def test_koi_of_a_dead_school_move_to_live_schools() -> None:
    previous = Allocation(assignments={"a": {"t": ranges((0, 1000))}, "b": {"t": ranges((1000, 2000))}, "c": {}})
    schools = [SchoolView("a", 5000, True), SchoolView("b", 5000, False), SchoolView("c", 5000, True)]
    allocation = allocate_koi(previous, [KoiDemand("t", 2000)], schools)
    assert allocation.assignments == {"a": {"t": ranges((0, 1000))}, "c": {"t": ranges((1000, 2000))}}


def test_unknown_school_holds_nothing() -> None:
    previous = Allocation(assignments={"ghost": {"t": ranges((0, 100))}})
    allocation = allocate_koi(previous, [KoiDemand("t", 100)], [SchoolView("a", 500, True)])
    assert allocation.assignments == {"a": {"t": ranges((0, 100))}}


def test_lowered_capacity_trims_the_highest_indexes_of_the_largest_test_first() -> None:
    previous = Allocation(
        assignments={"a": {"big": ranges((0, 600)), "small": ranges((0, 400))}, "b": {"x": ranges((0, 1))}}
    )
    demands = [KoiDemand("big", 600), KoiDemand("small", 400), KoiDemand("x", 1)]
    schools = [SchoolView("a", 800, True), SchoolView("b", 1, True)]
    allocation = allocate_koi(previous, demands, schools)
    assert allocation.assignments["a"] == {"big": ranges((0, 400)), "small": ranges((0, 400))}
    assert allocation.koi_of_test("big") == {"a": 400}  # no free capacity elsewhere: left unheld


def test_first_school_to_poll_shares_its_koi_with_schools_that_join_later() -> None:
    alone = allocate_koi(Allocation(), [KoiDemand("t", 4000)], [SchoolView("a", 5000, True)])
    schools = [SchoolView("a", 5000, True), SchoolView("b", 5000, True)]
    shared = allocate_koi(alone, [KoiDemand("t", 4000)], schools)
    assert shared.assignments == {"a": {"t": ranges((0, 2000))}, "b": {"t": ranges((2000, 4000))}}


def test_small_imbalance_is_left_alone() -> None:
    previous = Allocation(assignments={"a": {"t": ranges((0, 1040))}, "b": {"t": ranges((1040, 2000))}})
    schools = [SchoolView("a", 5000, True), SchoolView("b", 5000, True)]
    assert allocate_koi(previous, [KoiDemand("t", 2000)], schools).same_assignments(previous)


def test_rebalancing_tolerance_can_be_tightened() -> None:
    previous = Allocation(assignments={"a": {"t": ranges((0, 1040))}, "b": {"t": ranges((1040, 2000))}})
    schools = [SchoolView("a", 5000, True), SchoolView("b", 5000, True)]
    tight = RebalanceTolerance(ratio=Fraction(1, 100), min_koi=1)
    allocation = allocate_koi(previous, [KoiDemand("t", 2000)], schools, tolerance=tight)
    assert allocation.assignments == {"a": {"t": ranges((0, 1000))}, "b": {"t": ranges((1000, 2000))}}


def test_short_capacity_leaves_the_highest_indexes_unheld_and_shares_the_shortage() -> None:
    demands = [KoiDemand("t1", 1000), KoiDemand("t2", 1000)]
    allocation = allocate_koi(Allocation(), demands, [SchoolView("a", 1000, True)])
    assert allocation.assignments == {"a": {"t1": ranges((0, 500)), "t2": ranges((0, 500))}}


def test_overlapping_claims_in_a_corrupt_document_are_resolved() -> None:
    previous = Allocation(assignments={"a": {"t": ranges((0, 60))}, "b": {"t": ranges((40, 100))}})
    schools = [SchoolView("a", 100, True), SchoolView("b", 100, True)]
    allocation = allocate_koi(previous, [KoiDemand("t", 100)], schools)
    assert allocation.assignments == {"a": {"t": ranges((0, 60))}, "b": {"t": ranges((60, 100))}}


def test_duplicate_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="twice"):
        allocate_koi(Allocation(), [KoiDemand("t", 1), KoiDemand("t", 2)], [])
    with pytest.raises(ValueError, match="twice"):
        allocate_koi(Allocation(), [], [SchoolView("a", 1, True), SchoolView("a", 2, False)])


def test_negative_koi_or_capacity_is_rejected() -> None:
    with pytest.raises(ValueError, match="demands -1 koi"):
        KoiDemand("t", -1)
    with pytest.raises(ValueError, match="capacity -1"):
        SchoolView("a", -1, True)


def test_half_a_million_koi_over_a_hundred_schools_satisfy_every_invariant() -> None:
    schools = [SchoolView(f"s{i:03}", 5000, True) for i in range(100)]
    demands = [KoiDemand("big", 400_000), KoiDemand("small", 100_000)]
    allocation = allocate_koi(Allocation(), demands, schools)
    assert_invariants(allocation, demands, schools)
    assert {allocation.load_of_school(s.school_id) for s in schools} == {5000}

    dying = [SchoolView(s.school_id, s.capacity, i % 10 != 0) for i, s in enumerate(schools)]
    shrunk = [KoiDemand("big", 300_000), KoiDemand("small", 100_000)]
    after = allocate_koi(allocation, shrunk, dying)
    assert_invariants(after, shrunk, dying)
    assert allocate_koi(after, shrunk, dying) == after


def test_is_live_until_three_poll_intervals_are_missed() -> None:
    last = datetime(2025, 1, 1, tzinfo=UTC)
    assert is_live(last, last + timedelta(seconds=15), poll_interval_seconds=5)
    assert not is_live(last, last + timedelta(seconds=15.001), poll_interval_seconds=5)
    assert is_live(last, last + timedelta(seconds=10), poll_interval_seconds=5, missed_polls=2)
    assert not is_live(last, last + timedelta(seconds=11), poll_interval_seconds=5, missed_polls=2)


# --- liveness: silence counts only while the pond is heard -------------------------------------------

seconds_st = st.floats(0, 10_000, allow_nan=False)


@PROPERTY_SETTINGS
@given(last=seconds_st, gap=seconds_st)
def test_without_a_quiet_window_silence_is_the_time_since_the_last_poll(last: float, gap: float) -> None:
    assert silent_for(last, last + gap) == pytest.approx(gap)


@PROPERTY_SETTINGS
@given(last=seconds_st, before=seconds_st, outage=seconds_st, after=seconds_st)
def test_the_time_nobody_could_be_heard_never_counts_against_a_school(
    last: float, before: float, outage: float, after: float
) -> None:
    """A School last heard ``before`` s before the pond went quiet, judged ``after`` s after it was heard again."""
    quiet = QuietWindow(last + before, last + before + outage)
    assert silent_for(last, quiet.end + after, quiet) == pytest.approx(before + after)


@PROPERTY_SETTINGS
@given(start=seconds_st, length=seconds_st, last=seconds_st, until=seconds_st)
def test_silence_is_never_negative_nor_longer_than_the_time_since_the_last_poll(
    start: float, length: float, last: float, until: float
) -> None:
    until = max(until, last)
    silence = silent_for(last, until, QuietWindow(start, start + length))
    assert -1e-9 <= silence <= until - last + 1e-9


@PROPERTY_SETTINGS
@given(newest=seconds_st, later=seconds_st, interval=st.floats(0.2, 300))
def test_the_pond_is_heard_until_an_interval_and_slack_after_its_newest_poll(
    newest: float, later: float, interval: float
) -> None:
    until = heard_until(newest, newest + later, interval)
    assert until == pytest.approx(min(newest + later, newest + interval + QUIET_SLACK_SECONDS))
    assert heard_until(None, newest + later, interval) == newest + later
