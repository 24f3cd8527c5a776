"""The shutdown guard on real Prometheus scraping a real School that swims against the bundled target."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from koipond.aws_clients import dynamodb_client
from koipond.composition import Keeper, build_keeper
from koipond.models.guard import Comparator, ErrorPolicy, GuardQuery, NoDataPolicy, Outcome, PrometheusCluster
from koipond.models.tests import LoadTestStatus
from koipond.prometheus import PrometheusReader
from koipond.services.guard_evaluation import QueryResult
from koipond.settings import Settings
from local_pond.pond import LocalPond
from local_pond.processes import free_port
from tests.e2e.conftest import run_cli, watched_pond
from tests.e2e.school_probe import wait_for

GUARD_PERIOD = 2.0


@pytest.fixture(scope="module")
def guarded_pond(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPond]:
    with watched_pond(tmp_path_factory.mktemp("guard-pond")) as pond:
        yield pond


@pytest.fixture
def guard(guarded_pond: LocalPond) -> Iterator[Keeper]:
    """The guard as the Lambda builds it, over the pond's table and Prometheus; only this test's queries."""
    down = PrometheusCluster(url=f"http://127.0.0.1:{free_port()}")  # nothing listens: Prometheus is "down"
    settings = Settings(
        aws_endpoint=guarded_pond.aws_url,
        prometheus_url=guarded_pond.prometheus_url,
        guard_clusters={"down": down},
        guard_timeout_seconds=2,
    )
    keeper = build_keeper(settings, dynamodb_client(settings))
    keeper.guard.ensure_defaults()
    for query in keeper.guard.status().queries:
        keeper.guard.delete_query(query.label, "e2e")
    yield keeper
    for test in keeper.tests.list_tests(LoadTestStatus.RUNNING):
        keeper.tests.stop(test.id, "e2e", "cleanup")
    guarded_pond.target_faults("DELETE")


def start(pond: LocalPond, koi: int = 60) -> str:
    with pond.client() as admin:
        test = admin.start_test(name="guarded", target=pond.target_url, behavior="busy", workspace="guard", koi=koi)
    return test.id


def status_of(keeper: Keeper, test_id: str) -> LoadTestStatus:
    return keeper.tests.get(test_id).status


def test_injected_errors_stop_the_test_within_the_window_plus_one_period(
    guarded_pond: LocalPond, guard: Keeper
) -> None:
    query = GuardQuery(
        label="e2e-success-rate",
        query=(
            "1 - (sum(rate(koi_pond_school_web_api_call_failures_total[5s])) or vector(0))"
            " / sum(rate(koi_pond_school_web_api_calls_total[5s]))"
        ),
        time_range="10s",
        step="1s",
        threshold=0.95,
        comparator=Comparator.LESS_THAN,
    )
    guard.guard.put_query(query, "e2e")
    test_id = start(guarded_pond)
    wait_for(
        "a healthy evaluation",
        lambda: guard.guard.run_once()[0].outcome,
        lambda outcome: outcome is Outcome.HEALTHY,
        timeout=60,
    )
    guarded_pond.target_faults("PUT", {"route": "*", "error_rate": 1.0, "status": 500})
    injected = time.monotonic()
    while status_of(guard, test_id) is LoadTestStatus.RUNNING:
        assert time.monotonic() - injected < 60, "the guard never stopped the test"
        guard.guard.run_once()
        time.sleep(GUARD_PERIOD)
    elapsed = time.monotonic() - injected
    # The 5s rate window and 1s scrapes delay the first breaching sample by a few seconds.
    assert elapsed <= query.time_range_seconds + GUARD_PERIOD + 8, f"stopped only after {elapsed:.0f}s"
    stopped = guard.tests.events(test_id)[-1]
    assert stopped.kind == "test_stopped"
    assert stopped.actor == "guard"
    assert stopped.reason is not None
    assert stopped.reason.startswith("guard e2e-success-rate: ")
    assert "< 0.95" in stopped.reason


class RecordingReader:
    """The guard's own Prometheus reader, keeping what each run asked and got (to judge the acting run)."""

    def __init__(self, inner: PrometheusReader) -> None:
        self.inner = inner
        self.runs: list[tuple[datetime, datetime, QueryResult]] = []

    def range_query(self, cluster: str, query: str, start: datetime, end: datetime, step_seconds: int) -> QueryResult:
        result = self.inner.range_query(cluster, query, start, end, step_seconds)
        self.runs.append((start, end, result))
        return result


def test_the_guard_stops_only_after_the_breach_lasted_the_whole_window(guarded_pond: LocalPond, guard: Keeper) -> None:
    """Issue 15's drill: errors injected, the guard run at sub-second offsets; the run that acts must have
    seen its window open on a breaching sample, a whole time_range before it (not 27 s into 30 s)."""
    query = GuardQuery(
        label="e2e-window",
        query=(
            "1 - (sum(rate(koi_pond_school_web_api_call_failures_total[3s])) or vector(0))"
            " / sum(rate(koi_pond_school_web_api_calls_total[3s]))"
        ),
        time_range="10s",
        step="2s",
        threshold=0.95,
        comparator=Comparator.LESS_THAN,
    )
    guard.guard.put_query(query, "e2e")
    recorder = RecordingReader(guard.guard._prometheus)
    guard.guard._prometheus = recorder  # the same reader underneath; only remembered
    # An earlier test's failing calls must have left the window, or they would be this breach's start.
    quiet = {Outcome.NO_DATA, Outcome.HEALTHY}
    wait_for("a window without failures", lambda: guard.guard.run_once()[0].outcome, lambda o: o in quiet, 60)
    test_id = start(guarded_pond)
    wait_for("a healthy evaluation", lambda: guard.guard.run_once()[0].outcome, lambda o: o is Outcome.HEALTHY, 60)
    guarded_pond.target_faults("PUT", {"route": "*", "error_rate": 1.0, "status": 500})
    deadline = time.monotonic() + 60
    while not (acting := guard.guard.run_once()[0]).acted:
        assert time.monotonic() < deadline, "the guard never stopped the test"
        time.sleep(0.37)  # an odd period: runs land on every sub-second offset
    assert status_of(guard, test_id) is LoadTestStatus.STOPPED
    window_start, now, result = recorder.runs[-1]
    assert result.samples[0].at == window_start.timestamp()  # Prometheus answered exactly at the window start
    breaching = [s.at for s in result.samples if not math.isnan(s.value) and s.value < query.threshold]
    assert breaching[0] <= window_start.timestamp(), acting.detail
    assert now.timestamp() - breaching[0] >= query.time_range_seconds


def test_a_single_healthy_sample_in_the_window_prevents_a_stop(guarded_pond: LocalPond, guard: Keeper) -> None:
    query = GuardQuery(
        label="e2e-any-koi",
        query="sum(koi_pond_school_koi) or vector(0)",  # 0 while no koi swim: a healthy sample
        time_range="12s",
        step="1s",
        threshold=0,
        comparator=Comparator.GREATER_THAN,
    )
    guard.guard.put_query(query, "e2e")
    # Koi of an earlier test must be gone first, or their samples and ours could make one long breach.
    wait_for("no koi swimming", lambda: guard.guard.run_once()[0].value, lambda v: v == 0, timeout=30)
    test_id = start(guarded_pond, koi=10)
    with guarded_pond.client() as admin:
        wait_for("koi swimming", lambda: guard.guard.run_once()[0].value, lambda v: v is not None and v > 0, timeout=30)
        admin.update_test(test_id, shed_percent=100, reason="a healthy moment")
        time.sleep(3)
        admin.update_test(test_id, shed_percent=0, reason="back to breaching")
    wait_for("koi back", lambda: guard.guard.run_once()[0].value, lambda v: v is not None and v > 0, timeout=30)
    evaluation = guard.guard.run_once()[0]
    assert evaluation.outcome is Outcome.HEALTHY, evaluation
    assert status_of(guard, test_id) is LoadTestStatus.RUNNING
    wait_for("a sustained breach", lambda: status_of(guard, test_id) if guard.guard.run_once() else None,
             lambda s: s is LoadTestStatus.STOPPED, timeout=40)  # fmt: skip


def test_prometheus_down_stops_after_the_configured_consecutive_errors(guarded_pond: LocalPond, guard: Keeper) -> None:
    query = GuardQuery(
        label="e2e-down", query="up", cluster="down", threshold=0, comparator=Comparator.LESS_THAN,
        time_range="10s", step="1s", on_error=ErrorPolicy(action="stop", consecutive=3),
    )  # fmt: skip
    guard.guard.put_query(query, "e2e")
    test_id = start(guarded_pond, koi=5)
    first, second = guard.guard.run_once()[0], guard.guard.run_once()[0]
    assert (first.outcome, first.consecutive_errors, second.consecutive_errors) == (Outcome.ERROR, 1, 2)
    assert status_of(guard, test_id) is LoadTestStatus.RUNNING
    third = guard.guard.run_once()[0]
    assert third.acted
    assert status_of(guard, test_id) is LoadTestStatus.STOPPED


@pytest.mark.parametrize(("policy", "stops"), [(NoDataPolicy.IGNORE, False), (NoDataPolicy.STOP, True)])
def test_no_data_follows_its_policy(guarded_pond: LocalPond, guard: Keeper, policy: NoDataPolicy, stops: bool) -> None:
    query = GuardQuery(
        label="e2e-no-data", query="sum(koi_pond_metric_that_does_not_exist)", threshold=1,
        comparator=Comparator.GREATER_THAN, time_range="10s", step="1s", on_no_data=policy,
    )  # fmt: skip
    guard.guard.put_query(query, "e2e")
    test_id = start(guarded_pond, koi=5)
    evaluation = guard.guard.run_once()[0]
    assert evaluation.outcome is Outcome.NO_DATA
    assert (status_of(guard, test_id) is LoadTestStatus.STOPPED) == stops


def test_the_guard_and_the_emergency_stop_never_fight(guarded_pond: LocalPond, guard: Keeper) -> None:
    query = GuardQuery(
        label="e2e-no-data-stop", query="sum(koi_pond_metric_that_does_not_exist)", threshold=1,
        comparator=Comparator.GREATER_THAN, time_range="10s", step="1s", on_no_data=NoDataPolicy.STOP,
    )  # fmt: skip
    guard.guard.put_query(query, "e2e")
    test_id = start(guarded_pond, koi=5)
    guard.estop.activate("e2e", "drill")
    try:
        evaluation = guard.guard.run_once()[0]
        assert not evaluation.acted, "the guard acted while the emergency stop held everything"
    finally:
        guard.estop.lift("e2e", "drill over")
    guard.guard.run_once()
    events = guard.tests.events(test_id)
    assert status_of(guard, test_id) is LoadTestStatus.STOPPED
    assert [e.actor for e in events if e.kind == "test_stopped"] == ["e2e"], "stopped twice, or by the guard"


def test_koipond_guard_once_runs_the_lambda_handler(guarded_pond: LocalPond, guard: Keeper) -> None:
    guard.guard.put_query(
        GuardQuery(label="e2e-cli", query="sum(up)", threshold=0, comparator=Comparator.LESS_THAN,
                   time_range="10s", step="1s"),
        "e2e",
    )  # fmt: skip
    result = run_cli(guarded_pond, "guard", "--once", env_extra=guarded_pond.component_env())
    assert result.returncode == 0, result.stderr
    assert "e2e-cli: " in result.stdout
    with guarded_pond.client() as admin:
        listed = admin.request("GET", "/v1/guard")
    last = {q["query"]["label"]: q["last"] for q in listed["queries"]}["e2e-cli"]
    assert last["outcome"] in {"healthy", "breaching"}
    assert "pond" in listed["clusters"]
