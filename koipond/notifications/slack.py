"""Slack payloads, pure: Workflow Builder triggers take flat string variables; incoming webhooks take blocks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from koipond.notifications.config import NotificationConfig
from koipond.notifications.kinds import NotificationKind

# Slack's limits: a section's text <= 3000 chars, <= 10 fields of <= 2000 chars each, a context
# block <= 10 elements; a message's fallback text is cut at 40,000.
SECTION_TEXT_LIMIT = 3000
FIELD_LIMIT = 2000
MAX_FIELDS = 10
TEXT_LIMIT = 40_000
# Variables every workflow payload carries besides the event's own fields (declare them in the trigger).
RESERVED_VARIABLES = ("kind", "text", "estop_how", "dashboard_url")

_TITLES = {
    NotificationKind.ROLLOUT_STAGE_STARTED: "Rollout stage started",
    NotificationKind.ROLLOUT_STAGE_HELD: "Rollout stage held",
    NotificationKind.ROLLOUT_ADVANCED: "Rollout advanced",
    NotificationKind.ROLLOUT_PAUSED: "Rollout paused",
    NotificationKind.AUTOMATIC_SHUTDOWN: "Automatic shutdown",
    NotificationKind.EMERGENCY_STOP_ON: "Emergency stop pulled",
    NotificationKind.EMERGENCY_STOP_OFF: "Emergency stop lifted",
    NotificationKind.TOKEN_DLQ_NOT_EMPTY: "Token dead-letter queue not empty",
    NotificationKind.DEPLOY_VERDICT: "Deploy verdict",
    NotificationKind.BEHAVIOR_REDERIVED: "Behavior re-derived",
    NotificationKind.BEHAVIOR_REDERIVE_FAILED: "Behavior could not be re-derived",
}


def message_text(kind: NotificationKind, text: str) -> str:
    """The notification's sentence, never empty (Slack refuses an empty text)."""
    stripped = text.strip()
    return stripped[:TEXT_LIMIT] if stripped else f"koipond: {_TITLES.get(kind, kind.value)}"


def estop_how(config: NotificationConfig) -> str:
    """The reminder every notice carries: how to stop all load at once."""
    how = 'Emergency stop: `koipond estop on --reason "..."`'
    if config.console_url:
        how += f" or the Emergency stop button at {config.console_url}"
    return how


def workflow_payload(
    kind: NotificationKind, text: str, fields: Mapping[str, str], config: NotificationConfig
) -> dict[str, str]:
    """A Workflow Builder webhook trigger's body: one flat object of string variables.

    The event's fields come first so the reserved variables (kind, text, reminders) always win. The
    text and the fields carry what people wrote (reasons, names, tags), and a workflow's message
    renders its variables as mrkdwn, so they are escaped: a reason cannot ping ``<!channel>``.
    """
    payload = {str(name): escape_mrkdwn(str(value)) for name, value in fields.items()}
    payload.update(
        kind=kind.value,
        text=escape_mrkdwn(message_text(kind, text)),
        estop_how=estop_how(config),
        dashboard_url=config.dashboard_url or "",
    )
    return payload


def incoming_payload(
    kind: NotificationKind, text: str, fields: Mapping[str, str], config: NotificationConfig
) -> dict[str, Any]:
    """An incoming webhook's body: fallback ``text`` plus blocks (title and text, fields, reminders).

    Only the title's bold and the dashboard link are formatting of ours; everything else is escaped,
    the fallback text too (Slack parses it as mrkdwn for notifications and the message itself).
    """
    sentence = escape_mrkdwn(message_text(kind, text))
    title = _TITLES.get(kind, kind.value)
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _cut(f"*{title}*\n{sentence}", SECTION_TEXT_LIMIT)},
        }
    ]
    shown = sorted(fields.items())[:MAX_FIELDS]
    if shown:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {
                        "type": "mrkdwn",
                        "text": _cut(f"*{escape_mrkdwn(name)}*\n{escape_mrkdwn(value) or '-'}", FIELD_LIMIT),
                    }
                    for name, value in shown
                ],
            }
        )
    reminders = [{"type": "mrkdwn", "text": _cut(escape_mrkdwn(estop_how(config)), FIELD_LIMIT)}]
    if config.dashboard_url:
        reminders.append({"type": "mrkdwn", "text": _cut(f"Dashboard: <{config.dashboard_url}>", FIELD_LIMIT)})
    blocks.append({"type": "context", "elements": reminders})
    return {"text": f"{title}: {sentence}"[:TEXT_LIMIT], "blocks": blocks}


def escape_mrkdwn(value: str) -> str:
    """Text as Slack shows it literally: ``&``, ``<`` and ``>`` escaped, as Slack's formatting rules ask.

    ``<`` and ``>`` delimit mentions (``<!channel>``, ``<@U123>``) and links (``<https://x|label>``);
    ``&`` comes first so that the entities written here are not escaped again.
    """
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"
