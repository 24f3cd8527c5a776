"""The domain shape of one outbox notification and of a delivery outcome (never a webhook URL)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from koipond.notifications.kinds import NotificationKind

# The route name of a notification no webhook subscribes to (kept so people can still see it).
NO_ROUTE = "-"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    NO_ROUTE = "no_route"


class DeliveryOutcome(BaseModel):
    """What the last attempt got: an HTTP status or an error class, and a short detail without URLs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    http_status: int | None = None
    error: str | None = Field(default=None, description="Error class name (transport error, bad configuration).")
    detail: str | None = Field(default=None, description="A short reason, e.g. Slack's answer body.")
    at: datetime


class Notification(BaseModel):
    """One event for one route: delivered at most once, whatever retries its caller made."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    route: str
    kind: NotificationKind
    text: str
    fields: dict[str, str] = Field(default_factory=dict)
    status: NotificationStatus
    attempts: int = 0
    next_attempt_at: datetime | None = None
    created_at: datetime
    delivered_at: datetime | None = None
    last_outcome: DeliveryOutcome | None = None
    lease_owner: str | None = None


class Episode(BaseModel):
    """A stretch of time something stays wrong (the token DLQ non-empty), notified once however long it lasts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    started_at: datetime
    notified: bool = False


def stamp(at: datetime) -> str:
    """A sortable UTC timestamp: fixed width, so string order is time order."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")
