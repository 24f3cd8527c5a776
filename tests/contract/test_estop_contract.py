"""The emergency stop port's contract: one versioned switch, each flip with its history event."""

from __future__ import annotations

import pytest

from koipond.clock import FixedClock
from koipond.errors import StaleVersionError
from koipond.models.estop import EmergencyStop
from koipond.models.history import ESTOP_SUBJECT, EventKind
from tests.contract.conftest import Stores, event


def test_the_switch_is_off_at_version_zero_before_its_first_flip(stores: Stores) -> None:
    assert stores.estop.get() == EmergencyStop()
    assert stores.estop.get().version == 0


def test_a_flip_is_stored_as_the_next_version_with_its_event(stores: Stores, clock: FixedClock) -> None:
    pulled = EmergencyStop(active=True, reason="outage", activated_by="alice", activated_at=clock.now())
    flipped = event(clock, ESTOP_SUBJECT, EventKind.ESTOP_ACTIVATED)
    stored = stores.estop.save(pulled, 0, flipped)
    assert stored.version == 1
    assert stores.estop.get() == stored
    assert stores.history.list_events(ESTOP_SUBJECT) == [flipped]
    lifted = stores.estop.save(stored.model_copy(update={"active": False}), 1, event(clock, ESTOP_SUBJECT))
    assert stores.estop.get() == lifted
    assert lifted.version == 2


@pytest.mark.parametrize("stale", [0, 2])
def test_a_flip_from_a_stale_version_writes_nothing(stores: Stores, clock: FixedClock, stale: int) -> None:
    stores.estop.save(EmergencyStop(active=True, reason="outage"), 0, event(clock, ESTOP_SUBJECT))
    late = event(clock, ESTOP_SUBJECT)
    with pytest.raises(StaleVersionError):
        stores.estop.save(EmergencyStop(active=True, reason="again"), stale, late)
    assert stores.estop.get().reason == "outage"
    assert late not in stores.history.list_events(ESTOP_SUBJECT)
