"""``/v1/guard``: queries are managed through the API, validated, stored, and listed with their last evaluation."""

from __future__ import annotations

from typing import Any

import pytest

from koipond.clock import FixedClock
from koipond.composition import Keeper
from koipond.models.guard import Evaluation, Outcome
from tests.conftest import Api, issue_token

QUERY: dict[str, Any] = {
    "label": "p99",
    "query": "histogram_quantile(0.99, sum by (le) (rate(x_bucket[1m])))",
    "threshold": 2.0,
    "comparator": "GreaterThan",
    "time_range": "5m",
    "step": "30s",
}


def test_the_shipped_defaults_are_listed_on_first_use(api: Api) -> None:
    labels = [q["query"]["label"] for q in api.get("/v1/guard").body["queries"]]
    assert labels == ["web-api-p99-latency", "web-api-success-rate", "websocket-connect-failure-rate"]


def test_a_deleted_default_stays_deleted(api: Api) -> None:
    api.get("/v1/guard")
    assert api.delete("/v1/guard/queries/web-api-p99-latency").status == 200
    labels = [q["query"]["label"] for q in api.get("/v1/guard").body["queries"]]
    assert "web-api-p99-latency" not in labels


def test_a_query_is_stored_and_listed_with_its_last_evaluation(api: Api, keeper: Keeper, clock: FixedClock) -> None:
    assert api.put("/v1/guard/queries/p99", QUERY).status == 200
    store = keeper.guard._guard  # the evaluation a guard run would have saved
    store.save_evaluation(Evaluation(label="p99", at=clock.now(), outcome=Outcome.HEALTHY, value=0.4, samples=10))
    listed = {q["query"]["label"]: q for q in api.get("/v1/guard").body["queries"]}
    assert listed["p99"]["query"]["threshold"] == 2.0
    assert listed["p99"]["last"]["outcome"] == "healthy"
    assert listed["p99"]["last"]["value"] == 0.4


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"comparator": "Bigger"}, "comparator"),
        ({"time_range": "soon"}, "time_range"),
        ({"step": "10m", "time_range": "5m"}, "step"),
        ({"threshold": "NaN"}, "threshold"),
        ({"action": {"kind": "shed"}}, "percent"),
        ({"scope": {"all_tests": True, "tags": ["a"]}}, "scope"),
        ({"on_error": {"action": "stop", "consecutive": 0}}, "consecutive"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_queries_are_422_naming_the_problem_and_nothing_is_stored(
    api: Api, change: dict[str, Any], where: str
) -> None:
    response = api.put("/v1/guard/queries/p99", {**QUERY, **change})
    assert response.status == 422, response.body
    assert where in response.body["error"]["message"]
    assert "p99" not in [q["query"]["label"] for q in api.get("/v1/guard").body["queries"]]


def test_the_body_label_must_match_the_path(api: Api) -> None:
    response = api.put("/v1/guard/queries/other", QUERY)
    assert response.status == 400
    assert "differs" in response.body["error"]["message"]


def test_viewers_read_operators_change(api: Api) -> None:
    viewer = api.as_(issue_token(api, "viewer"))
    assert viewer.get("/v1/guard").status == 200
    assert viewer.put("/v1/guard/queries/p99", QUERY).status == 403
    assert api.as_(issue_token(api, "operator")).put("/v1/guard/queries/p99", QUERY).status == 200


def test_deleting_an_unknown_query_is_404(api: Api) -> None:
    assert api.delete("/v1/guard/queries/nope").status == 404
