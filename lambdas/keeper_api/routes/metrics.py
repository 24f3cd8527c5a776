"""Chart data for the console: a fixed set of series read from Prometheus over a bounded window."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from koipond.api.metrics import ChartOut
from koipond.composition import get_keeper
from koipond.services.charts import chart_request
from lambdas.keeper_api.errors import documented
from lambdas.keeper_api.routes.callers import Viewer

router = APIGatewayHttpRouter()


@router.get(
    "/metrics/<series>",
    summary="One chart series (success_rate, latency_p50, latency_p99, koi, websocket_lag_p99) from Prometheus",
    responses=documented(404),
    tags=["metrics"],
)
def chart(
    series: Annotated[str, Path(pattern=r"^[a-z0-9_]{1,40}$", description="One of the known series.")],
    _: Viewer,
    range_: Annotated[str, Query(alias="range", max_length=16, description="How far back, 1m..24h.")] = "1h",
    step: Annotated[str | None, Query(max_length=16, description="Resolution; raised to fit the points cap.")] = None,
    test: Annotated[str | None, Query(max_length=64, description="Only this test (series koi only).")] = None,
) -> ChartOut:
    request = chart_request(series, range_, step, test)
    keeper = get_keeper()
    if request.test is not None:
        keeper.tests.get(request.test)  # the label's values are the stored tests' ids: an unknown one is a 404
    return ChartOut.of(keeper.charts.series(request))
