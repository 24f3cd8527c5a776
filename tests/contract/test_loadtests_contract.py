"""The load test port's contract: versioned tests, each write with its event and a move of the pond's changes."""

from __future__ import annotations

import pytest

from koipond.clock import FixedClock
from koipond.errors import ConflictError, NotFoundError, StaleVersionError
from koipond.models.tests import LoadTestStatus
from tests.contract.conftest import Stores, event, load_test


def test_a_created_test_reads_back_with_its_event_and_moves_the_changes(stores: Stores, clock: FixedClock) -> None:
    test = load_test(clock)
    created = event(clock, test.id)
    stores.tests.create(test, created)
    assert stores.tests.get(test.id) == test
    assert stores.history.list_events(test.id) == [created]
    assert stores.changes.read() == 1


def test_an_unknown_test_is_not_found(stores: Stores) -> None:
    with pytest.raises(NotFoundError):
        stores.tests.get("lt-none")


def test_creating_an_existing_id_conflicts_and_writes_nothing(stores: Stores, clock: FixedClock) -> None:
    stores.tests.create(load_test(clock), event(clock, "lt-1"))
    second = event(clock, "lt-1")
    with pytest.raises(ConflictError):
        stores.tests.create(load_test(clock, koi=99), second)
    assert stores.tests.get("lt-1").koi == 10
    assert second not in stores.history.list_events("lt-1")
    assert stores.changes.read() == 1


def test_get_many_leaves_unknown_ids_out(stores: Stores, clock: FixedClock) -> None:
    for test_id in ("lt-1", "lt-2"):
        stores.tests.create(load_test(clock, test_id), event(clock, test_id))
    found = stores.tests.get_many(["lt-2", "lt-none", "lt-1"])
    assert sorted(test.id for test in found) == ["lt-1", "lt-2"]


def test_listing_by_status_is_newest_first(stores: Stores, clock: FixedClock) -> None:
    for n in range(3):
        clock.advance(1)
        status = LoadTestStatus.STOPPED if n == 1 else LoadTestStatus.RUNNING
        stores.tests.create(load_test(clock, f"lt-{n}", status=status), event(clock, f"lt-{n}"))
    assert [t.id for t in stores.tests.list_by_status(LoadTestStatus.RUNNING)] == ["lt-2", "lt-0"]
    assert [t.id for t in stores.tests.list_by_status()] == ["lt-2", "lt-1", "lt-0"]
    assert stores.tests.list_by_status(LoadTestStatus.COMPLETED) == []


def test_a_save_stores_the_next_version_with_its_event(stores: Stores, clock: FixedClock) -> None:
    test = load_test(clock)
    stores.tests.create(test, event(clock, test.id))
    scaled = event(clock, test.id)
    saved = stores.tests.save(test.model_copy(update={"koi": 20}), 1, scaled)
    assert saved.version == 2
    assert stores.tests.get(test.id) == saved
    assert stores.history.list_events(test.id)[-1] == scaled
    assert stores.changes.read() == 2


def test_a_save_from_a_stale_version_is_a_conflict_of_the_test(stores: Stores, clock: FixedClock) -> None:
    test = load_test(clock)
    stores.tests.create(test, event(clock, test.id))
    stores.tests.save(test.model_copy(update={"koi": 20}), 1, event(clock, test.id))
    with pytest.raises(StaleVersionError) as raised:
        stores.tests.save(test.model_copy(update={"koi": 30}), 1, event(clock, test.id))
    assert raised.value.details["conflict"] == "test"
    assert stores.tests.get(test.id).koi == 20


def test_saving_a_test_never_created_is_a_conflict_of_the_test(stores: Stores, clock: FixedClock) -> None:
    with pytest.raises(StaleVersionError) as raised:
        stores.tests.save(load_test(clock), 1, event(clock, "lt-1"))
    assert raised.value.details["conflict"] == "test"


def test_staged_writes_commit_with_the_save(stores: Stores, clock: FixedClock) -> None:
    test = load_test(clock)
    stores.tests.create(test, event(clock, test.id))
    other = event(clock, "ro-1")
    stores.tests.save(
        test.model_copy(update={"koi": 20}), 1, event(clock, test.id), [stores.history.append_action(other)]
    )
    assert stores.history.list_events("ro-1") == [other]


def test_a_failed_staged_write_is_another_conflict_and_nothing_is_written(stores: Stores, clock: FixedClock) -> None:
    test = load_test(clock)
    stores.tests.create(test, event(clock, test.id))
    taken = event(clock, "ro-1")
    stores.history.append(taken)
    scaled = event(clock, test.id)
    with pytest.raises(StaleVersionError) as raised:
        stores.tests.save(test.model_copy(update={"koi": 20}), 1, scaled, [stores.history.append_action(taken)])
    assert raised.value.details["conflict"] == "other"
    assert stores.tests.get(test.id).version == 1
    assert scaled not in stores.history.list_events(test.id)
    assert stores.changes.read() == 1
