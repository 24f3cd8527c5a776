"""The guard queries koipond ships: success rate, p99 latency and websocket connect failures."""

from __future__ import annotations

from koipond.models.guard import Comparator, GuardQuery

# Rates over 1m windows evaluated every 30 s for 5 minutes: a 5-minute sustained breach stops load.
DEFAULT_QUERIES = (
    GuardQuery(
        label="web-api-success-rate",
        # `or vector(0)`: the failure counter has no series until the first failure.
        query=(
            "1 - (sum(rate(koi_pond_school_web_api_call_failures_total[1m])) or vector(0))"
            " / sum(rate(koi_pond_school_web_api_calls_total[1m]))"
        ),
        time_range="5m",
        step="30s",
        threshold=0.95,
        comparator=Comparator.LESS_THAN,
    ),
    GuardQuery(
        label="web-api-p99-latency",
        query="histogram_quantile(0.99, sum by (le) (rate(koi_pond_school_web_api_call_duration_seconds_bucket[1m])))",
        time_range="5m",
        step="30s",
        threshold=2.0,
        comparator=Comparator.GREATER_THAN,
    ),
    GuardQuery(
        label="websocket-connect-failure-rate",
        query=(
            "sum(rate(koi_pond_school_websocket_connect_failures_total[1m]))"
            " / (sum(rate(koi_pond_school_websocket_connects_total[1m]))"
            " + sum(rate(koi_pond_school_websocket_connect_failures_total[1m])))"
        ),
        time_range="5m",
        step="30s",
        threshold=0.05,
        comparator=Comparator.GREATER_THAN,
    ),
)
