"""Judging deploys on the release tick, against a local HTTP server speaking Prometheus' query API.

The server is a fake of Prometheus' HTTP API (``/api/v1/query``) with canned measurements per window;
the real Prometheus is exercised by ``tests/e2e/test_deploy_gate.py``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from koipond.clock import FixedClock
from koipond.models.deploys import DeployStatus, VerdictOutcome
from koipond.models.history import EventKind
from koipond.notifications.intents import plan_notifications
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.store import DynamoNotificationRepository, intent_index_keys
from koipond.prometheus import ApiClientPrometheusReader
from koipond.services.deploys import DeployService, NewDeploy
from koipond.settings import Settings, guard_clusters
from koipond.store.deploys import DynamoDeployRepository
from koipond.store.history import DynamoHistoryRepository
from koipond.store.table import DynamoTable
from tests.conftest import START

AT = START - timedelta(seconds=60)  # soak ends 40 s before START: due once the 5 s settle time has passed
SETTLE_SECONDS = 5
DEADLINE_SECONDS = 120


@dataclass
class Window:
    calls: float = 1000
    ok: float = 1000
    p50: float = 0.02
    p99: float = 0.2
    lag_samples: float = 500
    lag_p99: float = 0.05


@dataclass
class FakePrometheus:
    """Answers instant queries from the canned window the query's time falls in (``time <= at``: baseline)."""

    deploy_at: float = AT.timestamp()
    baseline: Window = field(default_factory=Window)
    soak: Window = field(default_factory=Window)
    down: bool = False
    seen: list[tuple[str, float]] = field(default_factory=list)

    def answer(self, query: str, at: float) -> list[dict[str, Any]]:
        self.seen.append((query, at))
        w = self.baseline if at <= self.deploy_at + 0.001 else self.soak
        methods = ("chat.postMessage", "users.info")
        if "web_api_calls_total" in query:
            return [_sample({"method": m, "status": "ok"}, w.ok) for m in methods] + [
                _sample({"method": m, "status": "http_5xx"}, w.calls - w.ok) for m in methods
            ]
        if "histogram_quantile(0.5," in query:
            return [_sample({"method": m}, w.p50) for m in methods]
        if "histogram_quantile(0.99, sum by (method" in query:
            return [_sample({"method": m}, w.p99) for m in methods]
        if "lag_seconds_bucket" in query:
            return [_sample({}, w.lag_p99)]
        if "lag_seconds_count" in query:
            return [_sample({}, w.lag_samples)]
        raise AssertionError(f"unexpected query {query}")


def _sample(labels: Mapping[str, str], value: float) -> dict[str, Any]:
    return {"metric": dict(labels), "value": [0, repr(float(value)) if value == value else "NaN"]}


@pytest.fixture
def prometheus() -> Iterator[tuple[FakePrometheus, str]]:
    fake = FakePrometheus()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            if fake.down or url.path != "/api/v1/query":
                self.send_response(503)
                self.end_headers()
                return
            result = fake.answer(params["query"], float(params["time"]))
            body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class WaitingNotices:
    """The notifications the deploys' history events ask for (their intents), as the release tick would plan them."""

    def __init__(self, table: DynamoTable) -> None:
        self._repo = DynamoNotificationRepository(table)

    def notify(self, kind: NotificationKind, text: str, fields: Mapping[str, str], key: str) -> None:
        raise AssertionError("the deploy service notifies through its history events, never directly")

    @property
    def sent(self) -> list[tuple[NotificationKind, str, dict[str, str], str]]:
        planned = plan_notifications(self._repo.intents(100))
        return [(p.kind, p.text, p.fields, p.key) for p in planned]


@dataclass
class Gate:
    service: DeployService
    repo: DynamoDeployRepository
    notifier: WaitingNotices
    fake: FakePrometheus


@pytest.fixture
def gate(dynamodb: Any, settings: Settings, clock: FixedClock, prometheus: tuple[FakePrometheus, str]) -> Gate:
    fake, url = prometheus
    table = DynamoTable(dynamodb, settings.table_name)
    repo = DynamoDeployRepository(table, DynamoHistoryRepository(table, intent_index_keys))
    clusters = guard_clusters(Settings(prometheus_url=url))
    notifier = WaitingNotices(table)
    reader = ApiClientPrometheusReader(clusters, timeout_seconds=2)
    service = DeployService(repo, reader, clock, clusters, SETTLE_SECONDS, DEADLINE_SECONDS)
    return Gate(service, repo, notifier, fake)


def record(gate: Gate, at: datetime = AT) -> str:
    deploy, created = gate.service.record(NewDeploy("chat-api", "v2", at, 20, 30), "deploy-bot")
    assert created
    return deploy.id


def test_a_neutral_deploy_passes_and_is_notified_once(gate: Gate) -> None:
    deploy_id = record(gate)
    assert gate.service.tick() == {"judged": 1, "retrying": 0}
    deploy = gate.service.get(deploy_id)
    assert deploy.status is DeployStatus.JUDGED
    assert deploy.verdict is not None
    assert deploy.verdict.outcome is VerdictOutcome.PASS
    assert gate.service.tick() == {"judged": 0, "retrying": 0}
    assert [(kind, key) for kind, _, _, key in gate.notifier.sent] == [
        (NotificationKind.DEPLOY_VERDICT, f"deploy#{deploy_id}#pass")
    ]
    kinds = [e.kind for e in gate.service.events(deploy_id)]
    assert kinds == [EventKind.DEPLOY_RECORDED, EventKind.DEPLOY_JUDGED]


def test_added_latency_fails_the_deploy_on_the_latency_rows(gate: Gate) -> None:
    gate.fake.soak = Window(p50=0.25, p99=0.6)
    deploy_id = record(gate)
    gate.service.tick()
    verdict = gate.service.get(deploy_id).verdict
    assert verdict is not None
    assert verdict.outcome is VerdictOutcome.FAIL
    failing = sorted((r.kind.value, r.method) for r in verdict.rows if r.ok is False)
    assert [kind for kind, _ in failing] == ["latency_p50", "latency_p50", "latency_p99", "latency_p99"]
    _, text, fields, _ = gate.notifier.sent[0]
    assert fields["outcome"] == "fail"
    assert text.startswith("Deploy v2 of chat-api: FAIL.")


def test_windows_are_read_at_explicit_times(gate: Gate) -> None:
    record(gate)
    gate.service.tick()
    times = {at for _, at in gate.fake.seen}
    assert times == {AT.timestamp(), (AT + timedelta(seconds=20)).timestamp()}
    baseline_queries = [q for q, at in gate.fake.seen if at == AT.timestamp()]
    assert all("[30s]" in q for q in baseline_queries)
    assert all("[20s]" in q for q, at in gate.fake.seen if at != AT.timestamp())


def test_a_deploy_is_not_judged_before_its_soak_window_and_settle_time_end(gate: Gate, clock: FixedClock) -> None:
    deploy_id = record(gate, at=START - timedelta(seconds=22))  # soak ends 2 s ago; settles 3 s from now
    assert gate.service.tick() == {"judged": 0, "retrying": 0}
    assert gate.fake.seen == []
    clock.advance(4)
    gate.service.tick()
    assert gate.service.get(deploy_id).status is DeployStatus.JUDGED


def test_too_little_traffic_is_inconclusive_with_the_reason(gate: Gate) -> None:
    gate.fake.soak = Window(calls=12, ok=12, lag_samples=3)
    deploy_id = record(gate)
    gate.service.tick()
    verdict = gate.service.get(deploy_id).verdict
    assert verdict is not None
    assert verdict.outcome is VerdictOutcome.INCONCLUSIVE
    assert "only 12 calls after the deploy (< 50)" in verdict.reason


def test_prometheus_down_keeps_the_deploy_pending_with_the_error_then_it_is_judged(
    gate: Gate, clock: FixedClock
) -> None:
    gate.fake.down = True
    deploy_id = record(gate)
    assert gate.service.tick() == {"judged": 0, "retrying": 1}
    pending = gate.service.get(deploy_id)
    assert pending.status is DeployStatus.PENDING
    assert pending.attempts == 1
    assert pending.last_error is not None
    assert "503" in pending.last_error
    assert gate.notifier.sent == []
    gate.fake.down = False
    clock.advance(1)
    gate.service.tick()
    judged = gate.service.get(deploy_id)
    assert judged.verdict is not None
    assert judged.verdict.outcome is VerdictOutcome.PASS
    assert judged.attempts == 2


def test_prometheus_down_past_the_deadline_is_inconclusive(gate: Gate, clock: FixedClock) -> None:
    gate.fake.down = True
    deploy_id = record(gate)
    gate.service.tick()
    clock.advance(DEADLINE_SECONDS)
    gate.service.tick()
    verdict = gate.service.get(deploy_id).verdict
    assert verdict is not None
    assert verdict.outcome is VerdictOutcome.INCONCLUSIVE
    assert verdict.reason.startswith("Prometheus could not be read for 2m: ")


def test_a_verdict_from_a_stale_read_is_refused_so_only_one_tick_notifies(gate: Gate) -> None:
    deploy_id = record(gate)
    stale = gate.service.get(deploy_id)
    gate.service.tick()
    late = stale.model_copy(update={"status": DeployStatus.JUDGED, "version": stale.version + 1})
    event = gate.service.events(deploy_id)[0].model_copy(update={"id": "late", "at": datetime.now(UTC)})
    assert gate.repo.save_verdict(late, event) is False
    assert len(gate.notifier.sent) == 1
