"""The notifications of re-derived behaviors: what they say, their fields, their keys and their Slack payloads."""

from __future__ import annotations

from koipond.models.history import EventKind, HistoryEvent
from koipond.notifications.config import NotificationConfig
from koipond.notifications.intents import notification_kind, plan_notifications
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.slack import incoming_payload, workflow_payload
from tests.conftest import START

CONFIG = NotificationConfig(dashboard_url="https://grafana.example/d/koi", console_url="https://keeper.example/ui/")


def _event(kind: EventKind, reason: str | None, **details: object) -> HistoryEvent:
    return HistoryEvent(
        id="0001-e1", subject="behavior:avg", kind=kind, actor="release-tick", reason=reason, at=START, details=details
    )


PUBLISHED = _event(
    EventKind.BEHAVIOR_REDERIVED,
    None,
    version=4,
    previous_version=3,
    source="s3://usage/exports/avg.csv",
    changes=["read_history 20 -> 30/h (+50%)", "auth_test gone (was 1/h)"],
)
FAILED = _event(
    EventKind.BEHAVIOR_REDERIVE_FAILED,
    "cannot read s3://usage/exports/avg.csv: NoSuchKey",
    source="s3://usage/exports/avg.csv",
    next_due_at="2026-11-29T12:00:00+00:00",
    consecutive_failures=1,
)


def test_a_published_version_notifies_naming_each_changed_action_and_its_old_and_new_rate() -> None:
    [planned] = plan_notifications([PUBLISHED])
    assert planned.kind is NotificationKind.BEHAVIOR_REDERIVED
    assert planned.key == "behavior#avg#v4"
    assert "Behavior avg re-derived from s3://usage/exports/avg.csv: version 4 published (was 3)" in planned.text
    assert "read_history 20 -> 30/h (+50%); auth_test gone (was 1/h)" in planned.text
    assert planned.fields == {
        "behavior": "avg",
        "version": "4",
        "previous_version": "3",
        "source": "s3://usage/exports/avg.csv",
        "changes": "read_history 20 -> 30/h (+50%); auth_test gone (was 1/h)",
    }


def test_a_failed_run_notifies_why_and_when_it_is_tried_again() -> None:
    [planned] = plan_notifications([FAILED])
    assert planned.kind is NotificationKind.BEHAVIOR_REDERIVE_FAILED
    assert planned.key == "behavior#0001-e1"
    assert "NoSuchKey" in planned.text
    assert "next try at 2026-11-29T12:00:00+00:00" in planned.text
    assert planned.fields["reason"] == "cannot read s3://usage/exports/avg.csv: NoSuchKey"


def test_setting_or_removing_a_source_notifies_nobody() -> None:
    for kind in (EventKind.BEHAVIOR_SOURCE_PUT, EventKind.BEHAVIOR_SOURCE_DELETED):
        assert notification_kind(_event(kind, None)) is None


def test_the_slack_payloads_carry_the_title_and_the_fields() -> None:
    [planned] = plan_notifications([PUBLISHED])
    payload = incoming_payload(planned.kind, planned.text, planned.fields, CONFIG)
    assert "*Behavior re-derived*" in payload["blocks"][0]["text"]["text"]
    workflow = workflow_payload(planned.kind, planned.text, planned.fields, CONFIG)
    assert (workflow["kind"], workflow["version"], workflow["behavior"]) == ("behavior_rederived", "4", "avg")
    failed = incoming_payload(NotificationKind.BEHAVIOR_REDERIVE_FAILED, "x", {}, CONFIG)
    assert "Behavior could not be re-derived" in failed["blocks"][0]["text"]["text"]
