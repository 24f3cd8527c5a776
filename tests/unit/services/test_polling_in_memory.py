"""Polls over the in-memory adapters: heartbeats, the allocator's feed, "unchanged" answers, koi per test."""

from __future__ import annotations

import pytest

from koipond.services.loadtests import LoadTestChange
from tests.unit.services.memory_keeper import MemoryKeeper, memory_keeper


@pytest.fixture
def keeper() -> MemoryKeeper:
    return memory_keeper()


def test_a_first_poll_is_news_to_the_allocator_and_lists_the_school_live(keeper: MemoryKeeper) -> None:
    before = keeper.pond.changes.read()
    assert keeper.polls.record_heartbeat("s1", 5000, {}) is None
    assert keeper.pond.changes.read() == before + 1
    [(school, live)] = keeper.polls.list_schools()
    assert (school.id, school.capacity, live) == ("s1", 5000, True)


def test_a_steady_poll_is_no_news_but_a_new_capacity_or_a_return_from_the_dead_is(keeper: MemoryKeeper) -> None:
    keeper.polls.record_heartbeat("s1", 5000, {})
    moved = keeper.pond.changes.read()
    keeper.clock.advance(5)
    keeper.polls.record_heartbeat("s1", 5000, {})
    assert keeper.pond.changes.read() == moved
    keeper.polls.record_heartbeat("s1", 6000, {})
    assert keeper.pond.changes.read() == moved + 1
    keeper.clock.advance(60)
    keeper.polls.record_heartbeat("s1", 6000, {})
    assert keeper.pond.changes.read() == moved + 2


def test_a_poll_of_the_assignment_it_runs_is_answered_unchanged(keeper: MemoryKeeper) -> None:
    keeper.start(3000)
    first = keeper.polls.poll("s1", 5000, {})
    keeper.allocator("a").run_pass()
    full = keeper.polls.poll("s1", 5000, {}, first.allocation_version)
    assert full.assignments is not None
    assert sum(a.koi for a in full.assignments) == 3000
    steady = keeper.polls.poll("s1", 5000, {}, full.allocation_version)
    assert (steady.assignments, steady.allocation_version) == (None, full.allocation_version)


def test_a_change_or_a_stale_stamp_gets_the_whole_assignment(keeper: MemoryKeeper) -> None:
    allocator = keeper.allocator("a")
    test_id = keeper.start(3000)
    keeper.polls.poll("s1", 5000, {})
    allocator.run_pass()
    before = keeper.polls.poll("s1", 5000, {})
    keeper.pond.tests.change(test_id, LoadTestChange(koi=1000), "tests", None)
    allocator.run_pass()
    after = keeper.polls.poll("s1", 5000, {}, before.allocation_version)
    assert after.allocation_version != before.allocation_version
    assert after.assignments is not None
    assert [a.koi for a in after.assignments] == [1000]
    assert keeper.polls.poll("s1", 5000, {}, 12345).assignments is not None  # a stamp never issued


def test_koi_per_test_are_stored_when_they_change_and_shown_to_people(keeper: MemoryKeeper) -> None:
    keeper.polls.record_heartbeat("s1", 5000, {"t1": 30, "t2": 0})
    keeper.polls.record_heartbeat("s1", 5000, {"t1": 40})
    [(school, _)] = keeper.polls.list_schools()
    assert school.running == {"t1": 40}
    assert (school.running_koi, school.running_tests) == (40, 1)


def test_the_current_allocation_holds_the_schools_with_koi(keeper: MemoryKeeper) -> None:
    test_id = keeper.start(1000)
    for school in ("s1", "s2"):
        keeper.polls.record_heartbeat(school, 5000, {})
    keeper.allocator("a").run_pass()
    allocation = keeper.polls.current_allocation()
    assert sorted(allocation.assignments) == ["s1", "s2"]
    assert all(test_id in ranges for ranges in allocation.assignments.values())


def test_specs_are_the_tests_asked_for_and_the_unknown_ids(keeper: MemoryKeeper) -> None:
    test_id = keeper.start(10)
    found, unknown = keeper.polls.specs_of_tests([test_id, "nope", test_id])
    assert [t.id for t in found] == [test_id]
    assert unknown == ["nope"]
