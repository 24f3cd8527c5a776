"""The notifications feature as the Keeper and the release tick see it, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from koipond.notifications.delivery import NotificationDeliverer
from koipond.notifications.expansion import IntentExpander
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.models import Notification, NotificationStatus
from koipond.notifications.outbox import OutboxNotifier
from koipond.notifications.ports import NotificationRepository
from koipond.notifications.token_dlq import TokenDlqWatcher

MAX_PAGE = 200


@dataclass(frozen=True)
class NotificationService:
    outbox: OutboxNotifier
    intents: IntentExpander
    deliverer: NotificationDeliverer
    token_dlq: TokenDlqWatcher
    repo: NotificationRepository

    def list_notifications(
        self, kind: NotificationKind | None = None, status: NotificationStatus | None = None, limit: int = 50
    ) -> list[Notification]:
        """Newest first, at most ``limit`` (capped at 200)."""
        return self.repo.list_notifications(kind, status, max(1, min(limit, MAX_PAGE)))
