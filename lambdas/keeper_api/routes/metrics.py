"""Chart data for the console: a fixed set of series read from Prometheus over a bounded window."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, Field

from koipond.composition import get_keeper
from koipond.models.auth import Principal
from koipond.services.charts import MAX_POINTS, SERIES_INFO, ChartData, chart_request
from lambdas.keeper_api import auth
from lambdas.keeper_api.errors import documented

router = APIGatewayHttpRouter()


class ChartOut(BaseModel):
    series: str
    title: str
    unit: str = Field(description="ratio, seconds or koi.")
    test: str | None
    query: str = Field(description="The PromQL the Keeper ran (built by the Keeper, never taken from the client).")
    start: datetime
    end: datetime
    step_seconds: int
    points: list[tuple[float, float | None]] = Field(
        description=f"[unix seconds, value]; null where there was no value; at most {MAX_POINTS}; [] for no data."
    )

    @classmethod
    def of(cls, data: ChartData) -> ChartOut:
        request = data.request
        info = SERIES_INFO[request.series]
        return cls(
            series=request.series.value,
            title=info.title,
            unit=info.unit,
            test=request.test,
            query=request.promql,
            start=data.start,
            end=data.end,
            step_seconds=request.window.step_seconds,
            points=data.points,
        )


@router.get(
    "/metrics/<series>",
    summary="One chart series (success_rate, latency_p50, latency_p99, koi, websocket_lag_p99) from Prometheus",
    responses=documented(404),
    tags=["metrics"],
)
def chart(
    series: Annotated[str, Path(pattern=r"^[a-z0-9_]{1,40}$", description="One of the known series.")],
    _: Annotated[Principal, Depends(auth.viewer)],
    range_: Annotated[str, Query(alias="range", max_length=16, description="How far back, 1m..24h.")] = "1h",
    step: Annotated[str | None, Query(max_length=16, description="Resolution; raised to fit the points cap.")] = None,
    test: Annotated[str | None, Query(max_length=64, description="Only this test (series koi only).")] = None,
) -> ChartOut:
    request = chart_request(series, range_, step, test)
    keeper = get_keeper()
    if request.test is not None:
        keeper.tests.get(request.test)  # the label's values are the stored tests' ids: an unknown one is a 404
    return ChartOut.of(keeper.charts.series(request))
