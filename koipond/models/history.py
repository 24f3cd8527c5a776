"""Append-only history: every state change with who, when and why."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ESTOP_SUBJECT = "estop"
KEYS_SUBJECT = "keys"


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
