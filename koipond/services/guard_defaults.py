"""The guard queries koipond ships: success rate, p99 latency and websocket connect failures."""

from __future__ import annotations

from koipond import metric_names as mn
from koipond.models.guard import Comparator, GuardQuery

# Rates over 1m windows evaluated every 30 s for 5 minutes: a 5-minute sustained breach stops load.
DEFAULT_QUERIES = (
    GuardQuery(
        label="web-api-success-rate",
        # `or vector(0)`: the failure counter has no series until the first failure.
        query=(
            f"1 - (sum(rate({mn.SCHOOL_WEB_API_CALL_FAILURES_TOTAL}[1m])) or vector(0))"
            f" / sum(rate({mn.SCHOOL_WEB_API_CALLS_TOTAL}[1m]))"
        ),
        time_range="5m",
        step="30s",
        threshold=0.95,
        comparator=Comparator.LESS_THAN,
    ),
    GuardQuery(
        label="web-api-p99-latency",
        query=f"histogram_quantile(0.99, sum by (le) (rate({mn.SCHOOL_WEB_API_CALL_DURATION_SECONDS_BUCKET}[1m])))",
        time_range="5m",
        step="30s",
        threshold=2.0,
        comparator=Comparator.GREATER_THAN,
    ),
    GuardQuery(
        label="websocket-connect-failure-rate",
        query=(
            f"sum(rate({mn.SCHOOL_WEBSOCKET_CONNECT_FAILURES_TOTAL}[1m]))"
            f" / (sum(rate({mn.SCHOOL_WEBSOCKET_CONNECTS_TOTAL}[1m]))"
            f" + sum(rate({mn.SCHOOL_WEBSOCKET_CONNECT_FAILURES_TOTAL}[1m])))"
        ),
        time_range="5m",
        step="30s",
        threshold=0.05,
        comparator=Comparator.GREATER_THAN,
    ),
)
