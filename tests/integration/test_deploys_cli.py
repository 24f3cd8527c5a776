"""``koipond verify`` and ``koipond deploy`` through a real HTTP Keeper (the Lambda handler on moto), with verdicts
judged from a local server speaking Prometheus' query API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from click.testing import Result

from koipond.clock import FixedClock
from koipond.composition import Keeper, build_keeper, injected_keeper
from koipond.settings import Settings
from tests.conftest import ADMIN_TOKEN, START
from tests.integration.keeper_http import keeper_over_http, koipond
from tests.integration.test_deploys_tick import AT, FakePrometheus, Window, prometheus  # noqa: F401 (a fixture)

AT_TEXT = AT.strftime("%Y-%m-%dT%H:%M:%S+00:00")


@pytest.fixture
def keeper(dynamodb: Any, clock: FixedClock, prometheus: tuple[FakePrometheus, str]) -> Iterator[Keeper]:  # noqa: F811
    settings = Settings(
        admin_token=ADMIN_TOKEN, table_name="koipond-test", prometheus_url=prometheus[1], deploy_settle_seconds=0
    )
    built = build_keeper(settings, dynamodb, clock)
    with injected_keeper(built):
        yield built


@pytest.fixture
def keeper_url(keeper: Keeper) -> Iterator[str]:
    with keeper_over_http() as url:
        yield url


def verify(url: str, *extra: str) -> Result:
    args = ["verify", "--service", "chat-api", "--build", "v2", "--at", AT_TEXT, "--soak", "20s", "--baseline", "30s"]
    return koipond(url, *args, *extra)


def test_a_regression_exits_1_with_the_failing_rows(
    keeper: Keeper,
    keeper_url: str,
    prometheus: tuple[FakePrometheus, str],  # noqa: F811
) -> None:
    prometheus[0].soak = Window(p50=0.25)
    recorded = verify(keeper_url)
    assert recorded.exit_code == 0, recorded.output
    assert "status: pending" in recorded.output
    keeper.deploys.tick()
    judged = verify(keeper_url, "--wait", "--poll", "0.2")
    assert judged.exit_code == 1, judged.output
    assert "verdict: FAIL" in judged.output
    assert "p50 latency of chat.postMessage: 20.0 ms -> 250.0 ms" in " ".join(judged.output.split())


def test_a_pass_exits_0_and_is_listed(keeper: Keeper, keeper_url: str) -> None:
    verify(keeper_url)
    keeper.deploys.tick()
    assert verify(keeper_url, "--wait").exit_code == 0
    listed = json.loads(koipond(keeper_url, "--json", "deploy", "list", "--service", "chat-api").stdout)
    assert [(d["build"], d["verdict"]["outcome"]) for d in listed] == [("v2", "pass")]
    shown = koipond(keeper_url, "deploy", "show", listed[0]["id"])
    assert "verdict: PASS" in shown.output


@pytest.mark.parametrize(("flag", "code"), [((), 2), (("--inconclusive", "pass"), 0)])
def test_an_inconclusive_verdict_exits_as_the_flag_says(
    keeper: Keeper,
    keeper_url: str,
    prometheus: tuple[FakePrometheus, str],  # noqa: F811
    flag: tuple[str, ...],
    code: int,
) -> None:
    prometheus[0].soak = Window(calls=5, ok=5)
    verify(keeper_url)
    keeper.deploys.tick()
    result = verify(keeper_url, "--wait", *flag)
    assert result.exit_code == code, result.output
    assert "verdict: INCONCLUSIVE" in result.output


def test_waiting_past_the_timeout_exits_2(keeper_url: str) -> None:
    result = verify(keeper_url, "--wait", "--timeout", "1s", "--poll", "0.2")
    assert result.exit_code == 2, result.output
    assert "still pending" in result.output


def test_a_refused_deploy_exits_2_naming_the_problem(keeper_url: str) -> None:
    future = (START + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    result = koipond(keeper_url, "verify", "--service", "chat-api", "--build", "v2", "--at", future, "--wait")
    assert result.exit_code == 2, result.output
    assert "in the future" in result.output
