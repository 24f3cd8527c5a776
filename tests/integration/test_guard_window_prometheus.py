"""The guard's window on a real Prometheus: the query's start reaches it to the millisecond (issue 15).

PromQL's ``time()`` makes the breach begin at a chosen instant without scraping anything: the query
``time() >= bool T0`` is 1 (breaching ``> 0.5``) from ``T0`` on, at any evaluation time, past ones too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from koipond.clock import FixedClock
from koipond.composition import Keeper
from koipond.models.guard import Comparator, GuardQuery, Outcome, PrometheusCluster
from koipond.models.tests import LoadTestStatus
from koipond.prometheus import ApiClientPrometheusReader
from koipond.services.guard_evaluation import micros
from koipond.settings import Settings
from tests.conftest import ADMIN_TOKEN, Api, new_test_body
from tests.integration.idle_prometheus import idle_prometheus, url_of

# The numbers, moved to a recent whole second: a breach from T0, the guard at T0 + 25.4 s and 30 s.
T0 = datetime(2026, 12, 1, 12, 0, 5, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with idle_prometheus(tmp_path_factory.mktemp("prometheus")) as process:
        yield url_of(process)


@pytest.fixture
def settings(prometheus_url: str) -> Settings:
    return Settings(admin_token=ADMIN_TOKEN, table_name="koipond-test", prometheus_url=prometheus_url)


def breach_from_t0(label: str = "breach-from-t0") -> GuardQuery:
    return GuardQuery(
        label=label,
        query=f"time() >= bool {T0.timestamp():.0f}",
        time_range="30s",
        step="5s",
        threshold=0.5,
        comparator=Comparator.GREATER_THAN,
    )


def test_the_range_query_returns_a_sample_exactly_on_a_sub_second_start(prometheus_url: str) -> None:
    reader = ApiClientPrometheusReader({"pond": PrometheusCluster(url=prometheus_url)}, timeout_seconds=5)
    end = T0 + timedelta(seconds=25, milliseconds=412)
    start = end - timedelta(seconds=30)

    result = reader.range_query("pond", "time()", start, end, 5)

    assert result.error is None
    assert [micros(s.at) for s in result.samples] == [
        (start - EPOCH) // timedelta(microseconds=1) + k * 5_000_000 for k in range(7)
    ]
    assert [s.value for s in result.samples] == [s.at for s in result.samples]  # Prometheus evaluated there


def test_the_guard_does_not_stop_a_test_before_the_breach_lasted_the_whole_window(
    api: Api, keeper: Keeper, clock: FixedClock
) -> None:
    test_id = api.post("/v1/tests", new_test_body()).body["id"]
    keeper.guard.ensure_defaults()
    for query in keeper.guard.status().queries:
        keeper.guard.delete_query(query.label, "test")
    keeper.guard.put_query(breach_from_t0(), "test")

    clock.advance((T0 + timedelta(seconds=25.4) - clock.now()).total_seconds())  # the now=1000.4
    early = keeper.guard.run_once()[0]
    assert early.outcome is Outcome.HEALTHY, early.detail  # the sample at T0 - 4.6 s opens the window
    clock.advance(4.5)  # T0 + 29.9 s: 29.9 s of breach
    almost = keeper.guard.run_once()[0]
    assert almost.outcome is Outcome.HEALTHY, almost.detail
    assert keeper.tests.get(test_id).status is LoadTestStatus.RUNNING

    clock.advance(0.1)  # T0 + 30 s: the breach has lasted the whole window
    sustained = keeper.guard.run_once()[0]

    assert (sustained.outcome, sustained.acted) == (Outcome.BREACH, True), sustained.detail
    assert keeper.tests.get(test_id).status is LoadTestStatus.STOPPED
