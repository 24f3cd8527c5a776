"""Wire model of a console chart: one series read from Prometheus over a bounded window."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from koipond.services.charts import MAX_POINTS, SERIES_INFO, ChartData


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
