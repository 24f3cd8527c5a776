"""``koipond run``'s metrics: a School's metrics that also keep per-action counts and latency digests."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from prometheus_client import generate_latest

from koipond import metric_names as mn
from koipond.models.behavior import BehaviorDocument
from koipond.models.run_stats import RunStats
from koipond_cli.run_engine import RunPace, RunPlan, run_load
from koipond_cli.run_metrics import JOIN_LABEL, RunMetrics, action_labels
from school_container.file_tokens import FileTokenSource
from school_container.web_api import CallOutcome
from school_container.websocket import KoiSocket, OnMessage


def behavior(**actions: dict[str, object]) -> BehaviorDocument:
    return BehaviorDocument.model_validate({"schema_version": 1, "description": "unit", "actions": actions})


def test_calls_are_counted_per_action_by_status_with_their_latencies() -> None:
    metrics = RunMetrics()
    for seconds in (0.010, 0.020, 0.030):
        metrics.record_call("post", mn.OK_STATUS, seconds)
    metrics.record_call("post", "http_5xx", 0.5)
    metrics.record_call("read", mn.OK_STATUS, 0.001)
    stats = metrics.snapshot(elapsed_seconds=2.0, koi=3)
    post = stats.actions["post"]
    assert (post.requests, post.failures, dict(post.statuses)) == (4, 1, {"http_5xx": 1, "ok": 3})
    assert post.latency.max == 0.5
    assert post.latency.p50 == pytest.approx(0.020, rel=0.01)
    assert stats.total.requests == 5
    assert stats.total.failures == 1
    assert stats.total.latency.count == 5
    assert (stats.elapsed_seconds, stats.koi) == (2.0, 3)
    assert stats.rate("post") == 2.0


def test_the_prometheus_series_are_still_counted() -> None:
    metrics = RunMetrics()
    metrics.record_call("post", mn.OK_STATUS, 0.01)
    metrics.record_call("post", "timeout", 10.0)
    registry = metrics.registry
    assert registry.get_sample_value(mn.SCHOOL_WEB_API_CALLS_TOTAL, {"method": "post", "status": "ok"}) == 1
    assert registry.get_sample_value(mn.SCHOOL_WEB_API_CALL_FAILURES_TOTAL, {"method": "post"}) == 1
    assert mn.SCHOOL_WEB_API_CALLS_TOTAL in generate_latest(registry).decode()


def test_websocket_lag_and_schedule_lag_feed_both_the_histogram_and_the_digest() -> None:
    metrics = RunMetrics()
    metrics.ws_lag.observe(0.004)
    metrics.ws_lag.observe(0.2)
    metrics.schedule_lag.observe(0.001)
    stats = metrics.snapshot(1.0, 1)
    assert stats.ws_lag.count == 2
    assert stats.ws_lag.max == 0.2
    assert stats.schedule_lag.count == 1
    assert metrics.registry.get_sample_value(mn.SCHOOL_WEBSOCKET_EVENT_LAG_SECONDS_COUNT) == 2
    assert metrics.registry.get_sample_value(mn.SCHOOL_SCHEDULE_LAG_SECONDS + "_count") == 1


def test_websocket_counters_come_from_the_school_metrics() -> None:
    metrics = RunMetrics()
    metrics.ws_connects.inc(3)
    metrics.ws_connect_failures.inc()
    metrics.ws_disconnects.inc(2)
    metrics.ws_connections.inc(3)
    metrics.ws_connections.dec()
    metrics.ws_event("message").inc(5)
    metrics.ws_event("hello").inc(3)
    stats = metrics.snapshot(1.0, 3)
    assert (stats.ws_connects, stats.ws_connect_failures, stats.ws_disconnects) == (3, 1, 2)
    assert (stats.ws_open, stats.ws_events) == (2, 8)


def test_skipped_actions_are_counted_per_action_and_in_all() -> None:
    metrics = RunMetrics(["react"])
    metrics.skipped.labels(metrics.method_label("react")).inc()
    metrics.skipped.labels(metrics.method_label("react")).inc()
    stats = metrics.snapshot(1.0, 1)
    assert stats.actions["react"].skipped == 2
    assert stats.actions["react"].requests == 0
    assert stats.total.skipped == 2


def test_labels_given_up_front_show_with_no_calls() -> None:
    stats = RunMetrics(["b", "a"]).snapshot(0.0, 0)
    assert list(stats.actions) == ["a", "b"]
    assert stats.actions["a"].requests == 0
    assert stats.actions["a"].success_rate is None
    assert stats.ws_lag.p99 is None


def test_action_labels_are_the_join_then_each_actions_metric_label() -> None:
    document = behavior(
        post={"method": "POST", "path": "/api/chat.postMessage", "rate_per_hour": 1, "name_for_metrics": "chat.post"},
        read={"method": "GET", "path": "/api/conversations.history", "rate_per_hour": 1},
    )
    assert action_labels(document) == [JOIN_LABEL, "chat.post", "read"]


def test_a_plan_is_one_order_for_koi_0_to_koi_minus_1() -> None:
    document = behavior(read={"method": "GET", "path": "/api/auth.test", "rate_per_hour": 1})
    plan = RunPlan("run-1", "mine", document, "http://127.0.0.1:8800", "T-run", 7, 60, 6)
    order = plan.order()
    assert order.test_id == "run-1"
    assert order.ranges == ((0, 7),)
    assert order.runnable
    assert order.spec is not None
    assert (order.spec.target, order.spec.workspace, order.spec.behavior.name) == (
        "http://127.0.0.1:8800",
        "T-run",
        "mine",
    )


class FlakyApi:
    """Answers every call at once, ok, except the first, which raises as a bug in a koi would."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def call(
        self, method: str, url: str, token: str, params: Mapping[str, str] | None, body: Any | None
    ) -> CallOutcome:
        self.calls.append(url)
        if len(self.calls) == 1:
            raise RuntimeError("a bug")
        return CallOutcome(mn.OK_STATUS, 200, {"ok": True})

    async def open_websocket(self, url: str, token: str, heartbeat: float, on_message: OnMessage) -> KoiSocket:
        raise NotImplementedError

    async def close(self) -> None:
        return None


def test_a_run_measures_the_koi_and_restarts_one_that_crashed_at_the_next_apply() -> None:
    document = BehaviorDocument.model_validate(
        {
            "description": "busy",
            "actions": {"ping": {"method": "GET", "path": "/api/ping", "rate_per_hour": 36_000}},
            "websocket": {"enabled": False},
            "channels": {"count_per_koi": 0},
        }
    )
    plan = RunPlan("run-unit", "busy", document, "http://target", "T-run", koi=3, duration_seconds=0.6, ramp_seconds=0)
    api, ticks = FlakyApi(), list[RunStats]()
    tokens = FileTokenSource({i: f"tok-{i}" for i in range(3)})
    outcome = asyncio.run(
        run_load(plan, tokens, ticks.append, web_api=api, pace=RunPace(tick_seconds=0.1, apply_every_seconds=0.2))
    )
    assert not outcome.stopped_early
    assert outcome.stats.elapsed_seconds == pytest.approx(0.6)
    assert sum(url.endswith("/api/conversations.join") for url in api.calls) == 4  # one koi crashed on its join...
    assert outcome.stats.actions[JOIN_LABEL].requests == 3  # ...and joined when started again
    assert outcome.stats.actions["ping"].requests > 3
    assert outcome.stats.total.failures == 0
    assert len(ticks) >= 5
    assert max(t.koi for t in ticks) == 3
    assert outcome.stats.koi == 0  # every koi stopped
