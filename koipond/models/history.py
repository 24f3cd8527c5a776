"""Append-only history: every state change with who, when and why."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ESTOP_SUBJECT = "estop"
KEYS_SUBJECT = "keys"
DEFAULT_RETENTION_DAYS = 30
# Actors the Keeper's automatic paths record, which notifications and rollouts recognise events by.
GUARD_ACTOR = "guard"
AUTO_RESUME_ACTOR = "auto-resume"


class EventKind(StrEnum):
    TEST_CREATED = "test_created"
    TEST_SCALED = "test_scaled"
    TEST_SHED = "test_shed"
    TEST_STOPPED = "test_stopped"
    TEST_RESUMED = "test_resumed"
    TEST_COMPLETED = "test_completed"
    TEST_REALLOCATED = "test_reallocated"
    ESTOP_ACTIVATED = "estop_activated"
    ESTOP_LIFTED = "estop_lifted"
    KEY_CREATED = "key_created"
    KEY_REVOKED = "key_revoked"
    BEHAVIOR_PUT = "behavior_put"
    BEHAVIOR_SOURCE_PUT = "behavior_source_put"
    BEHAVIOR_SOURCE_DELETED = "behavior_source_deleted"
    BEHAVIOR_REDERIVED = "behavior_rederived"
    BEHAVIOR_REDERIVE_FAILED = "behavior_rederive_failed"
    GUARD_QUERY_PUT = "guard_query_put"
    GUARD_QUERY_DELETED = "guard_query_deleted"
    DEPLOY_RECORDED = "deploy_recorded"
    DEPLOY_JUDGED = "deploy_judged"
    DEPLOY_SLIS_PUT = "deploy_slis_put"
    DEPLOY_SLIS_DELETED = "deploy_slis_deleted"
    ROLLOUT_STARTED = "rollout_started"
    ROLLOUT_ADVANCED = "rollout_advanced"
    ROLLOUT_COMPLETED = "rollout_completed"
    ROLLOUT_PAUSED = "rollout_paused"
    ROLLOUT_RESUMED = "rollout_resumed"
    ROLLOUT_ABORTED = "rollout_aborted"


class HistoryEvent(BaseModel):
    """One state change. ``subject`` is a test id, ``estop``, ``keys`` or ``behavior:<name>``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    subject: str
    kind: EventKind
    actor: str
    reason: str | None = None
    at: datetime
    details: dict[str, Any] = Field(default_factory=dict)


# Kinds the control loop writes on its own, as often as Schools come and go or tests scale: their
# number grows with the pond's churn, not with anyone's decisions, so they expire after the
# retention. Only reallocations are like that today.
EXPIRING_KINDS: frozenset[EventKind] = frozenset({EventKind.TEST_REALLOCATED})

# Kinds kept for good: a person's or a deploy tool's action (start, scale, shed, stop, resume, estop,
# keys, behaviors, guard queries, deploys, rollouts), or a machine's action bounded by one: the guard
# stops a test at most once until it is resumed, automatic resume waits its cool-down and writes no
# event when it decides to wait, a rollout advances once per stage, a deploy is judged once, a test
# completes once. These are the audit trail and what automatic resume reads back.
PERMANENT_KINDS: frozenset[EventKind] = frozenset(EventKind) - EXPIRING_KINDS


def expires_at(event: HistoryEvent, retention: timedelta) -> datetime | None:
    """When an event of an expiring kind may be deleted; None for the kinds kept for good."""
    return event.at + retention if event.kind in EXPIRING_KINDS else None
