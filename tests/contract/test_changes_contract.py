"""The pond changes port's contract: a counter that every change moves exactly once, alone or in a commit."""

from __future__ import annotations

import pytest

from koipond.clock import FixedClock
from koipond.errors import StaleVersionError
from tests.contract.conftest import Stores, event


def test_the_counter_starts_at_zero_and_moves_by_one(stores: Stores) -> None:
    assert stores.changes.read() == 0
    stores.changes.move()
    stores.changes.move()
    assert stores.changes.read() == 2


def test_a_move_staged_in_a_commit_happens_with_it(stores: Stores, clock: FixedClock) -> None:
    stores.writes.commit([stores.changes.move_action(), stores.history.append_action(event(clock, "lt-1"))])
    assert stores.changes.read() == 1


def test_a_move_staged_in_a_failed_commit_does_not_happen(stores: Stores, clock: FixedClock) -> None:
    duplicate = event(clock, "lt-1")
    stores.history.append(duplicate)
    with pytest.raises(StaleVersionError) as raised:
        stores.writes.commit([stores.changes.move_action(), stores.history.append_action(duplicate)])
    assert raised.value.details["failed"] == [1]
    assert stores.changes.read() == 0


def test_a_write_staged_by_another_store_is_refused_before_anything_is_written(stores: Stores) -> None:
    with pytest.raises(TypeError):
        stores.writes.commit([stores.changes.move_action(), object()])
    assert stores.changes.read() == 0
