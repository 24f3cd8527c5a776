"""The Keeper's main flow through its Lambda handler: start, poll, scale, shed, stop, estop, lift."""

from __future__ import annotations

from koipond.clock import FixedClock
from tests.conftest import Api, issue_token, new_test_body


def test_started_test_is_split_between_polling_schools(api: Api) -> None:
    test = api.post("/v1/tests", new_test_body(koi=2000)).body
    school = api.as_(issue_token(api, "school"))
    school.post("/v1/schools/s1/poll", {"capacity": 5000})
    school.post("/v1/schools/s2/poll", {"capacity": 5000})
    first = school.post("/v1/schools/s1/poll", {"capacity": 5000}).body
    second = school.post("/v1/schools/s2/poll", {"capacity": 5000}).body
    assert first["assignments"][0]["koi"] + second["assignments"][0]["koi"] == 2000
    assert api.get(f"/v1/tests/{test['id']}").body["koi_per_school"] == {"s1": 1000, "s2": 1000}


def test_shed_half_halves_assigned_koi(api: Api) -> None:
    test = api.post("/v1/tests", new_test_body(koi=2000)).body
    api.post("/v1/schools/s1/poll", {"capacity": 5000})
    api.patch(f"/v1/tests/{test['id']}", {"shed_percent": 50})
    answer = api.post("/v1/schools/s1/poll", {"capacity": 5000}).body
    assert answer["assignments"][0]["koi"] == 1000
    assert answer["assignments"][0]["ranges"] == [{"start": 0, "end": 1000}]


def test_estop_stops_every_test_and_refuses_new_ones_until_lifted(api: Api) -> None:
    tests = [api.post("/v1/tests", new_test_body(name=f"t{i}")).body for i in range(2)]
    api.post("/v1/schools/s1/poll", {"capacity": 5000})
    viewer = api.as_(issue_token(api, "viewer", "vera"))
    assert viewer.post("/v1/emergency-stop", {"reason": "target on fire"}).status == 200
    answer = api.post("/v1/schools/s1/poll", {"capacity": 5000}).body
    assert answer["stop_all"] is True
    assert answer["assignments"] == []
    assert all(api.get(f"/v1/tests/{t['id']}").body["status"] == "stopped" for t in tests)
    refused = api.post("/v1/tests", new_test_body())
    assert refused.status == 409
    assert refused.error_code == "emergency_stop_active"
    status = api.delete("/v1/emergency-stop", {"reason": "all clear"}).body
    assert status["active"] is False
    assert [e["kind"] for e in status["history"]] == ["estop_lifted", "estop_activated"]
    assert status["history"][1]["actor"] == "vera"
    assert api.post("/v1/tests", new_test_body()).status == 201


def test_school_silent_for_three_intervals_loses_its_koi(api: Api, clock: FixedClock) -> None:
    test = api.post("/v1/tests", new_test_body(koi=2000)).body
    for school in ("s1", "s2", "s1", "s2"):
        api.post(f"/v1/schools/{school}/poll", {"capacity": 5000})
    clock.advance(5 * 3 + 1)
    answer = api.post("/v1/schools/s1/poll", {"capacity": 5000}).body
    assert answer["assignments"][0]["koi"] == 2000
    events = api.get(f"/v1/tests/{test['id']}/events").body["events"]
    assert events[-1]["kind"] == "test_reallocated"
    assert events[-1]["reason"] == "koi left s2"


def test_every_change_is_in_the_history_with_actor_and_reason(api: Api) -> None:
    operator = api.as_(issue_token(api, "operator", "olga"))
    test = operator.post("/v1/tests", new_test_body()).body
    operator.patch(f"/v1/tests/{test['id']}", {"koi": 3000, "reason": "ramp"})
    operator.patch(f"/v1/tests/{test['id']}", {"shed_percent": 25, "reason": "ease off"})
    operator.post(f"/v1/tests/{test['id']}/stop", {"reason": "done"})
    events = api.get(f"/v1/tests/{test['id']}/events").body["events"]
    assert [(e["kind"], e["actor"], e["reason"]) for e in events] == [
        ("test_created", "olga", None),
        ("test_scaled", "olga", "ramp"),
        ("test_shed", "olga", "ease off"),
        ("test_stopped", "olga", "done"),
    ]
