"""The notifications feature as the Keeper and the release tick see it, built once per process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from koipond.notifications.delivery import NotificationDeliverer
from koipond.notifications.expansion import IntentExpander
from koipond.notifications.intents import LoadTestFacts
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.models import Notification, NotificationStatus
from koipond.notifications.outbox import OutboxNotifier
from koipond.notifications.store import DynamoNotificationRepository
from koipond.notifications.token_dlq import TokenDlqWatcher
from koipond.store.items import loadtest_from_item, loadtest_pk
from koipond.store.schema import META
from koipond.store.table import DynamoTable

MAX_PAGE = 200


@dataclass(frozen=True)
class NotificationService:
    outbox: OutboxNotifier
    intents: IntentExpander
    deliverer: NotificationDeliverer
    token_dlq: TokenDlqWatcher
    repo: DynamoNotificationRepository

    def list_notifications(
        self, kind: NotificationKind | None = None, status: NotificationStatus | None = None, limit: int = 50
    ) -> list[Notification]:
        """Newest first, at most ``limit`` (capped at 200)."""
        return self.repo.list_notifications(kind, status, max(1, min(limit, MAX_PAGE)))


def loadtest_facts(table: DynamoTable, test_ids: Sequence[str]) -> dict[str, LoadTestFacts]:
    """The name and size of each test an intent names, read in one batch."""
    tests = [loadtest_from_item(item) for item in table.batch_get([(loadtest_pk(i), META) for i in set(test_ids)])]
    return {t.id: LoadTestFacts(name=t.name, koi=t.koi) for t in tests}
