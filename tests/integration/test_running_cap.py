"""The running-test cap is what one allocation write can hold, and every path that makes a test run
checks it: start, resume and automatic resume answer 409 at the cap, and at the cap a School's death
still moves every test's koi in one write."""

from __future__ import annotations

from koipond.composition import Keeper
from koipond.ports import FixedClock
from koipond.services.loadtests import MAX_RUNNING_TESTS
from koipond.store.table import MAX_TRANSACTION_ITEMS
from tests.conftest import Api, issue_token, new_test_body

AUTO = {"resume": "auto", "cool_down_seconds": 60}


def _fill(api: Api, count: int, **overrides: object) -> list[str]:
    ids = []
    for number in range(count):
        created = api.post("/v1/tests", new_test_body(name=f"t{number}", koi=20, **overrides))
        assert created.status == 201, created.body
        ids.append(str(created.body["id"]))
    return ids


def test_the_cap_leaves_room_for_a_check_and_an_event_per_test_in_one_write() -> None:
    assert 2 + 2 * MAX_RUNNING_TESTS <= MAX_TRANSACTION_ITEMS


def test_starting_one_test_past_the_cap_is_a_clear_409_and_stores_nothing(api: Api) -> None:
    _fill(api, MAX_RUNNING_TESTS)
    refused = api.post("/v1/tests", new_test_body(name="one too many"))
    assert refused.status == 409
    assert refused.error_code == "too_many_running_tests"
    assert refused.body["error"]["details"] == {"running": MAX_RUNNING_TESTS, "max_running": MAX_RUNNING_TESTS}
    assert len(api.get("/v1/tests").body["tests"]) == MAX_RUNNING_TESTS


def test_resuming_past_the_cap_is_refused_and_the_test_stays_stopped(api: Api) -> None:
    first, *_ = _fill(api, MAX_RUNNING_TESTS)
    assert api.post(f"/v1/tests/{first}/stop", {"reason": "make room"}).status == 200
    assert api.post("/v1/tests", new_test_body(name="took the room")).status == 201
    refused = api.post(f"/v1/tests/{first}/resume", {"reason": "back"})
    assert (refused.status, refused.error_code) == (409, "too_many_running_tests")
    assert api.get(f"/v1/tests/{first}").body["status"] == "stopped"


def test_automatic_resume_waits_at_the_cap_instead_of_counting_a_race(
    api: Api, keeper: Keeper, clock: FixedClock
) -> None:
    continuous, *_ = _fill(api, MAX_RUNNING_TESTS, **AUTO)
    keeper.tests.stop(continuous, "guard", "guard p99: breach")
    assert api.post("/v1/tests", new_test_body(name="took the room")).status == 201
    clock.advance(61)
    assert keeper.continuous.tick() == {"auto": 1, "at_cap": 1}
    assert api.get(f"/v1/tests/{continuous}").body["status"] == "stopped"


def test_at_the_cap_a_dead_schools_koi_move_in_one_allocation_write(api: Api, clock: FixedClock) -> None:
    school = issue_token(api, "school")
    _fill(api, MAX_RUNNING_TESTS)
    for name in ("s1", "s2"):
        assert api.as_(school).post(f"/v1/schools/{name}/poll", {"capacity": 5000}).status == 200
    clock.advance(16)  # s2 misses three 5 s polls
    answer = api.as_(school).post("/v1/schools/s1/poll", {"capacity": 5000})
    assert answer.status == 200, answer.body
    assert sum(a["koi"] for a in answer.body["assignments"]) == 20 * MAX_RUNNING_TESTS
