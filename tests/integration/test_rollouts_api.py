"""``/v1/rollouts`` on moto: plans ramp a test stage by stage on the tick, pause on trouble, notify each transition."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from koipond.clock import FixedClock
from koipond.composition import Keeper
from koipond.models.guard import Evaluation, GuardQuery, Outcome, Scope
from koipond.models.history import EventKind
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.store import intent_index_keys
from koipond.services.history import new_event
from koipond.settings import Settings
from koipond.store.guard import DynamoGuardRepository
from koipond.store.history import DynamoHistoryRepository
from koipond.store.table import DynamoTable
from tests.conftest import Api, issue_token, new_test_body

PLAN: list[dict[str, Any]] = [{"koi": 50, "hold": "5s"}, {"koi": 100, "hold": 5}, {"koi": 150, "hold": "5s"}]


def start_test(api: Api, **overrides: Any) -> str:
    response = api.post("/v1/tests", new_test_body(koi=20, **overrides))
    assert response.status == 201, response.body
    return str(response.body["id"])


def start_rollout(api: Api, test_id: str, stages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    response = api.post("/v1/rollouts", {"test_id": test_id, "stages": stages or PLAN, "reason": "ramp for launch"})
    assert response.status == 201, response.body
    return dict(response.body)


def show(api: Api, rollout_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/rollouts/{rollout_id}")
    assert response.status == 200, response.body
    return dict(response.body)


def rollout_notifications(keeper: Keeper) -> list[Any]:
    keeper.notifications.intents.expand_pending()  # the release tick's intake: transitions' events to the outbox
    kinds = [k for k in NotificationKind if k.value.startswith("rollout_")]
    return [n for kind in kinds for n in keeper.notifications.list_notifications(kind=kind, limit=200)]


def guard_repo(dynamodb: Any, settings: Settings) -> DynamoGuardRepository:
    table = DynamoTable(dynamodb, settings.table_name)
    return DynamoGuardRepository(table, DynamoHistoryRepository(table, intent_index_keys))


def test_a_rollout_scales_its_test_to_stage_one_and_records_the_start(api: Api, keeper: Keeper) -> None:
    test_id = start_test(api)
    rollout = start_rollout(api, test_id)
    assert (rollout["status"], rollout["current_stage"]) == ("holding", 1)
    assert [s["state"] for s in rollout["stages"]] == ["current", "next", "next"]
    assert [s["hold_seconds"] for s in rollout["stages"]] == [5, 5, 5]
    assert api.get(f"/v1/tests/{test_id}").body["koi"] == 50
    [started] = rollout["transitions"]
    assert (started["kind"], started["reason"], started["details"]["to_stage"]) == (
        "rollout_started",
        "ramp for launch",
        1,
    )
    scaled = api.get(f"/v1/tests/{test_id}/events").body["events"][-1]
    assert scaled["kind"] == "test_scaled"
    assert rollout["id"] in scaled["reason"]


def test_the_tick_advances_stage_by_stage_and_completes_notifying_each_transition_once(
    api: Api, keeper: Keeper, clock: FixedClock
) -> None:
    test_id = start_test(api)
    rollout_id = start_rollout(api, test_id)["id"]
    keeper.rollouts.tick()
    assert show(api, rollout_id)["current_stage"] == 1, "advanced before its hold passed"
    koi_seen = []
    for _ in range(3):
        clock.advance(5)
        keeper.rollouts.tick()
        koi_seen.append(api.get(f"/v1/tests/{test_id}").body["koi"])
    body = show(api, rollout_id)
    assert body["status"] == "completed"
    assert koi_seen == [100, 150, 150]
    kinds = [t["kind"] for t in body["transitions"]]
    assert kinds == ["rollout_started", "rollout_advanced", "rollout_advanced", "rollout_completed"]
    per_transition = Counter(n.fields["transition"] for n in rollout_notifications(keeper))
    assert per_transition == Counter({t["id"]: 1 for t in body["transitions"]})
    assert all(t["reason"] for t in body["transitions"])


def test_a_guard_trip_during_the_hold_pauses_the_rollout_and_only_a_person_resumes_it(
    api: Api, keeper: Keeper, clock: FixedClock
) -> None:
    test_id = start_test(api)
    rollout_id = start_rollout(api, test_id)["id"]
    keeper.tests.stop(test_id, "guard", "guard web-api-success-rate: all 10 samples < 0.95")
    keeper.tests.resume(test_id, "alice", "looks fine to me")  # resumed before the tick: history still tells
    clock.advance(10)
    keeper.rollouts.tick()
    body = show(api, rollout_id)
    assert (body["status"], body["current_stage"]) == ("paused", 1)
    assert body["paused_reason"].startswith("guard tripped: guard web-api-success-rate")
    clock.advance(60)
    keeper.rollouts.tick()
    assert show(api, rollout_id)["status"] == "paused", "a paused rollout advanced without a resume"
    resumed = api.post(f"/v1/rollouts/{rollout_id}/resume", {"reason": "fixed the cache"}).body
    assert (resumed["status"], resumed["current_stage"]) == ("holding", 1)
    clock.advance(5)
    keeper.rollouts.tick()
    assert show(api, rollout_id)["current_stage"] == 2


def test_the_emergency_stop_pauses_a_holding_rollout(api: Api, keeper: Keeper, clock: FixedClock) -> None:
    test_id = start_test(api)
    rollout_id = start_rollout(api, test_id)["id"]
    assert api.post("/v1/emergency-stop", {"reason": "db on fire"}).status == 200
    keeper.rollouts.tick()
    body = show(api, rollout_id)
    assert body["status"] == "paused"
    assert body["paused_reason"] == "emergency stop is active: db on fire"
    resumed = api.post(f"/v1/rollouts/{rollout_id}/resume", {"reason": "try again"})
    assert (resumed.status, resumed.error_code) == (409, "emergency_stop_active")


def test_an_unhealthy_or_stale_guard_holds_the_stage_back(
    api: Api, keeper: Keeper, clock: FixedClock, dynamodb: Any, settings: Settings
) -> None:
    guard = guard_repo(dynamodb, settings)
    query = GuardQuery(label="p99", query="up", threshold=2, comparator="GreaterThan", scope=Scope(all_tests=True))
    guard.put_query(query, new_event(clock, "guard", EventKind.GUARD_QUERY_PUT, "test", None, {"label": "p99"}))
    test_id = start_test(api)
    rollout_id = start_rollout(api, test_id)["id"]
    clock.advance(6)
    guard.save_evaluation(Evaluation(label="p99", at=clock.now(), outcome=Outcome.BREACHING, detail="2 samples > 2"))
    keeper.rollouts.tick()
    assert show(api, rollout_id)["current_stage"] == 1, "advanced while the guard saw a breach building"
    clock.advance(1)
    keeper.rollouts.tick()
    assert show(api, rollout_id)["current_stage"] == 1
    guard.save_evaluation(Evaluation(label="p99", at=clock.now(), outcome=Outcome.HEALTHY))
    keeper.rollouts.tick()
    assert show(api, rollout_id)["current_stage"] == 2


def test_manual_commands_follow_the_rules_and_impossible_ones_are_409(api: Api, keeper: Keeper) -> None:
    test_id = start_test(api)
    rollout_id = start_rollout(api, test_id)["id"]
    assert api.post(f"/v1/rollouts/{rollout_id}/resume", {"reason": "x"}).status == 409
    assert api.post(f"/v1/rollouts/{rollout_id}/advance", {"reason": "looks good"}).body["current_stage"] == 2
    assert api.get(f"/v1/tests/{test_id}").body["koi"] == 100
    assert api.post(f"/v1/rollouts/{rollout_id}/pause", {"reason": "lunch"}).body["status"] == "paused"
    again = api.post(f"/v1/rollouts/{rollout_id}/pause", {"reason": "lunch"})
    assert (again.status, again.error_code) == (409, "conflict")
    paused_advance = api.post(f"/v1/rollouts/{rollout_id}/advance", {"reason": "skip"})
    assert paused_advance.status == 409
    assert "resume it first" in paused_advance.body["error"]["message"]
    assert api.post(f"/v1/rollouts/{rollout_id}/abort", {"reason": "launch moved"}).body["status"] == "aborted"
    before = show(api, rollout_id)
    assert api.post(f"/v1/rollouts/{rollout_id}/advance", {"reason": "x"}).status == 409
    assert api.post(f"/v1/rollouts/{rollout_id}/abort", {"reason": "x"}).status == 409
    assert show(api, rollout_id) == before
    assert api.get(f"/v1/tests/{test_id}").body["koi"] == 100, "an abort leaves the test as it is"
    assert start_rollout(api, test_id)["status"] == "holding", "an aborted rollout frees its test"


def test_viewers_read_rollouts_and_operators_steer_them(api: Api) -> None:
    test_id = start_test(api)
    rollout_id = start_rollout(api, test_id)["id"]
    viewer = api.as_(issue_token(api, "viewer"))
    assert viewer.get(f"/v1/rollouts/{rollout_id}").status == 200
    assert [r["id"] for r in viewer.get("/v1/rollouts?status=holding").body["rollouts"]] == [rollout_id]
    assert viewer.post(f"/v1/rollouts/{rollout_id}/pause", {"reason": "x"}).status == 403
    assert viewer.post("/v1/rollouts", {"test_id": test_id, "stages": PLAN}).status == 403


@pytest.mark.parametrize(
    ("stages", "status", "words"),
    [
        ([], 422, "stages"),
        ([{"koi": 50, "hold": "soon"}], 422, "not a duration"),
        ([{"koi": 50}], 422, "hold"),
        ([{"koi": 50, "hold": "5s", "colour": "red"}], 422, "colour"),
        ([{"koi": 100, "hold": "5s"}, {"koi": 50, "hold": "5s"}], 400, "stage 2: koi must exceed"),
        ([{"koi": 50, "hold": 0}], 400, "stage 1: hold must be between 1s and 90d"),
        ([{"koi": 50, "hold": "91d"}], 400, "hold must be between"),
        ([{"koi": 50, "hold": "1s"}] * 21, 400, "1 to 20 stages"),
        ([{"koi": 0, "hold": "1s"}], 422, "koi"),
        ([{"koi": 10, "hold": True}], 422, "whole seconds"),
        ([{"koi": 10, "hold": 2.5}], 422, "whole seconds"),
    ],
)
def test_bad_plans_are_refused_naming_the_problem_and_nothing_changes(
    api: Api, stages: list[dict[str, Any]], status: int, words: str
) -> None:
    test_id = start_test(api)
    response = api.post("/v1/rollouts", {"test_id": test_id, "stages": stages})
    assert response.status == status, response.body
    assert words in response.body["error"]["message"]
    assert api.get("/v1/rollouts").body["rollouts"] == []
    assert api.get(f"/v1/tests/{test_id}").body["koi"] == 20


def test_rollouts_need_a_running_test_of_their_own(api: Api) -> None:
    missing = api.post("/v1/rollouts", {"test_id": "lt-nope", "stages": PLAN})
    assert (missing.status, missing.error_code) == (404, "not_found")
    test_id = start_test(api)
    first = start_rollout(api, test_id)
    second = api.post("/v1/rollouts", {"test_id": test_id, "stages": PLAN})
    assert second.status == 409
    assert first["id"] in second.body["error"]["message"]
    other = start_test(api)
    api.post(f"/v1/tests/{other}/stop", {"reason": "done"})
    stopped = api.post("/v1/rollouts", {"test_id": other, "stages": PLAN})
    assert stopped.status == 409
    assert len(api.get("/v1/rollouts").body["rollouts"]) == 1
    assert api.get("/v1/rollouts/ro-unknown").status == 404
