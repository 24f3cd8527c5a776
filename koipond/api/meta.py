"""Wire models about the API itself: liveness, and the vocabularies (enum values) clients offer as choices."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from koipond.models.rollouts import RolloutStatus
from koipond.models.tests import LoadTestStatus
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.models import NotificationStatus


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str


class VocabularyOut(BaseModel):
    """Every value of the enums clients filter by, in the Keeper's order, so no client keeps a copy."""

    notification_kinds: list[NotificationKind] = Field(default_factory=lambda: list(NotificationKind))
    notification_statuses: list[NotificationStatus] = Field(default_factory=lambda: list(NotificationStatus))
    test_statuses: list[LoadTestStatus] = Field(default_factory=lambda: list(LoadTestStatus))
    rollout_statuses: list[RolloutStatus] = Field(default_factory=lambda: list(RolloutStatus))
