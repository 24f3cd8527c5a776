"""Slack notices show what people wrote literally: a reason cannot mention @channel or forge a link."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from koipond.notifications.config import NotificationConfig, Route
from koipond.notifications.delivery import render
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.models import Notification, NotificationStatus
from koipond.notifications.slack import escape_mrkdwn, incoming_payload, workflow_payload

CONFIG = NotificationConfig(dashboard_url="https://grafana.example/d/koi", console_url="https://keeper.example/ui/")
HOSTILE = "<!channel> & <https://x|y>"
ESCAPED = "&lt;!channel&gt; &amp; &lt;https://x|y&gt;"
WEBHOOK = SecretStr("https://hooks.slack.com/services/T/B/x")
ROUTES = {
    "incoming": Route(name="oncall", type="incoming", url=WEBHOOK, kinds=[NotificationKind.EMERGENCY_STOP_ON]),
    "workflow": Route(name="release", type="workflow", url=WEBHOOK, kinds=[NotificationKind.EMERGENCY_STOP_ON]),
}


def estop_notification(reason: str) -> Notification:
    """As the emergency stop service raises it: the reason in the sentence and in the fields."""
    return Notification(
        key="estop#on#1",
        route="oncall",
        kind=NotificationKind.EMERGENCY_STOP_ON,
        text=f"Emergency stop pulled by mallory: {reason}. Every test is stopping (`koipond estop off --reason ...`).",
        fields={"actor": "mallory", "reason": reason},
        status=NotificationStatus.PENDING,
        created_at=datetime(2026, 11, 28, tzinfo=UTC),
    )


def mentions_and_links(payload: object) -> list[str]:
    """Every ``<...>`` Slack would read as a mention or link, anywhere in the payload."""
    text = json.dumps(payload)
    return [part.split(">", 1)[0] for part in text.split("<")[1:]]


def test_escape_mrkdwn_follows_slacks_three_rules() -> None:
    assert escape_mrkdwn(HOSTILE) == ESCAPED
    assert escape_mrkdwn("a &amp; b") == "a &amp;amp; b"  # what was typed is shown, not decoded


def test_an_incoming_notice_escapes_the_reason_everywhere_and_keeps_its_own_formatting() -> None:
    payload = render(ROUTES["incoming"], estop_notification(HOSTILE), CONFIG)
    title, fields, context = payload["blocks"]
    assert ESCAPED in title["text"]["text"]
    assert title["text"]["text"].startswith("*Emergency stop pulled*\n")
    assert "`koipond estop off --reason ...`" in title["text"]["text"]
    assert {"type": "mrkdwn", "text": f"*reason*\n{ESCAPED}"} in fields["fields"]
    assert ESCAPED in payload["text"]  # the fallback, shown in push notifications
    assert "<https://grafana.example/d/koi>" in context["elements"][1]["text"]
    assert mentions_and_links(payload) == ["https://grafana.example/d/koi"]


def test_a_workflow_notice_escapes_the_text_and_fields() -> None:
    payload = render(ROUTES["workflow"], estop_notification(HOSTILE), CONFIG)
    assert payload["reason"] == ESCAPED
    assert ESCAPED in payload["text"]
    assert payload["dashboard_url"] == "https://grafana.example/d/koi"
    assert mentions_and_links(payload) == []


@pytest.mark.parametrize("mention", ["<!channel>", "<!here>", "<!everyone>", "<@U0123>", "<#C0123>", "<!subteam^S1>"])
def test_no_mention_survives_in_either_payload(mention: str) -> None:
    notice = estop_notification(f"hi {mention}")
    for route in ROUTES.values():
        assert mention not in json.dumps(render(route, notice, CONFIG))


@given(text=st.text(max_size=300), reason=st.text(max_size=300))
def test_person_written_text_never_yields_a_mention_or_link(text: str, reason: str) -> None:
    for payload in (
        incoming_payload(NotificationKind.ROLLOUT_PAUSED, text, {"reason": reason}, NotificationConfig()),
        workflow_payload(NotificationKind.ROLLOUT_PAUSED, text, {"reason": reason}, NotificationConfig()),
    ):
        assert mentions_and_links(payload) == []
