"""Measuring a deploy's windows: the PromQL the Keeper builds (never a client's) and what its answers mean.

Each window ``[end - seconds, end)`` is measured with instant queries evaluated at ``end`` over a range of
``seconds`` (``increase(x[Ns])`` at time ``end`` reads the samples in ``(end - N s, end]``), so the windows
are explicit times, not "the last N minutes" of whenever the tick happens to run.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from koipond import metric_names as mn
from koipond.errors import PrometheusQueryError
from koipond.models.deploys import SliKind, SliSettings
from koipond.models.prometheus import VectorResult
from koipond.services.deploy_verdict import MethodMeasurement, WindowMeasurements

CALLS = mn.SCHOOL_WEB_API_CALLS_TOTAL
DURATION_BUCKETS = mn.SCHOOL_WEB_API_CALL_DURATION_SECONDS_BUCKET
LAG_BUCKETS = mn.SCHOOL_WEBSOCKET_EVENT_LAG_SECONDS_BUCKET
LAG_COUNT = mn.SCHOOL_WEBSOCKET_EVENT_LAG_SECONDS_COUNT
OK_STATUS = mn.OK_STATUS  # every other status is a failure
_QUANTILES = {SliKind.LATENCY_P50: 0.5, SliKind.LATENCY_P99: 0.99}


class VectorReader(Protocol):
    def instant_vector(self, cluster: str, query: str, at: datetime) -> VectorResult:
        """Every series ``query`` yields evaluated at ``at``."""
        ...


def promql_string(value: str) -> str:
    """``value`` as a PromQL double-quoted string literal (escapes as in Go, so no value can end the literal)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def selector(metric: str, matchers: Mapping[str, str]) -> str:
    """``metric{a="x",b="y"}``; label names are validated by :class:`~koipond.models.deploys.SliSettings`."""
    inside = ",".join(f"{name}={promql_string(value)}" for name, value in sorted(matchers.items()))
    return f"{metric}{{{inside}}}" if inside else metric


def calls_query(matchers: Mapping[str, str], seconds: int) -> str:
    return f"sum by (method, status) (increase({selector(CALLS, matchers)}[{seconds}s]))"


def latency_query(quantile: float, matchers: Mapping[str, str], seconds: int) -> str:
    buckets = selector(DURATION_BUCKETS, matchers)
    return f"histogram_quantile({quantile}, sum by (method, le) (increase({buckets}[{seconds}s])))"


def lag_quantile_query(matchers: Mapping[str, str], seconds: int) -> str:
    return f"histogram_quantile(0.99, sum by (le) (increase({selector(LAG_BUCKETS, matchers)}[{seconds}s])))"


def lag_count_query(matchers: Mapping[str, str], seconds: int) -> str:
    return f"sum(increase({selector(LAG_COUNT, matchers)}[{seconds}s]))"


def measure_window(reader: VectorReader, settings: SliSettings, end: datetime, seconds: int) -> WindowMeasurements:
    """Measure the window ``[end - seconds, end)`` with the queries the enabled SLIs need.

    Raises:
        PrometheusQueryError: Prometheus could not be read (down, refused a query, unknown cluster).
    """
    enabled = {rule.kind for rule in settings.effective_rules() if rule.enabled}
    read = _Reader(reader, settings.cluster, end)
    m = settings.matchers
    calls = read(calls_query(m, seconds))
    quantiles = {
        kind: by_method(read(latency_query(q, m, seconds))) for kind, q in _QUANTILES.items() if kind in enabled
    }
    methods = _methods(calls, quantiles)
    if SliKind.WEBSOCKET_LAG_P99 not in enabled:
        return WindowMeasurements(methods=methods)
    return WindowMeasurements(
        methods=methods,
        lag_samples=_single(read(lag_count_query(m, seconds)), default=0.0),
        lag_p99=_single(read(lag_quantile_query(m, seconds)), default=math.nan),
    )


class _Reader:
    def __init__(self, reader: VectorReader, cluster: str, at: datetime) -> None:
        self._reader, self._cluster, self._at = reader, cluster, at

    def __call__(self, query: str) -> VectorResult:
        result = self._reader.instant_vector(self._cluster, query, self._at)
        if result.error is not None:
            raise PrometheusQueryError(result.error, {"query": query})
        return result


def by_method(result: VectorResult) -> dict[str, float]:
    return {s.labels["method"]: s.value for s in result.series if "method" in s.labels}


def _methods(calls: VectorResult, quantiles: Mapping[SliKind, dict[str, float]]) -> dict[str, MethodMeasurement]:
    totals: dict[str, float] = defaultdict(float)
    ok: dict[str, float] = defaultdict(float)
    for sample in calls.series:
        method = sample.labels.get("method")
        if method is None or math.isnan(sample.value):
            continue
        totals[method] += sample.value
        if sample.labels.get("status") == OK_STATUS:
            ok[method] += sample.value
    p50 = quantiles.get(SliKind.LATENCY_P50, {})
    p99 = quantiles.get(SliKind.LATENCY_P99, {})
    return {
        method: MethodMeasurement(
            calls=total, ok_calls=ok[method], p50=p50.get(method, math.nan), p99=p99.get(method, math.nan)
        )
        for method, total in totals.items()
    }


def _single(result: VectorResult, default: float) -> float:
    """The value of an aggregated query's one series; ``default`` when there is none (no such metric yet)."""
    return result.series[0].value if result.series else default
