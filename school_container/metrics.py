"""The School's Prometheus metrics (names from DESIGN.md), in their own registry, labels bounded."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

from koipond import metric_names as mn
from school_container.lockfree_metrics import LockFreeCounter, LockFreeHistogram

# Latency buckets from 5 ms to 30 s: koi latencies are measured from the scheduled time, so a
# saturated target shows up as long tails here rather than as fewer requests.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
STATUSES = mn.CALL_STATUSES
MAX_METHODS = 200
# Websocket event types counted by name; any other type counts as "other", unparsable ones as "malformed".
EVENT_TYPES = frozenset({"hello", "message", "reaction_added", "malformed"})


def _per_call_families() -> tuple[Any, Any]:
    """The counter and histogram classes of the metrics counted on every call and event.

    Lock-free ones (``lockfree_metrics``, the same samples) unless prometheus_client runs in
    multiprocess mode, whose values live in shared files only its own classes write.
    """
    if values.ValueClass is values.MutexValue:
        return LockFreeCounter, LockFreeHistogram
    return Counter, Histogram


class SchoolMetrics:
    """Every metric a School exports; one instance per process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        fast_counter, fast_histogram = _per_call_families()
        self.calls = fast_counter(
            mn.SCHOOL_WEB_API_CALLS,
            "Web API calls by method and outcome.",
            [mn.METHOD_LABEL, mn.STATUS_LABEL],
            registry=r,
        )
        self.failures = fast_counter(
            mn.SCHOOL_WEB_API_CALL_FAILURES, "Web API calls that did not succeed.", [mn.METHOD_LABEL], registry=r
        )
        self.duration = fast_histogram(
            mn.SCHOOL_WEB_API_CALL_DURATION_SECONDS,
            "Web API call latency, from the call's scheduled time to its answer.",
            [mn.METHOD_LABEL],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ws_connects = Counter(mn.SCHOOL_WEBSOCKET_CONNECTS, "Websocket connections opened.", registry=r)
        self.ws_connect_failures = Counter(
            mn.SCHOOL_WEBSOCKET_CONNECT_FAILURES, "Websocket connections that failed to open.", registry=r
        )
        self.ws_disconnects = Counter(
            mn.SCHOOL_WEBSOCKET_DISCONNECTS, "Websockets closed by the target or the network.", registry=r
        )
        self.ws_connections = Gauge(mn.SCHOOL_WEBSOCKET_CONNECTIONS, "Open websockets.", registry=r)
        self.ws_events = fast_counter(
            mn.SCHOOL_WEBSOCKET_EVENTS, "Websocket events received, by type.", [mn.TYPE_LABEL], registry=r
        )
        self.ws_lag = fast_histogram(
            mn.SCHOOL_WEBSOCKET_EVENT_LAG_SECONDS,
            "End-to-end lag of message events: a koi's send to another koi's receipt.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.koi = Gauge(mn.SCHOOL_KOI, "Koi swimming, by test.", [mn.TEST_LABEL], registry=r)
        self.schedule_lag = fast_histogram(
            mn.SCHOOL_SCHEDULE_LAG_SECONDS,
            "How late actions start relative to their scheduled time (the School's own overload).",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.polls = Counter(mn.SCHOOL_KEEPER_POLLS, "Keeper polls by outcome.", [mn.OUTCOME_LABEL], registry=r)
        self.skipped = Counter(
            mn.SCHOOL_ACTIONS_SKIPPED, "Actions skipped (e.g. nothing to react to yet).", [mn.METHOD_LABEL], registry=r
        )
        self.koi_crashes = Counter(
            mn.SCHOOL_KOI_CRASHES, "Koi that ended on their own (restarted at the next poll).", registry=r
        )
        self._methods: set[str] = set()
        self._call_children: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
        self._event_children: dict[str, Any] = {}

    def ws_event(self, kind: object) -> Any:
        """The ``ws_events`` child of an event type (bounded to EVENT_TYPES and "other"), looked up once."""
        label = kind if isinstance(kind, str) and kind in EVENT_TYPES else "other"
        child = self._event_children.get(label)
        if child is None:
            child = self._event_children[label] = self.ws_events.labels(label)
        return child

    def method_label(self, method: str) -> str:
        """``method``, or ``other`` once MAX_METHODS distinct ones were seen."""
        if method in self._methods:
            return method
        if len(self._methods) >= MAX_METHODS:
            return "other"
        self._methods.add(method)
        return method

    def record_call(self, method: str, status: str, seconds: float) -> None:
        """Count one call of ``method`` that ended as ``status``, ``seconds`` after it was scheduled."""
        # Label children are looked up once per (method, status): `.labels()` on every call cost a
        # noticeable share of a koi's per-call work at thousands of calls a second.
        key = (method, status)
        children = self._call_children.get(key)
        if children is None:
            label = self.method_label(method)
            failure = self.failures.labels(label) if status != mn.OK_STATUS else None
            children = (self.calls.labels(label, status), failure, self.duration.labels(label))
            self._call_children[key] = children
        calls, failures, duration = children
        calls.inc()
        if failures is not None:
            failures.inc()
        duration.observe(seconds)
