"""A steady poll reads no assignment: the heartbeat it writes returns the assignment's stamp, and the
answer says "unchanged" when the School already runs it. Specs are read once per test, by the School."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from koipond.clock import FixedClock
from koipond.composition import Keeper, build_keeper, injected_keeper
from koipond.models.assignments import WRITES_PER_FENCE
from koipond.settings import Settings
from tests.conftest import MINIMAL_BEHAVIOR, Api, issue_token, new_test_body
from tests.integration.dynamodb_faults import FailingDynamoDB


@pytest.fixture
def counted(dynamodb: Any) -> FailingDynamoDB:
    return FailingDynamoDB(dynamodb)


@pytest.fixture
def keeper_over(settings: Settings, counted: FailingDynamoDB, clock: FixedClock) -> Iterator[Keeper]:
    built: Keeper = build_keeper(settings, counted, clock)  # type: ignore[arg-type]
    with injected_keeper(built):
        assert Api().put("/v1/behaviors/average_user", MINIMAL_BEHAVIOR).status == 201
        yield built


def _poll(keeper: Keeper, school: str, known: int | None) -> Any:
    """One poll straight at the service (no allocator pass in between, unlike ``Api``)."""
    return keeper.polls.poll(school, 5000, {}, known)


def test_a_steady_poll_is_one_write_and_one_read_and_repeats_nothing(
    keeper_over: Keeper, counted: FailingDynamoDB
) -> None:
    api = Api()
    api.post("/v1/tests", new_test_body(koi=3000))
    api.post("/v1/tests", new_test_body(koi=1500, name="second"))
    first = _poll(keeper_over, "s1", None)
    keeper_over.allocator.run_pass()
    full = _poll(keeper_over, "s1", first.allocation_version)
    assert full.assignments is not None
    assert sum(a.koi for a in full.assignments) == 4500

    counted.calls.clear()
    steady = _poll(keeper_over, "s1", full.allocation_version)
    assert steady.assignments is None
    assert steady.allocation_version == full.allocation_version
    assert counted.calls == ["update_item", "get_item"]  # the heartbeat, the emergency stop


def test_a_change_or_a_stale_stamp_gets_the_whole_assignment(keeper_over: Keeper) -> None:
    api = Api()
    test_id = api.post("/v1/tests", new_test_body(koi=3000)).body["id"]
    _poll(keeper_over, "s1", None)
    keeper_over.allocator.run_pass()
    before = _poll(keeper_over, "s1", None)
    assert api.patch(f"/v1/tests/{test_id}", {"koi": 1000}).status == 200
    keeper_over.allocator.run_pass()
    after = _poll(keeper_over, "s1", before.allocation_version)
    assert after.allocation_version != before.allocation_version
    assert after.assignments is not None
    assert [a.koi for a in after.assignments] == [1000]
    assert _poll(keeper_over, "s1", 12345).assignments is not None  # a stamp never issued: answered in full


def test_without_a_heartbeat_the_poll_reads_its_assignment(keeper_over: Keeper, counted: FailingDynamoDB) -> None:
    Api().post("/v1/tests", new_test_body(koi=3000))
    _poll(keeper_over, "s1", None)
    keeper_over.allocator.run_pass()
    version = _poll(keeper_over, "s1", None).allocation_version
    counted.failing.add("update_item")
    answer = _poll(keeper_over, "s1", version)
    assert answer.assignments is not None
    assert [a.koi for a in answer.assignments] == [3000]


def test_stamps_never_come_back_after_a_school_is_retired_and_returns(
    keeper_over: Keeper, clock: FixedClock, settings: Settings
) -> None:
    api = Api()
    test_id = api.post("/v1/tests", new_test_body(koi=300)).body["id"]
    seen: list[int] = []
    for _ in range(3):  # live, dead (koi moved, item removed, index left), alive again
        _poll(keeper_over, "s1", None)
        _poll(keeper_over, "s2", None)
        keeper_over.allocator.run_pass()
        seen.append(_poll(keeper_over, "s1", None).allocation_version)
        clock.advance(settings.poll_interval_seconds * (settings.missed_polls + 1))
        _poll(keeper_over, "s2", None)
        keeper_over.allocator.run_pass()
        keeper_over.allocator.run_pass()
        seen.append(_poll(keeper_over, "s2", None).allocation_version)
        api.patch(f"/v1/tests/{test_id}", {"koi": 300 + len(seen)})
    assert len(set(seen)) == len(seen)
    assert all(stamp > WRITES_PER_FENCE for stamp in seen)  # fence x WRITES_PER_FENCE + write


def test_a_school_reads_specs_once_per_test_and_hears_of_unknown_ones(keeper_over: Keeper) -> None:
    api = Api()
    first = api.post("/v1/tests", new_test_body(koi=300, tags=["nightly"])).body["id"]
    school = api.as_(issue_token(api, "school"))
    answer = school.post("/v1/schools/s1/test-specs", {"test_ids": [first, "lt-none"]})
    assert answer.status == 200, answer.body
    (spec,) = answer.body["specs"]
    assert spec == {
        "test_id": first,
        "test_name": "nightly",
        "behavior": {"name": "average_user", "version": 1},
        "target": "http://127.0.0.1:8800",
        "workspace": "pond",
        "tags": ["nightly"],
        # A pinned test: nothing to follow, nothing to read again.
        "follow_latest": False,
        "behavior_change": None,
        "refresh_seconds": None,
    }
    assert answer.body["missing"] == ["lt-none"]


@pytest.mark.parametrize(
    ("body", "status"),
    [({"test_ids": []}, 422), ({"test_ids": ["lt-a"] * 101}, 422), ({"test_ids": ["a b"]}, 422), ({}, 422)],
)
def test_spec_requests_are_validated(keeper_over: Keeper, body: Any, status: int) -> None:
    api = Api()
    school = api.as_(issue_token(api, "school"))
    answer = school.post("/v1/schools/s1/test-specs", body)
    assert answer.status == status
    assert answer.body["error"]["code"]


def test_specs_are_for_schools_only(keeper_over: Keeper) -> None:
    api = Api()
    viewer = api.as_(issue_token(api, "viewer"))
    assert viewer.post("/v1/schools/s1/test-specs", {"test_ids": ["lt-a"]}).status == 403
    assert api.as_(None).post("/v1/schools/s1/test-specs", {"test_ids": ["lt-a"]}).status == 401


def test_koi_per_test_are_written_only_when_they_change(keeper_over: Keeper, counted: FailingDynamoDB) -> None:
    keeper_over.polls.poll("s1", 5000, {"lt-a": 300, "lt-b": 200})
    counted.calls.clear()
    keeper_over.polls.poll("s1", 5000, {"lt-b": 200, "lt-a": 300})  # same map: nothing more than the heartbeat
    assert "put_item" not in counted.calls
    keeper_over.polls.poll("s1", 5000, {"lt-a": 300, "lt-b": 100})
    assert counted.calls.count("put_item") == 1
    ((school, _),) = keeper_over.polls.list_schools()
    assert (school.running, school.running_koi, school.running_tests) == ({"lt-a": 300, "lt-b": 100}, 400, 2)


def test_a_lost_write_of_koi_per_test_is_written_again_by_the_next_poll(
    keeper_over: Keeper, counted: FailingDynamoDB
) -> None:
    keeper_over.polls.poll("s1", 5000, {"lt-a": 300})
    counted.failing.add("put_item")
    keeper_over.polls.poll("s1", 5000, {"lt-a": 100})
    counted.failing.clear()
    keeper_over.polls.poll("s1", 5000, {"lt-a": 100})
    ((school, _),) = keeper_over.polls.list_schools()
    assert school.running == {"lt-a": 100}
