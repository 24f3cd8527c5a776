"""Console charts: the window is always bounded, the PromQL is always the Keeper's own."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from koipond.errors import BadRequestError
from koipond.services.charts import (
    MAX_POINTS,
    MAX_RANGE_SECONDS,
    MIN_RANGE_SECONDS,
    ChartSeries,
    ChartService,
    MetricsUnavailableError,
    chart_points,
    chart_request,
    chart_window,
    derived_step,
)
from koipond.services.guard_evaluation import QueryResult, Sample

ranges = st.integers(min_value=MIN_RANGE_SECONDS, max_value=MAX_RANGE_SECONDS)


@given(ranges, st.one_of(st.none(), st.integers(min_value=1, max_value=MAX_RANGE_SECONDS)))
def test_a_window_never_exceeds_the_points_cap(range_seconds: int, step: int | None) -> None:
    if step is not None and step > range_seconds:
        step = range_seconds
    window = chart_window(f"{range_seconds}s", f"{step}s" if step else None)
    assert window.range_seconds == range_seconds
    assert window.points <= MAX_POINTS
    assert window.step_seconds >= (step or 1)


@given(ranges)
def test_the_derived_step_is_the_finest_that_fits(range_seconds: int) -> None:
    step = derived_step(range_seconds)
    assert range_seconds // step + 1 <= MAX_POINTS
    finer = [s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300) if s < step]
    assert all(range_seconds // s + 1 > MAX_POINTS for s in finer)


@given(st.integers(min_value=MAX_RANGE_SECONDS + 1, max_value=10 * MAX_RANGE_SECONDS))
def test_a_range_over_a_day_is_refused(range_seconds: int) -> None:
    with pytest.raises(BadRequestError, match="outside"):
        chart_window(f"{range_seconds}s", None)


@pytest.mark.parametrize("text", ["", "abc", "1h; drop", "-5m", "0s", "30s"])
def test_an_unusable_range_is_refused(text: str) -> None:
    with pytest.raises(BadRequestError):
        chart_window(text, None)


def test_a_step_longer_than_the_range_is_refused() -> None:
    with pytest.raises(BadRequestError, match="longer than the range"):
        chart_window("5m", "10m")


@given(st.text(max_size=40))
def test_only_known_series_are_accepted(name: str) -> None:
    known = {s.value for s in ChartSeries}
    if name in known:
        assert chart_request(name, "1h", None, None).series.value == name
    else:
        with pytest.raises(BadRequestError, match="unknown series"):
            chart_request(name, "1h", None, None)


@given(st.text(min_size=1, max_size=80))
def test_a_test_filter_cannot_inject_promql(test: str) -> None:
    try:
        request = chart_request("koi", "1h", None, test)
    except BadRequestError:
        return
    assert request.promql.startswith(f'sum(koi_pond_school_koi{{test="{test}"}}) or on() ')
    assert all(c.isalnum() or c == "-" for c in test)


def test_only_the_koi_series_can_be_filtered_by_test() -> None:
    with pytest.raises(BadRequestError, match="not recorded per test"):
        chart_request("latency_p99", "1h", None, "lt-0123456789")


@pytest.mark.parametrize(
    ("series", "metric"),
    [
        ("success_rate", "koi_pond_school_web_api_calls_total"),
        ("latency_p50", "koi_pond_school_web_api_call_duration_seconds_bucket"),
        ("latency_p99", "koi_pond_school_web_api_call_duration_seconds_bucket"),
        ("websocket_lag_p99", "koi_pond_school_websocket_event_lag_seconds_bucket"),
    ],
)
def test_each_series_reads_its_school_metric_as_one_aggregated_series(series: str, metric: str) -> None:
    promql = chart_request(series, "1h", None, None).promql
    assert metric in promql
    assert "sum" in promql


@given(st.lists(st.tuples(st.floats(0, 2e9), st.floats(allow_nan=True, allow_infinity=True)), max_size=50))
def test_points_are_json_safe_with_gaps_for_unknown_values(samples: list[tuple[float, float]]) -> None:
    points = chart_points(samples)
    assert [t for t, _ in points] == [t for t, _ in samples]
    for (_, original), (_, value) in zip(samples, points, strict=True):
        assert value == (original if math.isfinite(original) else None)


class RecordingReader:
    def __init__(self, result: QueryResult) -> None:
        self.result = result
        self.calls: list[tuple[str, str, datetime, datetime, int]] = []

    def range_query(self, cluster: str, query: str, start: datetime, end: datetime, step_seconds: int) -> QueryResult:
        self.calls.append((cluster, query, start, end, step_seconds))
        return self.result


class StillClock:
    def now(self) -> datetime:
        return datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_the_service_queries_the_window_ending_now() -> None:
    reader = RecordingReader(QueryResult(samples=(Sample(1.0, 5.0), Sample(2.0, math.nan))))
    data = ChartService(reader, StillClock(), {"pond"}).series(chart_request("koi", "15m", None, None))
    cluster, query, start, end, step = reader.calls[0]
    assert cluster == "pond"
    assert query.startswith("sum(koi_pond_school_koi) or on() ")
    assert (end - start).total_seconds() == 900
    assert step == data.request.window.step_seconds
    assert data.points == [(1.0, 5.0), (2.0, None)]


def test_a_failed_query_is_metrics_unavailable_not_empty() -> None:
    reader = RecordingReader(QueryResult(error="Prometheus pond failed: ConnectionError: refused"))
    with pytest.raises(MetricsUnavailableError, match="refused"):
        ChartService(reader, StillClock(), {"pond"}).series(chart_request("koi", "1h", None, None))


def test_without_a_configured_prometheus_the_service_says_which_setting_is_missing() -> None:
    reader = RecordingReader(QueryResult())
    with pytest.raises(MetricsUnavailableError, match="KOIPOND_PROMETHEUS_URL"):
        ChartService(reader, StillClock(), {"other"}).series(chart_request("koi", "1h", None, None))
    assert reader.calls == []
