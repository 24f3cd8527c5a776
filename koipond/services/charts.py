"""Console charts: a fixed set of series whose PromQL the Keeper builds, over a bounded window.

The client names a series, a range and optionally a step and a test; it never sends PromQL. The pure
part here decides the window (range capped at :data:`MAX_RANGE_SECONDS`, step raised so that a chart
never has more than :data:`MAX_POINTS` points) and builds the query; :class:`ChartService` runs it
through the guard's Prometheus reader and turns a failure into :class:`MetricsUnavailableError`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from koipond import envvars
from koipond import metric_names as mn
from koipond.clock import Clock
from koipond.errors import BadRequestError, StoreError
from koipond.models.durations import format_duration, parse_duration
from koipond.models.guard import DEFAULT_CLUSTER
from koipond.prometheus import PrometheusReader

MAX_RANGE_SECONDS = 24 * 3600
MIN_RANGE_SECONDS = 60
MAX_POINTS = 500
MIN_STEP_SECONDS = 1
# A rate over less than a few scrapes is mostly noise (or empty); the pond scrapes every 1-5 s.
MIN_RATE_WINDOW_SECONDS = 30
# Steps people read easily on an axis; a derived step is rounded up to the next one.
NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
TEST_LABEL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
UNREACHABLE = "unreachable"  # MetricsUnavailableError details["reason"] when Prometheus did not answer at all
NOT_CONFIGURED = "not_configured"


class MetricsUnavailableError(StoreError):
    """Prometheus is not configured, unreachable or refused the query (a 503, never a 500)."""

    code = "metrics_unavailable"


class ChartSeries(StrEnum):
    SUCCESS_RATE = "success_rate"
    LATENCY_P50 = "latency_p50"
    LATENCY_P99 = "latency_p99"
    KOI = "koi"
    WEBSOCKET_LAG_P99 = "websocket_lag_p99"


@dataclass(frozen=True)
class SeriesInfo:
    title: str
    unit: str
    per_test: bool  # only series whose metric has the bounded ``test`` label can be filtered by test


SERIES_INFO = {
    ChartSeries.SUCCESS_RATE: SeriesInfo("Success rate", "ratio", per_test=False),
    ChartSeries.LATENCY_P50: SeriesInfo("Latency p50", "seconds", per_test=False),
    ChartSeries.LATENCY_P99: SeriesInfo("Latency p99", "seconds", per_test=False),
    ChartSeries.KOI: SeriesInfo("Koi swimming", "koi", per_test=True),
    ChartSeries.WEBSOCKET_LAG_P99: SeriesInfo("Websocket event lag p99", "seconds", per_test=False),
}


@dataclass(frozen=True)
class ChartWindow:
    range_seconds: int
    step_seconds: int

    @property
    def points(self) -> int:
        """How many samples Prometheus returns at most for this window (both ends included)."""
        return self.range_seconds // self.step_seconds + 1


@dataclass(frozen=True)
class ChartRequest:
    series: ChartSeries
    window: ChartWindow
    test: str | None
    promql: str


@dataclass(frozen=True)
class ChartData:
    request: ChartRequest
    start: datetime
    end: datetime
    points: list[tuple[float, float | None]]  # None: no value at that instant (NaN, e.g. 0/0 without traffic)


def parse_series(name: str) -> ChartSeries:
    """The series called ``name``.

    Raises:
        BadRequestError: not one of the known series (they are listed in the message).
    """
    try:
        return ChartSeries(name)
    except ValueError:
        known = ", ".join(s.value for s in ChartSeries)
        raise BadRequestError(f"unknown series {name!r}; known series: {known}", {"known": known}) from None


def chart_window(range_text: str, step_text: str | None) -> ChartWindow:
    """The bounded window for ``range`` (e.g. ``1h``) and an optional ``step``, raised to fit MAX_POINTS.

    Raises:
        BadRequestError: unparsable, range outside [1m, 24h], or step longer than the range.
    """
    range_seconds = _duration("range", range_text)
    if not MIN_RANGE_SECONDS <= range_seconds <= MAX_RANGE_SECONDS:
        raise BadRequestError(
            f"range {range_text!r} is outside {format_duration(MIN_RANGE_SECONDS)}.."
            f"{format_duration(MAX_RANGE_SECONDS)}"
        )
    asked = _duration("step", step_text) if step_text else 0
    if asked > range_seconds:
        raise BadRequestError(f"step {step_text!r} is longer than the range {range_text!r}")
    return ChartWindow(range_seconds, max(asked, derived_step(range_seconds)))


def derived_step(range_seconds: int) -> int:
    """The smallest nice step that keeps ``range_seconds`` within MAX_POINTS points."""
    # range // step + 1 <= MAX_POINTS  <=>  step > range / MAX_POINTS  <=>  step >= range // MAX_POINTS + 1
    needed = max(MIN_STEP_SECONDS, range_seconds // MAX_POINTS + 1)
    return next((s for s in NICE_STEPS if s >= needed), needed)


def _duration(name: str, text: str) -> int:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise BadRequestError(f"{name}: {exc}") from None
    if seconds <= 0:
        raise BadRequestError(f"{name} must be positive, not {text!r}")
    return seconds


def build_promql(series: ChartSeries, window: ChartWindow, test: str | None) -> str:
    """The query for ``series``; ``test`` has been validated against TEST_LABEL_PATTERN before."""
    rate = f"{max(2 * window.step_seconds, MIN_RATE_WINDOW_SECONDS)}s"
    if series is ChartSeries.SUCCESS_RATE:
        return (
            f"1 - ((sum(rate({mn.SCHOOL_WEB_API_CALL_FAILURES_TOTAL}[{rate}])) or vector(0))"
            f" / sum(rate({mn.SCHOOL_WEB_API_CALLS_TOTAL}[{rate}])))"
        )
    if series is ChartSeries.KOI:
        selector = f'{{test="{test}"}}' if test else ""
        # A School drops a test's series when it stops; while Schools are scraped that reads as 0 koi, and
        # only with no School at all as "no data" (every School exports the unlabelled connections gauge).
        return f"sum({mn.SCHOOL_KOI}{selector}) or on() (0 * count({mn.SCHOOL_WEBSOCKET_CONNECTIONS}))"
    quantile, metric = {
        ChartSeries.LATENCY_P50: ("0.5", mn.SCHOOL_WEB_API_CALL_DURATION_SECONDS_BUCKET),
        ChartSeries.LATENCY_P99: ("0.99", mn.SCHOOL_WEB_API_CALL_DURATION_SECONDS_BUCKET),
        ChartSeries.WEBSOCKET_LAG_P99: ("0.99", mn.SCHOOL_WEBSOCKET_EVENT_LAG_SECONDS_BUCKET),
    }[series]
    return f"histogram_quantile({quantile}, sum by (le) (rate({metric}[{rate}])))"


def chart_request(series_name: str, range_text: str, step_text: str | None, test: str | None) -> ChartRequest:
    """Validate everything the client sent and build the query.

    Raises:
        BadRequestError: unknown series, bad window, malformed test id, or a test filter the series lacks.
    """
    series = parse_series(series_name)
    window = chart_window(range_text, step_text)
    if test is not None:
        if not TEST_LABEL_PATTERN.fullmatch(test):
            raise BadRequestError(f"test {test!r} is not a test id (e.g. lt-0a1b2c3d4e)")
        if not SERIES_INFO[series].per_test:
            raise BadRequestError(f"series {series.value!r} is not recorded per test; omit 'test'")
    return ChartRequest(series, window, test, build_promql(series, window, test))


def chart_points(samples: list[tuple[float, float]]) -> list[tuple[float, float | None]]:
    """Samples as JSON-safe points: NaN and infinities (no traffic, empty histogram) become gaps."""
    return [(at, value if math.isfinite(value) else None) for at, value in samples]


class ChartService:
    """Runs chart queries against the default Prometheus cluster (the guard's)."""

    def __init__(
        self, prometheus: PrometheusReader, clock: Clock, clusters: Collection[str], cluster: str = DEFAULT_CLUSTER
    ) -> None:
        self._prometheus = prometheus
        self._clock = clock
        self._configured = cluster in clusters
        self._cluster = cluster

    def series(self, request: ChartRequest) -> ChartData:
        """The points of ``request`` ending now.

        Raises:
            MetricsUnavailableError: Prometheus is not configured, not reachable or failed the query.
        """
        if not self._configured:
            raise MetricsUnavailableError(
                f"no Prometheus is configured for charts: set {envvars.PROMETHEUS_URL} (or name a {self._cluster!r} "
                f"cluster in {envvars.GUARD_CLUSTERS})",
                {"cluster": self._cluster, "reason": NOT_CONFIGURED},
            )
        end = self._clock.now()
        start = end - timedelta(seconds=request.window.range_seconds)
        result = self._prometheus.range_query(self._cluster, request.promql, start, end, request.window.step_seconds)
        if result.unreachable:
            # Said apart from a refused query: the console shows "Prometheus unreachable", not an empty chart.
            raise MetricsUnavailableError(
                f"{result.error}; no chart can be drawn until it answers",
                {"cluster": self._cluster, "reason": UNREACHABLE},
            )
        if result.error is not None:
            raise MetricsUnavailableError(f"metrics are unavailable: {result.error}", {"cluster": self._cluster})
        points = chart_points([(s.at, s.value) for s in result.samples])
        return ChartData(request, start, end, points)
