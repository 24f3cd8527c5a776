"""A whole local pond with the release tick and a webhook sink: the emergency stop reaches Slack, once each way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_pond.pond import LocalPond
from local_pond.webhook_sink import WebhookSink
from tests.e2e.conftest import notifications_of, notifying_pond, run_cli
from tests.e2e.school_probe import wait_for

WORKFLOW = "/triggers/pond"
INCOMING = "/services/pond"


@pytest.fixture(scope="module")
def pond(tmp_path_factory: pytest.TempPathFactory, sink: WebhookSink) -> Iterator[LocalPond]:
    with notifying_pond(tmp_path_factory.mktemp("notify-pond"), sink) as running:
        yield running


def test_pulling_and_lifting_the_stop_posts_one_notification_each(pond: LocalPond, sink: WebhookSink) -> None:
    pulled = run_cli(pond, "estop", "on", "--reason", "e2e: checkout errors")
    assert pulled.returncode == 0, pulled.stderr
    wait_for(
        "the emergency stop notice delivered to both routes",
        lambda: notifications_of(pond, "emergency_stop_on"),
        lambda rows: len(rows) == 2 and all(r.status == "delivered" for r in rows),
    )
    lifted = run_cli(pond, "estop", "off", "--reason", "e2e: fixed")
    assert lifted.returncode == 0, lifted.stderr
    wait_for(
        "the lift notice delivered to both routes",
        lambda: notifications_of(pond, "emergency_stop_off"),
        lambda rows: len(rows) == 2 and all(r.status == "delivered" for r in rows),
    )
    workflow = [r.body for r in sink.state.received(WORKFLOW)]
    assert [w["kind"] for w in workflow] == ["emergency_stop_on", "emergency_stop_off"]
    assert all(isinstance(v, str) for w in workflow for v in w.values())
    assert workflow[0]["reason"] == "e2e: checkout errors"
    assert workflow[0]["dashboard_url"] == f"{pond.keeper_url}/ui/"
    incoming = [r.body for r in sink.state.received(INCOMING)]
    assert [i["text"].split(":")[0] for i in incoming] == ["Emergency stop pulled", "Emergency stop lifted"]
    assert all(i["blocks"][-1]["type"] == "context" for i in incoming)
    listed = run_cli(pond, "notifications", "list", "--kind", "emergency_stop_on")
    assert listed.returncode == 0, listed.stderr
    assert "delivered" in listed.stdout
    assert "/triggers/" not in listed.stdout + (pond.logs / "tick.log").read_text()
