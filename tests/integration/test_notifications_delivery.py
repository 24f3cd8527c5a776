"""Delivering the outbox to a real local webhook sink: retries, Retry-After, failures, exactly-once claims."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from koipond.clock import FixedClock
from koipond.composition import Keeper, build_keeper, injected_keeper
from koipond.composition.notifications import config_source
from koipond.notifications.delivery import NotificationDeliverer
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.models import NotificationStatus
from koipond.notifications.retry import RetryPolicy
from koipond.settings import Settings
from local_pond.aws import provision_notification_secret
from local_pond.webhook_sink import Answer, WebhookSink

WORKFLOW = "/triggers/T1/very-secret-workflow"
INCOMING = "/services/T1/B1/very-secret-incoming"


@pytest.fixture(scope="module")
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as running:
        yield running


@pytest.fixture
def routed(settings: Settings, dynamodb: Any, clock: FixedClock, sink: WebhookSink) -> Iterator[Keeper]:
    """A Keeper whose notification secret routes estop kinds to the sink as a workflow and a webhook."""
    sink.state.clear()
    name = f"koipond/notifications-{uuid.uuid4().hex[:8]}"
    kinds = [NotificationKind.EMERGENCY_STOP_ON.value, NotificationKind.EMERGENCY_STOP_OFF.value]
    config = {
        "routes": [
            {"name": "release", "type": "workflow", "url": f"{sink.url}{WORKFLOW}", "kinds": kinds},
            {"name": "oncall", "type": "incoming", "url": f"{sink.url}{INCOMING}", "kinds": kinds[:1]},
        ],
        "dashboard_url": "https://grafana.example/d/koi",
        "console_url": "https://keeper.example/ui/",
    }
    provision_notification_secret(settings, name, config)
    built = build_keeper(settings.model_copy(update={"notification_secret": name}), dynamodb, clock)
    with injected_keeper(built):
        yield built


def pull(keeper: Keeper) -> None:
    """Pull the stop and expand its event (the notification intent) into the outbox, as a tick starts by doing."""
    keeper.estop.activate("alice", "checkout latency doubled")
    assert keeper.notifications.intents.expand_pending() == {"expanded": 1}


def status_of(keeper: Keeper, route: str) -> Any:
    found = [n for n in keeper.notifications.list_notifications() if n.route == route]
    assert len(found) == 1, found
    return found[0]


def test_each_route_gets_one_well_formed_post(routed: Keeper, sink: WebhookSink) -> None:
    pull(routed)
    counts = routed.notifications.deliverer.deliver_due()
    assert counts == {"due": 2, "delivered": 2}
    [workflow] = sink.state.received(WORKFLOW)
    assert workflow.headers["Content-Type"] == "application/json"
    assert all(isinstance(v, str) for v in workflow.body.values())
    assert workflow.body["kind"] == "emergency_stop_on"
    assert workflow.body["actor"] == "alice"
    assert "checkout latency doubled" in workflow.body["text"]
    [incoming] = sink.state.received(INCOMING)
    assert "Emergency stop pulled" in incoming.body["text"]
    assert [b["type"] for b in incoming.body["blocks"]] == ["section", "section", "context"]
    assert routed.notifications.deliverer.deliver_due() == {}
    assert len(sink.state.received()) == 2


def test_429_then_200_is_retried_no_earlier_than_retry_after(
    routed: Keeper, sink: WebhookSink, clock: FixedClock
) -> None:
    sink.state.script(WORKFLOW, [Answer(429, {"Retry-After": "30"}, "rate_limited")])
    pull(routed)
    first = routed.notifications.deliverer.deliver_due()
    assert first["retrying"] == 1
    waiting = status_of(routed, "release")
    assert waiting.status is NotificationStatus.PENDING
    assert waiting.last_outcome.http_status == 429
    assert waiting.last_outcome.detail == "rate_limited"
    assert waiting.next_attempt_at == waiting.last_outcome.at + timedelta(seconds=30)
    clock.advance(29)
    assert routed.notifications.deliverer.deliver_due() == {}
    clock.advance(1)
    assert routed.notifications.deliverer.deliver_due()["delivered"] == 1
    assert [r.answered for r in sink.state.received(WORKFLOW)] == [429, 200]
    delivered = status_of(routed, "release")
    assert (delivered.status, delivered.attempts, delivered.last_outcome.http_status) == ("delivered", 2, 200)


def test_server_errors_back_off_then_give_up(routed: Keeper, sink: WebhookSink, clock: FixedClock) -> None:
    sink.state.script(WORKFLOW, [Answer(500, body="boom")] * 8)
    pull(routed)
    # Eight attempts, so the waits stay under the cap (the default policy tries for hours: see the unit tests).
    deliverer = NotificationDeliverer(
        routed.notifications.repo, config_source(routed.settings), clock, RetryPolicy(max_attempts=8)
    )
    waits = []
    for _ in range(8):
        deliverer.deliver_due()
        n = status_of(routed, "release")
        if n.status is not NotificationStatus.PENDING:
            break
        waits.append((n.next_attempt_at - n.last_outcome.at).total_seconds())
        clock.advance(waits[-1])
    assert waits == sorted(waits)  # each wait at least as long as the last (equal jitter doubles the floor)
    assert waits[0] >= 1
    final = status_of(routed, "release")
    assert (final.status, final.attempts) == (NotificationStatus.FAILED, 8)
    assert len(sink.state.received(WORKFLOW)) == 8


def test_404_fails_at_once(routed: Keeper, sink: WebhookSink) -> None:
    sink.state.script(INCOMING, [Answer(404, body="channel_not_found")])
    pull(routed)
    assert routed.notifications.deliverer.deliver_due()["failed"] == 1
    failed = status_of(routed, "oncall")
    assert failed.status is NotificationStatus.FAILED
    assert (failed.attempts, failed.last_outcome.http_status, failed.last_outcome.detail) == (
        1,
        404,
        "channel_not_found",
    )


def test_an_unreachable_webhook_records_the_error_class_and_retries(
    settings: Settings, dynamodb: Any, clock: FixedClock
) -> None:
    name = f"koipond/notifications-{uuid.uuid4().hex[:8]}"
    url = "http://127.0.0.1:9/hooks/nobody-listens"  # the discard port: connection refused
    provision_notification_secret(
        settings, name, {"routes": [{"name": "gone", "type": "incoming", "url": url, "kinds": ["emergency_stop_on"]}]}
    )
    keeper = build_keeper(settings.model_copy(update={"notification_secret": name}), dynamodb, clock)
    pull(keeper)
    assert keeper.notifications.deliverer.deliver_due()["retrying"] == 1
    outcome = status_of(keeper, "gone").last_outcome
    assert (outcome.http_status, outcome.error) == (None, "ConnectError")


def test_overlapping_deliverers_post_each_notification_once(
    routed: Keeper, sink: WebhookSink, clock: FixedClock
) -> None:
    for n in range(6):
        routed.notifier.notify(NotificationKind.EMERGENCY_STOP_ON, f"stop {n}", {}, f"test#{n}")
    # Two ticks read the same due list; the later one finds every item claimed already.
    snapshot = routed.notifications.repo.due(clock.now(), 25)
    other = build_keeper(routed.settings, routed.notifications.repo._table.client, clock).notifications.deliverer
    assert routed.notifications.deliverer.deliver(snapshot)["delivered"] == 12
    assert other.deliver(snapshot) == {"due": 12, "skipped": 12}
    bodies = [r.body["text"] for r in sink.state.received(WORKFLOW)]
    assert sorted(bodies) == [f"stop {n}" for n in range(6)]


def test_a_claim_taken_by_another_deliverer_is_skipped(routed: Keeper, clock: FixedClock) -> None:
    pull(routed)
    repo = routed.notifications.repo
    [snapshot, _] = repo.due(clock.now(), 10)
    assert repo.claim(snapshot, clock.now(), timedelta(seconds=60), "first") is not None
    assert repo.claim(snapshot, clock.now(), timedelta(seconds=60), "second") is None


def test_webhook_urls_never_reach_logs_or_the_api(routed: Keeper, sink: WebhookSink, caplog: Any) -> None:
    from tests.conftest import Api

    caplog.set_level(logging.DEBUG)
    sink.state.script(WORKFLOW, [Answer(404, body=f"no such trigger {sink.url}{WORKFLOW}")])
    pull(routed)
    routed.notifications.deliverer.deliver_due()
    listing = Api().get("/v1/notifications")
    assert listing.status == 200
    text = caplog.text + str(listing.body)
    assert "very-secret" not in text
    assert "<webhook>" in str(listing.body)  # Slack's answer is kept, with the URL cut out
