"""Every path that makes a test run checks the running-test cap: start, resume and automatic resume
answer 409 at the cap, and at the cap a School's death still moves every test's koi."""

from __future__ import annotations

import pytest

from koipond.clock import FixedClock
from koipond.composition import Keeper
from koipond.services.loadtests import MAX_RUNNING_TESTS
from koipond.settings import Settings
from tests.conftest import ADMIN_TOKEN, Api, issue_token, new_test_body

AUTO = {"resume": "auto", "cool_down_seconds": 60}
CAP = 6  # KOIPOND_MAX_RUNNING_TESTS, small so the suite stays fast; the default is MAX_RUNNING_TESTS


@pytest.fixture
def settings() -> Settings:
    return Settings(
        admin_token=ADMIN_TOKEN,
        poll_interval_seconds=5,
        missed_polls=3,
        table_name="koipond-test",
        max_running_tests=CAP,
    )


def _fill(api: Api, count: int, **overrides: object) -> list[str]:
    ids = []
    for number in range(count):
        created = api.post("/v1/tests", new_test_body(name=f"t{number}", koi=20, **overrides))
        assert created.status == 201, created.body
        ids.append(str(created.body["id"]))
    return ids


def test_the_default_cap_is_the_scale_the_keeper_is_built_for() -> None:
    assert Settings().max_running_tests == MAX_RUNNING_TESTS == 1000


def test_starting_one_test_past_the_cap_is_a_clear_409_and_stores_nothing(api: Api) -> None:
    _fill(api, CAP)
    refused = api.post("/v1/tests", new_test_body(name="one too many"))
    assert refused.status == 409
    assert refused.error_code == "too_many_running_tests"
    assert refused.body["error"]["details"] == {"running": CAP, "max_running": CAP}
    assert len(api.get("/v1/tests").body["tests"]) == CAP


def test_resuming_past_the_cap_is_refused_and_the_test_stays_stopped(api: Api) -> None:
    first, *_ = _fill(api, CAP)
    assert api.post(f"/v1/tests/{first}/stop", {"reason": "make room"}).status == 200
    assert api.post("/v1/tests", new_test_body(name="took the room")).status == 201
    refused = api.post(f"/v1/tests/{first}/resume", {"reason": "back"})
    assert (refused.status, refused.error_code) == (409, "too_many_running_tests")
    assert api.get(f"/v1/tests/{first}").body["status"] == "stopped"


def test_automatic_resume_waits_at_the_cap_instead_of_counting_a_race(
    api: Api, keeper: Keeper, clock: FixedClock
) -> None:
    continuous, *_ = _fill(api, CAP, **AUTO)
    keeper.tests.stop(continuous, "guard", "guard p99: breach")
    assert api.post("/v1/tests", new_test_body(name="took the room")).status == 201
    clock.advance(61)
    assert keeper.continuous.tick() == {"auto": 1, "at_cap": 1}
    assert api.get(f"/v1/tests/{continuous}").body["status"] == "stopped"


def test_at_the_cap_a_dead_schools_koi_all_move_to_the_live_one(api: Api, clock: FixedClock) -> None:
    school = issue_token(api, "school")
    _fill(api, CAP)
    for name in ("s1", "s2"):
        assert api.as_(school).post(f"/v1/schools/{name}/poll", {"capacity": 5000}).status == 200
    clock.advance(16)  # s2 misses three 5 s polls
    answer = api.as_(school).post("/v1/schools/s1/poll", {"capacity": 5000})
    assert answer.status == 200, answer.body
    assert sum(a["koi"] for a in answer.body["assignments"]) == 20 * CAP
