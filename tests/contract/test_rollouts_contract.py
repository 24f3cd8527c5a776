"""The rollout port's contract: versioned rollouts, one active per test, writes staged for one commit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from koipond.clock import FixedClock
from koipond.errors import NotFoundError, StaleVersionError
from koipond.models.rollouts import RolloutStatus
from tests.contract.conftest import Stores, event, load_test, rollout


def _created(stores: Stores, clock: FixedClock, rollout_id: str = "ro-1") -> None:
    stores.writes.commit(
        stores.rollouts.create_actions(rollout(clock, rollout_id=rollout_id), event(clock, rollout_id))
    )


def test_a_created_rollout_drives_its_test_and_records_its_start(stores: Stores, clock: FixedClock) -> None:
    started = event(clock, "ro-1")
    created = rollout(clock)
    stores.writes.commit(stores.rollouts.create_actions(created, started))
    assert stores.rollouts.get("ro-1") == created
    assert stores.rollouts.active_for_test("lt-1") == "ro-1"
    assert stores.rollouts.transitions("ro-1") == [started]


def test_an_unknown_rollout_is_not_found_and_drives_nothing(stores: Stores) -> None:
    with pytest.raises(NotFoundError):
        stores.rollouts.get("ro-none")
    assert stores.rollouts.active_for_test("lt-1") is None


def test_a_second_rollout_of_one_test_is_refused_whole(stores: Stores, clock: FixedClock) -> None:
    _created(stores, clock)
    with pytest.raises(StaleVersionError):
        _created(stores, clock, "ro-2")
    assert stores.rollouts.active_for_test("lt-1") == "ro-1"
    with pytest.raises(NotFoundError):
        stores.rollouts.get("ro-2")
    assert stores.rollouts.transitions("ro-2") == []


def test_a_save_from_a_stale_version_writes_nothing(stores: Stores, clock: FixedClock) -> None:
    _created(stores, clock)
    advanced = rollout(clock, current=1)
    stores.writes.commit(stores.rollouts.save_actions(advanced, 1, event(clock, "ro-1")))
    assert stores.rollouts.get("ro-1").version == 2
    late = event(clock, "ro-1")
    with pytest.raises(StaleVersionError):
        stores.writes.commit(stores.rollouts.save_actions(rollout(clock, current=1), 1, late))
    assert late not in stores.rollouts.transitions("ro-1")


def test_finishing_a_rollout_frees_its_test(stores: Stores, clock: FixedClock) -> None:
    _created(stores, clock)
    done = rollout(clock, current=1, status=RolloutStatus.COMPLETED)
    stores.writes.commit(stores.rollouts.save_actions(done, 1, event(clock, "ro-1")))
    assert stores.rollouts.active_for_test("lt-1") is None
    _created(stores, clock, "ro-2")
    assert stores.rollouts.active_for_test("lt-1") == "ro-2"


def test_the_test_unchanged_check_holds_only_at_the_tests_version(stores: Stores, clock: FixedClock) -> None:
    test = load_test(clock)
    stores.tests.create(test, event(clock, test.id))
    stores.writes.commit([stores.rollouts.test_unchanged_action(test.id, 1)])
    stores.tests.save(test.model_copy(update={"koi": 20}), 1, event(clock, test.id))
    with pytest.raises(StaleVersionError) as raised:
        stores.writes.commit([*stores.rollouts.create_actions(rollout(clock), event(clock, "ro-1")),
                              stores.rollouts.test_unchanged_action(test.id, 1)])  # fmt: skip
    assert raised.value.details["failed"] in ([3], [])  # DynamoDB may not say which condition failed
    assert stores.rollouts.active_for_test("lt-1") is None
    with pytest.raises(StaleVersionError):
        stores.writes.commit([stores.rollouts.test_unchanged_action("lt-none", 1)])


def test_rollout_writes_commit_with_the_tests_save(stores: Stores, clock: FixedClock) -> None:
    test = load_test(clock)
    stores.tests.create(test, event(clock, test.id))
    actions = stores.rollouts.create_actions(rollout(clock), event(clock, "ro-1"))
    stores.tests.save(test.model_copy(update={"koi": 20}), 1, event(clock, test.id), actions)
    assert stores.rollouts.active_for_test(test.id) == "ro-1"
    assert stores.tests.get(test.id).koi == 20


def test_listing_by_status_is_newest_first(stores: Stores, clock: FixedClock) -> None:
    for n in range(3):
        clock.advance(1)
        status = RolloutStatus.PAUSED if n == 1 else RolloutStatus.HOLDING
        made = rollout(clock, test_id=f"lt-{n}", rollout_id=f"ro-{n}", status=status)
        stores.writes.commit(stores.rollouts.create_actions(made, event(clock, made.id)))
    assert [r.id for r in stores.rollouts.list_by_status(RolloutStatus.HOLDING)] == ["ro-2", "ro-0"]
    assert [r.id for r in stores.rollouts.list_by_status()] == ["ro-2", "ro-1", "ro-0"]


def test_events_since_starts_at_the_given_time(stores: Stores, clock: FixedClock) -> None:
    before = event(clock, "lt-1")
    clock.advance(1)
    since = clock.now()
    after = [event(clock, "lt-1"), event(clock, "lt-1")]
    for one in [before, *after]:
        stores.history.append(one)
    assert stores.rollouts.events_since("lt-1", since) == after
    assert stores.rollouts.events_since("lt-1", since + timedelta(days=1)) == []
