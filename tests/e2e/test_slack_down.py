"""Slack down, in a whole local pond: notifications wait with their attempts recorded, then go out once each.

The pond's release tick runs every second and delivers to a real local webhook sink, which first answers
503 (Slack failing), then is not listening at all (Slack unreachable), then is back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from koipond.api.notifications import NotificationOut
from local_pond.pond import LocalPond
from local_pond.webhook_sink import Answer, WebhookSink
from tests.e2e.conftest import notifications_of, notifying_pond, run_cli
from tests.e2e.school_probe import wait_for

WORKFLOW = "/triggers/pond"
INCOMING = "/services/pond"


@pytest.fixture(scope="module")
def pond(tmp_path_factory: pytest.TempPathFactory, sink: WebhookSink) -> Iterator[LocalPond]:
    with notifying_pond(tmp_path_factory.mktemp("slack-down-pond"), sink) as running:
        yield running


def all_pending_after(rows: list[NotificationOut], attempts: int, **outcome: Any) -> bool:
    """Both routes' notices still pending, tried at least ``attempts`` times, the last attempt as ``outcome`` says."""
    return len(rows) == 2 and all(
        r.status == "pending"
        and r.attempts >= attempts
        and r.last_outcome is not None
        and all(getattr(r.last_outcome, name) == value for name, value in outcome.items())
        for r in rows
    )


def test_notifications_wait_while_slack_is_down_then_go_out_once_each(pond: LocalPond, sink: WebhookSink) -> None:
    sink.state.outage(Answer(503, body="service unavailable"))
    pulled = run_cli(pond, "estop", "on", "--reason", "e2e: slack is down too")
    assert pulled.returncode == 0, pulled.stderr
    retried = wait_for(
        "both routes retried after 503s",
        lambda: notifications_of(pond, "emergency_stop_on"),
        lambda rows: all_pending_after(rows, 2, http_status=503),
    )
    assert all(r.next_attempt_at is not None for r in retried)  # backing off, not given up
    listed = run_cli(pond, "notifications", "list", "--kind", "emergency_stop_on")
    assert listed.returncode == 0, listed.stderr
    assert "pending" in listed.stdout
    assert "HTTP 503" in listed.stdout

    sink.stop_listening()  # unreachable now: connections are refused
    sink.state.outage(None)
    unreachable = wait_for(
        "an attempt that could not connect",
        lambda: notifications_of(pond, "emergency_stop_on"),
        lambda rows: all_pending_after(rows, 3, error="ConnectError"),
    )
    assert all(r.last_outcome is not None and r.last_outcome.http_status is None for r in unreachable)

    sink.listen()  # Slack is back
    delivered = wait_for(
        "both routes delivered once Slack is back",
        lambda: notifications_of(pond, "emergency_stop_on"),
        lambda rows: len(rows) == 2 and all(r.status == "delivered" for r in rows),
        timeout=60,
    )
    [key] = {r.key for r in delivered}
    # A later notice delivered means later ticks ran: none of them posted the first one again.
    lifted = run_cli(pond, "estop", "off", "--reason", "e2e: slack is back")
    assert lifted.returncode == 0, lifted.stderr
    wait_for(
        "the lift notice delivered",
        lambda: notifications_of(pond, "emergency_stop_off"),
        lambda rows: len(rows) == 2 and all(r.status == "delivered" for r in rows),
    )
    for path in (WORKFLOW, INCOMING):
        receipts = sink.state.receipts(path)
        assert receipts[key] == 1, receipts
        assert sorted(receipts.values()) == [1, 1], receipts  # the pull and the lift, once each
        refused = [r for r in sink.state.received(path) if r.answered == 503]
        assert len(refused) >= 2  # the outage was real: attempts reached the sink and were refused
