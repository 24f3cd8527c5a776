"""Telling people what koipond did: the notification kinds and the port every service notifies through."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol

log = logging.getLogger("koipond.notifications.kinds")


class NotificationKind(StrEnum):
    """Every event people can subscribe a Slack workflow or channel to (configured per kind)."""

    ROLLOUT_STAGE_STARTED = "rollout_stage_started"
    ROLLOUT_STAGE_HELD = "rollout_stage_held"
    ROLLOUT_ADVANCED = "rollout_advanced"
    ROLLOUT_PAUSED = "rollout_paused"
    AUTOMATIC_SHUTDOWN = "automatic_shutdown"
    AUTOMATIC_RESUME = "automatic_resume"
    EMERGENCY_STOP_ON = "emergency_stop_on"
    EMERGENCY_STOP_OFF = "emergency_stop_off"
    TOKEN_DLQ_NOT_EMPTY = "token_dlq_not_empty"  # noqa: S105 (an event name, not a secret)
    DEPLOY_VERDICT = "deploy_verdict"
    BEHAVIOR_REDERIVED = "behavior_rederived"
    BEHAVIOR_REDERIVE_FAILED = "behavior_rederive_failed"


class Notifier(Protocol):
    def notify(self, kind: NotificationKind, text: str, fields: Mapping[str, str], key: str) -> None:
        """Hand a notification over for delivery; never raises and never waits on the network.

        Args:
            kind: what happened; decides which webhooks receive it.
            text: one human sentence (or a few) saying what happened and what to do.
            fields: flat string variables (Slack Workflow Builder triggers take exactly this shape).
            key: identifies the event (e.g. ``rollout#<id>#stage#2#started``) so it is delivered once.
        """
        ...


class LogNotifier:
    """Writes notifications to the log (CloudWatch on AWS)."""

    def notify(self, kind: NotificationKind, text: str, fields: Mapping[str, str], key: str) -> None:
        log.warning("[%s] %s %s", kind.value, text, " ".join(f"{k}={v}" for k, v in sorted(fields.items())))
