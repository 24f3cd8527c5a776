"""Tests that follow their behavior's latest version: the spec names it, and the change under way while koi move."""

from __future__ import annotations

from koipond.api.poll import LoadTestSpec
from koipond.models.tests import BehaviorRef
from koipond.services.behavior_moves import FOLLOW_REFRESH_SECONDS, version_of_koi
from koipond.services.behaviors import BehaviorService
from koipond.services.loadtests import NewLoadTest
from tests.unit.services.behavior_source_fixtures import BASE_BEHAVIOR, pond_with_base


def test_a_following_test_starts_on_the_latest_version_and_its_spec_moves_to_each_new_one() -> None:
    pond, clock = pond_with_base()
    behaviors = BehaviorService(pond.behavior_store, clock)
    ref = BehaviorRef(name="avg", follow_latest=True)
    test = pond.tests.create(NewLoadTest("t", "http://127.0.0.1:1", ref, "w", 100), "ops")
    assert (test.behavior.version, test.behavior.follow_latest) == (1, True)
    [spec] = [LoadTestSpec.from_domain(t, behaviors.followed_by([t]).get(t.id)) for t in [test]]
    assert (spec.behavior.version, spec.behavior_change, spec.follow_latest) == (1, None, True)
    assert spec.refresh_seconds == FOLLOW_REFRESH_SECONDS

    behaviors.put("avg", BASE_BEHAVIOR, "people")  # version 2
    clock.advance(90)
    spec = LoadTestSpec.from_domain(test, behaviors.followed_by([test])[test.id])
    assert spec.behavior.version == 2
    assert spec.behavior_change is not None
    change = spec.behavior_change.domain()
    assert (change.from_version, change.to_version, change.batches) == (1, 2, 10)
    on_new = [version_of_koi(i, change, 2, clock.now()) for i in range(100)].count(2)
    assert on_new == 10  # 90 s after publishing: one refresh (60 s) to tell every School, then one batch of ten


def test_a_pinned_test_keeps_its_version_and_needs_no_refresh() -> None:
    pond, clock = pond_with_base()
    behaviors = BehaviorService(pond.behavior_store, clock)
    test = pond.tests.create(NewLoadTest("t", "http://127.0.0.1:1", BehaviorRef(name="avg"), "w", 10), "ops")
    behaviors.put("avg", BASE_BEHAVIOR, "people")
    assert behaviors.followed_by([test]) == {}
    spec = LoadTestSpec.from_domain(test)
    assert (spec.behavior.version, spec.follow_latest, spec.refresh_seconds) == (1, False, None)
