"""Wire models of notifications: what koipond told Slack (or tried to), by route name, never its URL."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from koipond.notifications.kinds import NotificationKind
from koipond.notifications.models import DeliveryOutcome, Notification, NotificationStatus


class NotificationOut(BaseModel):
    """One notification for one route (the route's name; its URL stays in the secret)."""

    model_config = ConfigDict(extra="forbid")

    key: str
    kind: NotificationKind
    text: str
    fields: dict[str, str]
    route: str
    status: NotificationStatus
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    last_outcome: DeliveryOutcome | None

    @classmethod
    def of(cls, n: Notification) -> NotificationOut:
        return cls.model_validate(n.model_dump(exclude={"lease_owner"}))


class NotificationListOut(BaseModel):
    notifications: list[NotificationOut]
