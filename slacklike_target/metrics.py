"""The target's Prometheus metrics, in a registry of its own (never the process-global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from koipond import metric_names as mn
from slacklike_target.wire import INJECTED_ERRORS, KNOWN_METHODS, ErrorCode

OTHER = "other"
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
EVENT_TYPES = ("hello", "message", "reaction_added", "pong")
_KNOWN = frozenset(KNOWN_METHODS)


def method_label(method: str) -> str:
    """The ``method`` label: a known method name, else ``other`` (callers choose the path, not the labels)."""
    return method if method in _KNOWN else OTHER


def status_label(http_status: int, error: ErrorCode | None) -> str:
    """The ``status`` label: the Slack error code when there is one, else (and for injected faults) the HTTP status."""
    if error is None or error in INJECTED_ERRORS:
        return str(http_status)
    return error.value


class TargetMetrics:
    """Counters and histograms of one target; label values are bounded by construction."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            mn.TARGET_REQUESTS,
            "Web API calls and websocket upgrades, by method and status (HTTP status or Slack error code).",
            [mn.METHOD_LABEL, mn.STATUS_LABEL],
            registry=self.registry,
        )
        self.request_duration = Histogram(
            mn.TARGET_REQUEST_DURATION_SECONDS,
            "Time to answer a Web API call or websocket upgrade, injected latency included.",
            [mn.METHOD_LABEL],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.websocket_connections = Gauge(
            mn.TARGET_WEBSOCKET_CONNECTIONS, "Open websocket connections.", registry=self.registry
        )
        self.events_sent = Counter(
            mn.TARGET_WEBSOCKET_EVENTS_SENT,
            "Websocket events written, by event type.",
            [mn.TYPE_LABEL],
            registry=self.registry,
        )
        self.events_dropped = Counter(
            mn.TARGET_WEBSOCKET_EVENTS_DROPPED,
            "Fan-out events not sent because the client's send buffer was full (a slow reader).",
            registry=self.registry,
        )
        self.faults_injected = Counter(
            mn.TARGET_FAULTS_INJECTED,
            "Injected faults, by method and kind (error, latency, websocket_reset).",
            [mn.METHOD_LABEL, mn.KIND_LABEL],
            registry=self.registry,
        )
        self.history_reaction_entries = Counter(
            mn.TARGET_HISTORY_REACTION_ENTRIES_VISITED,
            "Reaction user entries visited building conversations.history answers (their CPU cost).",
            registry=self.registry,
        )

    def observe_request(self, method: str, status: str, seconds: float) -> None:
        label = method_label(method)
        self.requests.labels(label, status).inc()
        self.request_duration.labels(label).observe(seconds)

    def event_sent(self, event_type: str, count: int = 1) -> None:
        if count:
            self.events_sent.labels(event_type if event_type in EVENT_TYPES else OTHER).inc(count)

    def fault_injected(self, method: str, kind: str, count: int = 1) -> None:
        self.faults_injected.labels(method_label(method), kind).inc(count)

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)
