"""The load test, emergency stop and rollout services over the in-memory adapters: no embedded AWS, no sockets."""

from __future__ import annotations

import pytest

from koipond.clock import FixedClock
from koipond.composition.memory import MemoryPond, build_memory_pond
from koipond.errors import (
    BadRequestError,
    ConflictError,
    EmergencyStopActiveError,
    StaleVersionError,
    TooManyRunningTestsError,
)
from koipond.models.behavior import BehaviorDocument, StoredBehavior
from koipond.models.history import EventKind
from koipond.models.rollouts import RolloutStatus
from koipond.models.tests import BehaviorRef, LoadTestStatus
from koipond.services.history import new_event
from koipond.services.loadtests import LoadTestChange, NewLoadTest
from koipond.settings import Settings
from tests.conftest import MINIMAL_BEHAVIOR, START


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def pond_with(clock: FixedClock, **settings: int) -> MemoryPond:
    pond = build_memory_pond(Settings(**settings), clock)  # type: ignore[arg-type]
    behavior = StoredBehavior(
        name="average_user",
        version=1,
        document=BehaviorDocument.model_validate(MINIMAL_BEHAVIOR),
        created_at=START,
        created_by="tests",
    )
    pond.behavior_store.put(behavior, new_event(clock, "behavior:average_user", EventKind.BEHAVIOR_PUT, "tests"))
    return pond


@pytest.fixture
def pond(clock: FixedClock) -> MemoryPond:
    return pond_with(clock)


def spec(koi: int = 10) -> NewLoadTest:
    return NewLoadTest(
        name="nightly",
        target="http://127.0.0.1:8800",
        behavior=BehaviorRef(name="average_user"),
        workspace="pond",
        koi=koi,
    )


def test_a_created_test_pins_the_latest_behavior_and_moves_the_allocators_feed(pond: MemoryPond) -> None:
    test = pond.tests.create(spec(), "alice")
    assert pond.tests.get(test.id).behavior == BehaviorRef(name="average_user", version=1)
    assert [e.kind for e in pond.tests.events(test.id)] == [EventKind.TEST_CREATED]
    assert pond.changes.read() == 1


def test_a_change_pinned_to_an_old_version_is_refused(pond: MemoryPond) -> None:
    test = pond.tests.create(spec(), "alice")
    pond.tests.change(test.id, LoadTestChange(koi=20), "alice", None)
    with pytest.raises(StaleVersionError):
        pond.tests.change(test.id, LoadTestChange(koi=30), "bob", None, expected_version=test.version)
    assert pond.tests.get(test.id).koi == 20


def test_stopping_a_stopped_test_records_nothing(pond: MemoryPond) -> None:
    test = pond.tests.create(spec(), "alice")
    pond.tests.stop(test.id, "alice", "done")
    pond.tests.stop(test.id, "alice", "done")
    kinds = [e.kind for e in pond.tests.events(test.id)]
    assert kinds == [EventKind.TEST_CREATED, EventKind.TEST_STOPPED]


def test_the_running_cap_refuses_a_second_test(clock: FixedClock) -> None:
    pond = pond_with(clock, max_running_tests=1)
    pond.tests.create(spec(), "alice")
    with pytest.raises(TooManyRunningTestsError):
        pond.tests.create(spec(), "bob")


def test_a_bad_cursor_is_refused_before_the_test_is_looked_up(pond: MemoryPond) -> None:
    with pytest.raises(BadRequestError):
        pond.tests.events_page("lt-unknown", limit=5, cursor="forged")


def test_the_emergency_stop_stops_running_tests_and_refuses_new_ones(pond: MemoryPond) -> None:
    test = pond.tests.create(spec(), "alice")
    status = pond.estop.activate("carol", "outage")
    assert status.changed
    assert pond.tests.get(test.id).status is LoadTestStatus.STOPPED
    assert [e.kind for e in status.history] == [EventKind.ESTOP_ACTIVATED]
    with pytest.raises(EmergencyStopActiveError):
        pond.tests.create(spec(), "alice")


def test_a_rollout_scales_its_test_to_stage_one_in_the_same_commit(pond: MemoryPond) -> None:
    test = pond.tests.create(spec(koi=10), "alice")
    rollout = pond.rollouts.create(test.id, [(50, 60), (100, 60)], "alice", None)
    assert pond.tests.get(test.id).koi == 50
    assert pond.rollout_store.active_for_test(test.id) == rollout.id
    assert [e.kind for e in pond.rollouts.transitions(rollout.id)] == [EventKind.ROLLOUT_STARTED]


def test_a_second_rollout_of_one_test_conflicts(pond: MemoryPond) -> None:
    test = pond.tests.create(spec(), "alice")
    first = pond.rollouts.create(test.id, [(50, 60)], "alice", None)
    with pytest.raises(ConflictError) as raised:
        pond.rollouts.create(test.id, [(60, 60)], "bob", None)
    assert raised.value.details["rollout_id"] == first.id


def test_the_tick_advances_a_rollout_whose_hold_is_over_and_aborting_frees_the_test(
    pond: MemoryPond, clock: FixedClock
) -> None:
    test = pond.tests.create(spec(koi=10), "alice")
    rollout = pond.rollouts.create(test.id, [(50, 60), (100, 60)], "alice", None)
    clock.advance(61)
    assert pond.rollouts.tick()["advanced"] == 1
    assert pond.tests.get(test.id).koi == 100
    aborted = pond.rollouts.abort(rollout.id, "alice", "enough")
    assert aborted.status is RolloutStatus.ABORTED
    assert pond.rollout_store.active_for_test(test.id) is None
