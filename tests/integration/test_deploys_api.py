"""``/v1/deploys``: recording deploy markers (idempotently), reading them, and per-service SLI settings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from koipond.clock import FixedClock
from koipond.composition import Keeper, build_keeper, injected_keeper
from koipond.settings import Settings
from tests.conftest import ADMIN_TOKEN, START, Api, issue_token

AT = (START - timedelta(minutes=5)).isoformat()
DEPLOY: dict[str, Any] = {"service": "chat-api", "build": "v1.2.3", "at": AT, "soak": "20s", "baseline": 30}
ALL_KINDS = ("success_rate", "latency_p50", "latency_p99", "websocket_lag_p99")
SLIS: dict[str, Any] = {
    "matchers": {"pond": "local"},
    "rules": [
        {"kind": "latency_p99", "max_increase_percent": 50, "min_increase_ms": 100},
        {"kind": "websocket_lag_p99", "enabled": False},
    ],
    "min_calls": 20,
}


@pytest.fixture
def settings() -> Settings:
    return Settings(admin_token=ADMIN_TOKEN, table_name="koipond-test", prometheus_url="http://127.0.0.1:9")


@pytest.fixture
def keeper(settings: Settings, dynamodb: Any, clock: FixedClock) -> Iterator[Keeper]:
    built = build_keeper(settings, dynamodb, clock)
    with injected_keeper(built):
        yield built


@pytest.fixture
def api(keeper: Keeper) -> Api:
    return Api()


def deploys_of(api: Api, service: str = "chat-api") -> list[dict[str, Any]]:
    response = api.get(f"/v1/deploys?service={service}")
    assert response.status == 200, response.body
    return list(response.body["deploys"])


def test_a_deploy_is_recorded_pending_with_its_windows(api: Api) -> None:
    response = api.post("/v1/deploys", DEPLOY)
    assert response.status == 201, response.body
    deploy = response.body
    assert deploy["id"].startswith("dp-")
    assert deploy["status"] == "pending"
    assert deploy["verdict"] is None
    assert (deploy["soak"]["seconds"], deploy["baseline"]["seconds"]) == (20, 30)
    assert deploy["soak"]["start"] == deploy["baseline"]["end"]
    assert api.get(f"/v1/deploys/{deploy['id']}").body == deploy
    events = api.get(f"/v1/deploys/{deploy['id']}/events").body["events"]
    assert [e["kind"] for e in events] == ["deploy_recorded"]


def test_a_retried_post_returns_the_same_deploy(api: Api) -> None:
    first = api.post("/v1/deploys", DEPLOY)
    again = api.post("/v1/deploys", DEPLOY)
    assert (first.status, again.status) == (201, 200)
    assert again.body["id"] == first.body["id"]
    assert len(deploys_of(api)) == 1


def test_the_same_deploy_with_other_windows_is_a_conflict(api: Api) -> None:
    api.post("/v1/deploys", DEPLOY)
    response = api.post("/v1/deploys", {**DEPLOY, "soak": "30s"})
    assert response.status == 409
    assert "soak 20s" in response.body["error"]["message"]


def test_at_defaults_to_now_and_windows_to_the_shipped_ones(api: Api, clock: FixedClock) -> None:
    response = api.post("/v1/deploys", {"service": "chat-api", "build": "v2"})
    assert response.status == 201
    assert response.body["soak"]["seconds"] == 15 * 60
    assert response.body["baseline"]["seconds"] == 30 * 60
    assert response.body["at"].startswith(START.date().isoformat())


def test_deploys_are_listed_newest_first_and_filtered_by_build(api: Api) -> None:
    for minutes, build in ((30, "v1"), (10, "v3"), (20, "v2")):
        at = (START - timedelta(minutes=minutes)).isoformat()
        assert api.post("/v1/deploys", {**DEPLOY, "build": build, "at": at}).status == 201
    assert [d["build"] for d in deploys_of(api)] == ["v3", "v2", "v1"]
    only = api.get("/v1/deploys?service=chat-api&build=v2").body["deploys"]
    assert [d["build"] for d in only] == ["v2"]
    assert deploys_of(api, "other-service") == []


def test_a_deploy_in_the_future_is_refused_and_nothing_is_stored(api: Api) -> None:
    response = api.post("/v1/deploys", {**DEPLOY, "at": (START + timedelta(minutes=10)).isoformat()})
    assert response.status == 400
    assert "in the future" in response.body["error"]["message"]
    assert deploys_of(api) == []


def test_small_clock_skew_is_accepted(api: Api) -> None:
    assert api.post("/v1/deploys", {**DEPLOY, "at": (START + timedelta(seconds=30)).isoformat()}).status == 201


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"soak": "5s"}, "soak"),
        ({"soak": "7h"}, "soak"),
        ({"baseline": 0}, "baseline"),
        ({"baseline": "soon"}, "baseline"),
        ({"at": "2026-11-28T11:00:00"}, "at"),
        ({"service": "Chat API"}, "service"),
        ({"build": ""}, "build"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_deploys_are_422_naming_the_field_and_nothing_is_stored(
    api: Api, change: dict[str, Any], where: str
) -> None:
    response = api.post("/v1/deploys", {**DEPLOY, **change})
    assert response.status == 422, response.body
    assert where in response.body["error"]["message"]
    assert deploys_of(api) == []


def test_unknown_and_malformed_deploy_ids(api: Api) -> None:
    assert api.get("/v1/deploys/dp-0123456789abcdef").error_code == "not_found"
    assert api.get("/v1/deploys/nope").status == 422
    assert api.get("/v1/deploys").status == 422  # the service is required


def test_viewers_read_and_operators_post(api: Api) -> None:
    viewer = api.as_(issue_token(api, "viewer"))
    assert viewer.post("/v1/deploys", DEPLOY).status == 403
    assert deploys_of(api) == []
    operator = api.as_(issue_token(api, "operator"))
    created = operator.post("/v1/deploys", DEPLOY)
    assert created.status == 201
    assert viewer.get(f"/v1/deploys/{created.body['id']}").status == 200
    assert api.as_(None).get("/v1/deploys?service=chat-api").status == 401


def test_a_service_without_settings_shows_the_defaults(api: Api) -> None:
    slis = api.get("/v1/deploys/slis/chat-api").body
    assert slis["source"] == "defaults"
    rules = {r["kind"]: r for r in slis["effective_rules"]}
    assert rules["success_rate"]["max_drop_points"] == 0.5
    assert rules["latency_p50"]["max_increase_percent"] == 20
    assert rules["latency_p50"]["min_increase_ms"] == 5


def test_sli_settings_are_stored_and_deploys_keep_the_ones_they_were_recorded_with(api: Api) -> None:
    before = api.post("/v1/deploys", {**DEPLOY, "build": "before"}).body
    stored = api.put("/v1/deploys/slis/chat-api", SLIS)
    assert stored.status == 200, stored.body
    rules = {r["kind"]: r for r in stored.body["effective_rules"]}
    assert rules["latency_p99"]["min_increase_ms"] == 100
    assert rules["websocket_lag_p99"]["enabled"] is False
    assert rules["success_rate"]["max_drop_points"] == 0.5  # not named: the default
    after = api.post("/v1/deploys", {**DEPLOY, "build": "after"}).body
    assert after["slis"]["matchers"] == {"pond": "local"}
    assert api.get(f"/v1/deploys/{before['id']}").body["slis"]["matchers"] == {}
    listed = api.get("/v1/deploys/slis").body["services"]
    assert [s["service"] for s in listed] == ["chat-api"]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"rules": [{"kind": "success_rate", "min_increase_ms": 5}]}, "min_increase_ms"),
        ({"rules": [{"kind": "latency_p50", "max_drop_points": 1}]}, "max_drop_points"),
        ({"rules": [{"kind": "latency_p50"}, {"kind": "latency_p50"}]}, "more than once"),
        ({"rules": [{"kind": k, "enabled": False} for k in ALL_KINDS]}, "disabled"),
        ({"rules": [{"kind": "latency_p999"}]}, "kind"),
        ({"matchers": {"__name__": "x"}}, "label name"),
        ({"matchers": {"a-b": "x"}}, "label name"),
        ({"max_methods": 21}, "max_methods"),
        ({"min_calls": 0}, "min_calls"),
        ({"query": "up"}, "query"),
    ],
)
def test_bad_sli_settings_are_422_and_change_nothing(api: Api, change: dict[str, Any], where: str) -> None:
    response = api.put("/v1/deploys/slis/chat-api", {**SLIS, **change})
    assert response.status == 422, response.body
    assert where in response.body["error"]["message"]
    assert api.get("/v1/deploys/slis/chat-api").body["source"] == "defaults"


def test_an_unknown_prometheus_cluster_is_400_and_changes_nothing(api: Api) -> None:
    response = api.put("/v1/deploys/slis/chat-api", {**SLIS, "cluster": "eu-west"})
    assert response.status == 400
    assert "unknown Prometheus cluster 'eu-west' (configured: pond)" in response.body["error"]["message"]
    assert api.get("/v1/deploys/slis/chat-api").body["source"] == "defaults"


def test_deleting_settings_returns_to_the_defaults(api: Api) -> None:
    api.put("/v1/deploys/slis/chat-api", SLIS)
    assert api.delete("/v1/deploys/slis/chat-api").body["source"] == "defaults"
    assert api.delete("/v1/deploys/slis/chat-api").status == 404


def test_viewers_cannot_change_sli_settings(api: Api) -> None:
    viewer = api.as_(issue_token(api, "viewer"))
    assert viewer.put("/v1/deploys/slis/chat-api", SLIS).status == 403
    assert viewer.get("/v1/deploys/slis/chat-api").status == 200
