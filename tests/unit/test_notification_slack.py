"""Slack payloads: flat string variables for Workflow Builder, text/blocks within Slack's limits for webhooks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from koipond.notifications.config import NotificationConfig
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.slack import (
    FIELD_LIMIT,
    MAX_FIELDS,
    SECTION_TEXT_LIMIT,
    incoming_payload,
    workflow_payload,
)

CONFIG = NotificationConfig(dashboard_url="https://grafana.example/d/koi", console_url="https://keeper.example/ui/")
kinds = st.sampled_from(list(NotificationKind))
texts = st.text(max_size=5000)
fields = st.dictionaries(st.text(min_size=1, max_size=40), st.text(max_size=3000), max_size=30)


@given(kind=kinds, text=texts, extra=fields)
def test_workflow_payload_is_flat_and_all_strings(kind: NotificationKind, text: str, extra: dict[str, str]) -> None:
    payload = workflow_payload(kind, text, extra, CONFIG)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in payload.items())
    assert payload["kind"] == kind.value
    assert payload["text"].strip()
    assert "koipond estop on" in payload["estop_how"]
    assert payload["dashboard_url"] == CONFIG.dashboard_url


def test_workflow_reserved_variables_win_over_fields() -> None:
    payload = workflow_payload(NotificationKind.DEPLOY_VERDICT, "ok", {"kind": "forged", "build": "42"}, CONFIG)
    assert payload["kind"] == "deploy_verdict"
    assert payload["build"] == "42"


@given(kind=kinds, text=texts, extra=fields)
def test_incoming_payload_stays_within_slack_limits(kind: NotificationKind, text: str, extra: dict[str, str]) -> None:
    payload = incoming_payload(kind, text, extra, CONFIG)
    assert payload["text"].strip()
    sections = [b for b in payload["blocks"] if b["type"] == "section"]
    assert 0 < len(sections[0]["text"]["text"]) <= SECTION_TEXT_LIMIT
    for section in sections[1:]:
        assert len(section["fields"]) <= MAX_FIELDS
        assert all(len(f["text"]) <= FIELD_LIMIT for f in section["fields"])
    assert payload["blocks"][-1]["type"] == "context"


def test_incoming_payload_carries_the_reminders() -> None:
    payload = incoming_payload(NotificationKind.ROLLOUT_STAGE_STARTED, "Stage 2: 50,000 koi", {"stage": "2"}, CONFIG)
    title, field_section, context = payload["blocks"]
    assert "Rollout stage started" in title["text"]["text"]
    assert field_section["fields"] == [{"type": "mrkdwn", "text": "*stage*\n2"}]
    reminders = " ".join(e["text"] for e in context["elements"])
    assert 'koipond estop on --reason "..."' in reminders
    assert "Emergency stop button at https://keeper.example/ui/" in reminders
    assert "https://grafana.example/d/koi" in reminders


def test_blank_text_is_replaced_by_the_kind_and_mrkdwn_is_escaped() -> None:
    blank = incoming_payload(NotificationKind.EMERGENCY_STOP_ON, "   ", {}, NotificationConfig())
    assert blank["text"] == "Emergency stop pulled: koipond: Emergency stop pulled"
    escaped = incoming_payload(NotificationKind.DEPLOY_VERDICT, "a <b> & c", {}, NotificationConfig())
    assert "a &lt;b&gt; &amp; c" in escaped["blocks"][0]["text"]["text"]
    assert len(escaped["blocks"]) == 2  # no fields section when there are no fields
