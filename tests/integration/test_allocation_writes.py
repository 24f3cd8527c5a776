"""The allocation's conditional write: each race the conditions name is lost by the stale writer."""

from __future__ import annotations

import pytest

from koipond.composition import Keeper, build_keeper
from koipond.errors import StaleVersionError
from koipond.models.tests import BehaviorRef
from koipond.ports import FixedClock
from koipond.services.loadtests import LoadTestChange, NewLoadTest
from koipond.settings import Settings
from tests.conftest import MINIMAL_BEHAVIOR


@pytest.fixture
def two_keepers(settings: Settings, dynamodb: object, clock: FixedClock) -> tuple[Keeper, Keeper]:
    first, second = (build_keeper(settings, dynamodb, clock) for _ in range(2))  # type: ignore[arg-type]
    first.behaviors.put("average_user", MINIMAL_BEHAVIOR, "tests")
    return first, second


def start(keeper: Keeper, koi: int) -> str:
    spec = NewLoadTest("t", "http://127.0.0.1:1", BehaviorRef(name="average_user"), "w", koi)
    return keeper.tests.create(spec, "tests").id


def test_second_of_two_concurrent_polls_loses_and_writes_nothing(two_keepers: tuple[Keeper, Keeper]) -> None:
    a, b = two_keepers
    start(a, 1000)
    a.polls.record_heartbeat("s1", 5000, {})
    stale = b.polls.snapshot()  # s2 is not known yet to this reader
    b.polls.record_heartbeat("s2", 5000, {})
    winner = a.polls.reallocate(a.polls.snapshot())
    with pytest.raises(StaleVersionError):
        b.polls.reallocate(stale)
    assert a.polls.current_allocation() == winner
    assert winner.koi_of_test(next(iter(winner.assignments["s1"]))) == {"s1": 500, "s2": 500}


def test_scale_down_between_read_and_write_fails_the_write(two_keepers: tuple[Keeper, Keeper]) -> None:
    a, b = two_keepers
    test_id = start(a, 1000)
    a.polls.record_heartbeat("s1", 5000, {})
    stale = a.polls.snapshot()
    b.tests.change(test_id, LoadTestChange(koi=10), "tests", None)
    with pytest.raises(StaleVersionError):
        a.polls.reallocate(stale)
    assert a.polls.current_allocation().koi_of_test(test_id) == {}


def test_emergency_stop_between_read_and_write_fails_the_write(two_keepers: tuple[Keeper, Keeper]) -> None:
    a, b = two_keepers
    start(a, 1000)
    a.polls.record_heartbeat("s1", 5000, {})
    stale = a.polls.snapshot()
    b.estop.activate("tests", "drill")
    with pytest.raises(StaleVersionError):
        a.polls.reallocate(stale)
    assert a.polls.current_allocation().assignments == {}


def test_scale_down_shrinks_the_stored_allocation_in_the_same_write(two_keepers: tuple[Keeper, Keeper]) -> None:
    a, _ = two_keepers
    test_id = start(a, 1000)
    a.polls.poll("s1", 5000, {})
    a.tests.change(test_id, LoadTestChange(shed_percent=75), "tests", None)
    assert a.polls.current_allocation().koi_of_test(test_id) == {"s1": 250}
    a.tests.stop(test_id, "tests", None)
    assert a.polls.current_allocation().koi_of_test(test_id) == {}


def test_a_poll_retries_after_losing_a_race_and_answers_from_the_winner(two_keepers: tuple[Keeper, Keeper]) -> None:
    a, b = two_keepers
    test_id = start(a, 900)
    answer = b.polls.poll("s1", 300, {})
    assert answer.assignments[0].koi == 300
    assert a.polls.poll("s2", 600, {}).assignments[0].koi == 600
    assert a.polls.current_allocation().koi_of_test(test_id) == {"s1": 300, "s2": 600}
