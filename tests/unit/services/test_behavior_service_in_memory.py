"""BehaviorService over the in-memory adapters: listing versions (404 for a behavior never stored) and diffs."""

from __future__ import annotations

import pytest

from koipond.clock import FixedClock
from koipond.composition.memory import build_memory_pond
from koipond.errors import BadRequestError, NotFoundError
from koipond.services.behaviors import BehaviorService
from koipond.settings import Settings
from tests.conftest import MINIMAL_BEHAVIOR, START


@pytest.fixture
def service() -> BehaviorService:
    pond = build_memory_pond(Settings(), FixedClock(START))
    service = BehaviorService(pond.behavior_store, FixedClock(START))
    for rate in (1, 2, 4):
        auth_test = {**MINIMAL_BEHAVIOR["actions"]["auth_test"], "rate_per_hour": rate}
        service.put("avg", {**MINIMAL_BEHAVIOR, "actions": {"auth_test": auth_test}}, "tests")
    return service


def test_a_behavior_never_stored_has_no_versions_to_list(service: BehaviorService) -> None:
    with pytest.raises(NotFoundError, match="no behavior 'nope'"):
        service.versions("nope", limit=10)


def test_versions_page_newest_first_and_a_foreign_cursor_is_refused_before_reading(service: BehaviorService) -> None:
    first, cursor = service.versions("avg", limit=2)
    assert [v.version for v in first] == [3, 2]
    assert cursor is not None
    rest, end = service.versions("avg", limit=2, cursor=cursor)
    assert ([v.version for v in rest], end) == ([1], None)
    with pytest.raises(BadRequestError):
        service.versions("nope", limit=2, cursor=cursor)


def test_the_diff_of_two_versions_and_of_a_version_with_the_latest(service: BehaviorService) -> None:
    before, after, diff = service.diff("avg", 1)
    assert (before.version, after.version) == (1, 3)
    assert [(c.rate_before, c.rate_after, c.percent) for c in diff.rate_changes] == [(1, 4, 300)]
    assert service.diff("avg", 2, 2)[2].empty
    with pytest.raises(NotFoundError, match="version 7"):
        service.diff("avg", 1, 7)
