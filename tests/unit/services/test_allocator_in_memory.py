"""The allocator over the in-memory adapters: one lease holder, fenced writes, deaths, scaling and the stop."""

from __future__ import annotations

import pytest

from koipond.models.tests import LoadTestStatus
from koipond.services.loadtests import LoadTestChange
from tests.unit.services.memory_keeper import SETTINGS, MemoryKeeper, memory_keeper


@pytest.fixture
def keeper() -> MemoryKeeper:
    return memory_keeper()


def test_only_one_of_two_allocators_holds_the_lease_and_allocates(keeper: MemoryKeeper) -> None:
    test_id = keeper.start(1000)
    keeper.polls.record_heartbeat("s1", 5000, {})
    first, second = keeper.allocator("a").run_pass(), keeper.allocator("b").run_pass()
    assert (first.held, second.held) == (True, False)
    assert second.written == 0
    answer = keeper.polls.poll("s1", 5000, {})
    assert answer.assignments is not None
    assert [(a.test_id, a.koi) for a in answer.assignments] == [(test_id, 1000)]


def test_a_holder_whose_lease_was_taken_over_stops_allocating(keeper: MemoryKeeper) -> None:
    a, b = keeper.allocator("a"), keeper.allocator("b")
    keeper.start(1000)
    keeper.polls.record_heartbeat("s1", 5000, {})
    assert a.run_pass().held
    keeper.clock.advance(SETTINGS.allocator_lease_seconds + 1)  # a's process paused past its lease
    keeper.polls.record_heartbeat("s1", 5000, {})
    taken = b.run_pass()
    assert taken.held
    assert taken.fence == 2
    assert not a.run_pass().held


def test_a_dead_schools_koi_move_to_the_live_one_and_it_is_retired_until_it_polls(keeper: MemoryKeeper) -> None:
    allocator = keeper.allocator("a")
    test_id = keeper.start(1000)
    for school in ("s2", "s1"):
        keeper.polls.record_heartbeat(school, 5000, {})
    allocator.run_pass()
    assert keeper.koi_by_school(test_id) == {"s1": 500, "s2": 500}
    keeper.clock.advance(16)  # s2 misses three 5 s polls
    keeper.polls.record_heartbeat("s1", 5000, {})
    allocator.run_pass()
    assert keeper.koi_by_school(test_id) == {"s1": 1000}
    assert [s.id for s in keeper.schools.list_all()] == ["s1"]
    assert {school.id: live for school, live in keeper.polls.list_schools()} == {"s1": True, "s2": False}
    keeper.polls.record_heartbeat("s2", 5000, {})
    allocator.run_pass()
    assert sorted(keeper.koi_by_school(test_id)) == ["s1", "s2"]


def test_scaling_and_stopping_reach_the_schools_and_a_quiet_pass_writes_nothing(keeper: MemoryKeeper) -> None:
    allocator = keeper.allocator("a")
    test_id = keeper.start(1000)
    for school in ("s1", "s2"):
        keeper.polls.record_heartbeat(school, 5000, {})
    assert allocator.run_pass().written > 0
    assert allocator.run_pass().written == 0
    keeper.pond.tests.change(test_id, LoadTestChange(koi=450), "tests", None)
    allocator.run_pass()
    assert sum(keeper.koi_by_school(test_id).values()) == 450
    keeper.pond.tests.stop(test_id, "tests", None)
    allocator.run_pass()
    assert keeper.koi_by_school(test_id) == {}
    assert "test_reallocated" in [e.kind for e in keeper.pond.tests.events(test_id)]


def test_a_test_whose_duration_is_over_is_completed_by_a_pass(keeper: MemoryKeeper) -> None:
    allocator = keeper.allocator("a")
    test_id = keeper.start(1000, duration_seconds=60)
    keeper.polls.record_heartbeat("s1", 5000, {})
    allocator.run_pass()
    keeper.clock.advance(61)
    keeper.polls.record_heartbeat("s1", 5000, {})
    allocator.run_pass()
    assert keeper.pond.tests.get(test_id).status is LoadTestStatus.COMPLETED
    assert keeper.koi_by_school(test_id) == {}


def test_the_emergency_stop_empties_every_assignment_and_polls_answer_stop_all(keeper: MemoryKeeper) -> None:
    allocator = keeper.allocator("a")
    keeper.start(1000)
    keeper.polls.record_heartbeat("s1", 5000, {})
    allocator.run_pass()
    keeper.pond.estop.activate("tests", "drill")
    answer = keeper.polls.poll("s1", 5000, {})
    assert (answer.stop_all, answer.assignments) == (True, ())  # before the allocator even ran
    allocator.run_pass()
    assert all(not a.tests for a in keeper.assignments.list_all())
