"""The console's chart data when Prometheus stops: a 503 that says "unreachable", never a 500 or an empty chart.

A real Prometheus answers first, then is stopped under the Keeper. The page side (one alert for the
page, "Prometheus unreachable" on every card) is driven in Chromium by
``tests/browser/test_console_prometheus_down.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from koipond.composition import Keeper
from koipond.services.charts import ChartSeries, MetricsUnavailableError, chart_request
from koipond.settings import Settings
from local_pond.processes import PondProcess
from tests.conftest import ADMIN_TOKEN, Api
from tests.integration.idle_prometheus import idle_prometheus, url_of


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[PondProcess]:
    with idle_prometheus(tmp_path) as process:
        yield process


@pytest.fixture
def settings(prometheus: PondProcess) -> Settings:
    url = url_of(prometheus)
    return Settings(admin_token=ADMIN_TOKEN, table_name="koipond-test", prometheus_url=url, guard_timeout_seconds=2)


def test_every_chart_says_prometheus_is_unreachable_once_it_stops(api: Api, prometheus: PondProcess) -> None:
    before = api.get("/v1/metrics/success_rate?range=15m")
    assert before.status == 200, before.body  # answering: no traffic yet is an empty series, and that is true

    prometheus.stop()

    for series in ChartSeries:
        response = api.get(f"/v1/metrics/{series.value}?range=15m")
        assert (response.status, response.error_code) == (503, "metrics_unavailable"), response.body
        error = response.body["error"]
        assert error["details"] == {"cluster": "pond", "reason": "unreachable"}
        assert error["message"] == (
            "Prometheus pond is unreachable: [Errno 111] Connection refused; no chart can be drawn until it answers"
        )


def test_a_prometheus_that_refuses_a_query_is_not_called_unreachable(keeper: Keeper) -> None:
    # A 400 from Prometheus is Prometheus speaking: the chart says why, without the unreachable state.
    request = chart_request("koi", "15m", None, None)

    with pytest.raises(MetricsUnavailableError) as raised:
        keeper.charts.series(replace(request, promql="sum("))

    assert raised.value.details == {"cluster": "pond"}
    assert "unreachable" not in str(raised.value)
    assert "parse error" in str(raised.value)
