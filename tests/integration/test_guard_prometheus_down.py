"""The guard when Prometheus goes away: its documented ``on_error`` policy, recorded and logged clearly.

A real Prometheus is started and then stopped under the guard, and a closed port stands for one that
never came up. The shipped policy (README, "The shutdown guard") is ``on_error: stop`` after 3 failed
runs in a row: a guard that cannot see stops load rather than let it run blind; ``ignore`` keeps it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from koipond.composition import Keeper
from koipond.models.guard import Comparator, ErrorPolicy, GuardQuery, Outcome, PrometheusCluster
from koipond.models.tests import LoadTestStatus
from koipond.settings import Settings
from local_pond.processes import PondProcess, free_port
from tests.conftest import ADMIN_TOKEN, Api, new_test_body
from tests.integration.idle_prometheus import idle_prometheus, url_of

UNREACHABLE = "Prometheus pond is unreachable: [Errno 111] Connection refused"


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[PondProcess]:
    """A real Prometheus for one test, which the test may stop; nothing to scrape (``vector()`` needs no data)."""
    with idle_prometheus(tmp_path) as process:
        yield process


@pytest.fixture
def settings(prometheus: PondProcess) -> Settings:
    closed = PrometheusCluster(url=f"http://127.0.0.1:{free_port('127.0.0.1')}")  # nothing ever listens there
    return Settings(
        admin_token=ADMIN_TOKEN,
        table_name="koipond-test",
        prometheus_url=url_of(prometheus),
        guard_clusters={"never-up": closed},
        guard_timeout_seconds=2,
    )


def only(keeper: Keeper, query: GuardQuery) -> None:
    keeper.guard.ensure_defaults()
    for stored in keeper.guard.status().queries:
        keeper.guard.delete_query(stored.label, "test")
    keeper.guard.put_query(query, "test")


def healthy_query(**fields: object) -> GuardQuery:
    """Healthy whenever Prometheus answers: 1 is never above 2."""
    return GuardQuery.model_validate(
        {"label": "always-fine", "query": "vector(1)", "threshold": 2, "comparator": Comparator.GREATER_THAN,
         "time_range": "30s", "step": "5s", **fields}
    )  # fmt: skip


def test_a_stopped_prometheus_stops_load_after_three_failed_runs_as_documented(
    api: Api, keeper: Keeper, prometheus: PondProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="koipond.guard")
    test_id = api.post("/v1/tests", new_test_body()).body["id"]
    only(keeper, healthy_query())
    assert keeper.guard.run_once()[0].outcome is Outcome.HEALTHY

    prometheus.stop()
    first, second = keeper.guard.run_once()[0], keeper.guard.run_once()[0]

    assert (first.outcome, first.consecutive_errors, second.consecutive_errors) == (Outcome.ERROR, 1, 2)
    assert second.detail == f"query failed (2 in a row): {UNREACHABLE}"
    assert keeper.tests.get(test_id).status is LoadTestStatus.RUNNING
    assert "on_error stops the tests in scope after 3 in a row: 1 more to go" in caplog.text
    listed = api.get("/v1/guard").body["queries"][0]["last"]
    assert (listed["outcome"], listed["detail"]) == ("error", second.detail)

    third = keeper.guard.run_once()[0]

    assert third.acted
    assert keeper.tests.get(test_id).status is LoadTestStatus.STOPPED
    stopped = keeper.tests.events(test_id)[-1]
    assert (stopped.kind, stopped.actor) == ("test_stopped", "guard")
    assert stopped.reason == f"guard always-fine: query failed (3 in a row): {UNREACHABLE}"
    assert f"guard always-fine cannot read Prometheus: query failed (3 in a row): {UNREACHABLE}" in caplog.text


def test_with_on_error_ignore_load_keeps_running_while_the_guard_cannot_see(
    api: Api, keeper: Keeper, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="koipond.guard")
    test_id = api.post("/v1/tests", new_test_body()).body["id"]
    only(keeper, healthy_query(cluster="never-up", on_error=ErrorPolicy(action="ignore")))

    runs = [keeper.guard.run_once()[0] for _ in range(5)]

    assert [(r.outcome, r.consecutive_errors, r.acted) for r in runs] == [
        (Outcome.ERROR, n, False) for n in range(1, 6)
    ]
    assert (
        runs[-1].detail
        == "query failed (5 in a row): Prometheus never-up is unreachable: [Errno 111] Connection refused"
    )
    assert keeper.tests.get(test_id).status is LoadTestStatus.RUNNING
    assert "on_error is ignore: load keeps running while the guard cannot see" in caplog.text
