"""A poll answers whatever the table does: the stop lands while writes fail, a failed allocation write
falls back to the stored allocation, and a heartbeat is one write that keeps the School's first poll."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from koipond.clock import FixedClock
from koipond.composition import Keeper, build_keeper, injected_keeper
from koipond.settings import Settings
from tests.conftest import MINIMAL_BEHAVIOR, Api, issue_token, new_test_body
from tests.integration.dynamodb_faults import FailingDynamoDB


@pytest.fixture
def flaky(dynamodb: Any) -> FailingDynamoDB:
    return FailingDynamoDB(dynamodb)


@pytest.fixture
def flaky_api(settings: Settings, flaky: FailingDynamoDB, clock: FixedClock) -> Iterator[Api]:
    built: Keeper = build_keeper(settings, flaky, clock)  # type: ignore[arg-type]
    with injected_keeper(built):
        admin = Api()
        assert admin.put("/v1/behaviors/average_user", MINIMAL_BEHAVIOR).status == 201
        yield admin


def _poll(api: Api, school: str, token: str) -> Any:
    answer = api.as_(token).post(f"/v1/schools/{school}/poll", {"capacity": 5000})
    assert answer.status == 200, answer.body
    return answer.body


def test_emergency_stop_reaches_a_school_while_every_write_fails(flaky_api: Api, flaky: FailingDynamoDB) -> None:
    school = issue_token(flaky_api, "school")
    assert flaky_api.post("/v1/tests", new_test_body(koi=300)).status == 201
    assert _poll(flaky_api, "s1", school)["assignments"]
    assert flaky_api.post("/v1/emergency-stop", {"reason": "drill"}).status == 200
    flaky.failing |= {"transact_write_items", "update_item", "put_item"}
    answer = _poll(flaky_api, "s1", school)
    assert (answer["stop_all"], answer["assignments"]) == (True, [])
    assert answer["stop_reason"] == "emergency stop: drill"


def test_a_failed_allocation_write_answers_from_the_stored_allocation(flaky_api: Api, flaky: FailingDynamoDB) -> None:
    school = issue_token(flaky_api, "school")
    test_id = flaky_api.post("/v1/tests", new_test_body(koi=300)).body["id"]
    assert [a["koi"] for a in _poll(flaky_api, "s1", school)["assignments"]] == [300]
    assert flaky_api.patch(f"/v1/tests/{test_id}", {"koi": 800}).status == 200
    flaky.failing.add("transact_write_items")
    answer = _poll(flaky_api, "s1", school)
    assert [(a["test_id"], a["koi"]) for a in answer["assignments"]] == [(test_id, 300)]
    flaky.failing.clear()
    assert [a["koi"] for a in _poll(flaky_api, "s1", school)["assignments"]] == [800]


def test_a_poll_whose_heartbeat_cannot_be_written_is_still_answered(flaky_api: Api, flaky: FailingDynamoDB) -> None:
    school = issue_token(flaky_api, "school")
    assert flaky_api.post("/v1/tests", new_test_body(koi=300)).status == 201
    assert _poll(flaky_api, "s1", school)["assignments"]
    flaky.failing.add("update_item")
    assert [a["koi"] for a in _poll(flaky_api, "s1", school)["assignments"]] == [300]


def test_heartbeats_keep_the_first_poll_time_and_update_the_rest(
    flaky_api: Api, flaky: FailingDynamoDB, clock: FixedClock
) -> None:
    school = issue_token(flaky_api, "school")
    first = clock.now()
    _poll(flaky_api, "s1", school)
    clock.advance(4)
    flaky_api.as_(school).post("/v1/schools/s1/poll", {"capacity": 1200, "running": {"lt-x": 3}})
    (listed,) = flaky_api.get("/v1/schools").body["schools"]
    assert (listed["capacity"], listed["running_koi"], listed["running_tests"]) == (1200, 3, 1)
    assert listed["running"] == {"lt-x": 3}
    assert listed["first_seen_at"].startswith(first.isoformat()[:19])
    assert listed["last_poll_at"].startswith((first + timedelta(seconds=4)).isoformat()[:19])
