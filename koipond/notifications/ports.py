"""The notifications feature's ports: the outbox with its intents and episodes, and the load tests it names."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from koipond.models.history import HistoryEvent
from koipond.notifications.intents import LoadTestFacts
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.models import DeliveryOutcome, Episode, Notification, NotificationStatus

# Reads the tests that automatic-resume notices name (id -> name and koi); unknown ids are left out.
LoadTestLookup = Callable[[Sequence[str]], Mapping[str, LoadTestFacts]]


class NotificationRepository(Protocol):
    """The outbox: one notification per (event key, route), each attempt claimed before it is delivered."""

    def add(self, notification: Notification) -> bool:
        """Store a new notification; False (nothing written) when this event key and route exist already."""
        ...

    def intents(self, limit: int) -> list[HistoryEvent]:
        """History events still waiting to notify, oldest first (a new one may lag a little)."""
        ...

    def fulfil(self, notifications: Sequence[Notification], events: Sequence[HistoryEvent]) -> bool:
        """Store ``notifications`` and mark ``events`` notified, all or nothing.

        Returns:
            True when this call fulfilled the intents; False when nothing new was stored because they were
            fulfilled already, or are being fulfilled by another process right now. When only the
            notifications existed already (and every event still waited), the events are marked notified.
        """
        ...

    def get(self, key: str, route: str) -> Notification | None: ...

    def due(self, now: datetime, limit: int) -> list[Notification]:
        """Pending notifications whose next attempt is at or before ``now``, earliest first."""
        ...

    def claim(self, n: Notification, now: datetime, lease: timedelta, owner: str) -> Notification | None:
        """Take ``n`` (as read) for one attempt leased until ``now + lease``; None when it changed since
        (another deliverer claimed it, or it was finished)."""
        ...

    def finish(
        self,
        claimed: Notification,
        status: NotificationStatus,
        outcome: DeliveryOutcome,
        next_attempt_at: datetime | None,
    ) -> bool:
        """Record a claimed attempt's outcome and the new status; False when the claim was lost meanwhile."""
        ...

    def list_notifications(
        self, kind: NotificationKind | None, status: NotificationStatus | None, limit: int
    ) -> list[Notification]:
        """Newest first, at most ``limit``."""
        ...

    def episode(self, name: str) -> Episode | None:
        """The open episode ``name``, or None."""
        ...

    def open_episode(self, name: str, started_at: datetime) -> bool:
        """Open an episode; False when one is open already (another process won)."""
        ...

    def mark_episode_notified(self, name: str) -> None:
        """Note that the open episode was notified; nothing when it is closed."""
        ...

    def close_episode(self, name: str) -> None:
        """Close the episode (nothing when none is open)."""
        ...
