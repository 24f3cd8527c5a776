"""Continuous tests on moto: the ``continuous`` tick step resumes what the guard stopped, by policy, nothing else."""

from __future__ import annotations

from typing import Any

from koipond.clock import FixedClock
from koipond.composition import Keeper, release_tick_steps
from koipond.models.guard import Evaluation, GuardQuery, Outcome
from koipond.models.history import EventKind
from koipond.notifications.store import intent_index_keys
from koipond.services.history import new_event
from koipond.services.release_tick import run_release_tick
from koipond.settings import Settings
from koipond.store.guard import DynamoGuardRepository
from koipond.store.history import DynamoHistoryRepository
from koipond.store.table import DynamoTable
from tests.conftest import Api, new_test_body

AUTO = {"resume": "auto", "cool_down_seconds": 600}


def start(api: Api, **overrides: Any) -> str:
    response = api.post("/v1/tests", new_test_body(**overrides))
    assert response.status == 201, response.body
    return str(response.body["id"])


def status(api: Api, test_id: str) -> str:
    return str(api.get(f"/v1/tests/{test_id}").body["status"])


def test_the_policy_is_stored_and_shown(api: Api) -> None:
    test_id = start(api, **AUTO)
    shown = api.get(f"/v1/tests/{test_id}").body
    assert shown["resume_policy"] == {"mode": "auto", "cool_down_seconds": 600}
    plain = api.get(f"/v1/tests/{start(api)}").body
    assert plain["resume_policy"]["mode"] == "manual"


def test_bad_policies_are_refused_and_nothing_is_stored(api: Api) -> None:
    timed = api.post("/v1/tests", new_test_body(duration_seconds=3600, **AUTO))
    assert timed.status == 400
    assert "continuous tests only" in timed.body["error"]["message"]
    manual = api.post("/v1/tests", new_test_body(cool_down_seconds=60))
    assert manual.status == 400
    assert "resume=auto only" in manual.body["error"]["message"]
    assert api.post("/v1/tests", new_test_body(resume="sometimes")).status == 422
    assert api.post("/v1/tests", new_test_body(resume="auto", cool_down_seconds=0)).status == 422
    assert api.get("/v1/tests").body["tests"] == []


def test_a_guard_stop_is_resumed_after_the_cool_down_with_the_reason_in_history(
    api: Api, keeper: Keeper, clock: FixedClock
) -> None:
    test_id = start(api, **AUTO)
    keeper.tests.stop(test_id, "guard", "guard web-api-success-rate: all 10 samples < 0.95")
    clock.advance(599)
    assert keeper.continuous.tick()["waiting"] == 1
    assert status(api, test_id) == "stopped"
    clock.advance(1)
    report = run_release_tick(release_tick_steps(keeper))
    assert report["continuous"]["resumed"] == 1
    assert status(api, test_id) == "running"
    resumed = keeper.tests.events(test_id)[-1]
    assert (resumed.kind, resumed.actor) == ("test_resumed", "auto-resume")
    assert resumed.reason is not None
    assert "cool-down of 10m passed" in resumed.reason
    run_release_tick(release_tick_steps(keeper))  # a later tick neither resumes nor notifies again
    [notice] = api.get("/v1/notifications?kind=automatic_resume").body["notifications"]
    assert notice["fields"]["test_id"] == test_id
    assert "resumed by itself" in notice["text"]


def test_a_person_or_emergency_stop_is_never_undone(api: Api, keeper: Keeper, clock: FixedClock) -> None:
    by_person = start(api, **AUTO)
    keeper.tests.stop(by_person, "alice", "investigating")
    guarded = start(api, **AUTO)
    keeper.tests.stop(guarded, "guard", "guard p99: breach")
    api.post("/v1/emergency-stop", {"reason": "drill"})
    clock.advance(3600)
    keeper.continuous.tick()
    api.delete("/v1/emergency-stop", {"reason": "drill over"})
    clock.advance(3600)
    keeper.continuous.tick()
    assert (status(api, by_person), status(api, guarded)) == ("stopped", "stopped")


def test_a_manual_policy_keeps_a_guard_stop(api: Api, keeper: Keeper, clock: FixedClock) -> None:
    manual = start(api)
    keeper.tests.stop(manual, "guard", "guard p99: breach")
    clock.advance(86400)
    keeper.continuous.tick()
    assert status(api, manual) == "stopped"


def test_an_unhealthy_guard_keeps_the_test_stopped_until_it_is_healthy_again(
    api: Api, keeper: Keeper, clock: FixedClock, dynamodb: Any, settings: Settings
) -> None:
    table = DynamoTable(dynamodb, settings.table_name)
    guard = DynamoGuardRepository(table, DynamoHistoryRepository(table, intent_index_keys))
    query = GuardQuery(label="p99", query="up", threshold=2, comparator="GreaterThan")
    guard.put_query(query, new_event(clock, "guard", EventKind.GUARD_QUERY_PUT, "test", None, {"label": "p99"}))
    test_id = start(api, **AUTO)
    keeper.tests.stop(test_id, "guard", "guard p99: breach")
    clock.advance(700)
    guard.save_evaluation(Evaluation(label="p99", at=clock.now(), outcome=Outcome.ERROR, detail="down"))
    keeper.continuous.tick()
    assert status(api, test_id) == "stopped"
    guard.save_evaluation(Evaluation(label="p99", at=clock.now(), outcome=Outcome.HEALTHY))
    keeper.continuous.tick()
    assert status(api, test_id) == "running"
