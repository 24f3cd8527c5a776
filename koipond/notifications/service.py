"""The notifications feature as the Keeper and the release tick see it, built once per process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from koipond.aws_clients import aws_client
from koipond.clock import Clock
from koipond.notifications.config import ConfigSource, NoRoutes, SecretsManagerConfig
from koipond.notifications.delivery import NotificationDeliverer
from koipond.notifications.expansion import IntentExpander
from koipond.notifications.intents import LoadTestFacts
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.models import Notification, NotificationStatus
from koipond.notifications.outbox import OutboxNotifier
from koipond.notifications.store import DynamoNotificationRepository
from koipond.notifications.token_dlq import TokenDlqWatcher
from koipond.settings import Settings
from koipond.store.items import loadtest_from_item, loadtest_pk
from koipond.store.schema import META
from koipond.store.table import DynamoTable
from koipond.tokens.models import DlqSummary

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


def _test_facts(table: DynamoTable, test_ids: Sequence[str]) -> dict[str, LoadTestFacts]:
    tests = [loadtest_from_item(item) for item in table.batch_get([(loadtest_pk(i), META) for i in set(test_ids)])]
    return {t.id: LoadTestFacts(name=t.name, koi=t.koi) for t in tests}


def config_source(settings: Settings) -> ConfigSource:
    """The secret named by ``KOIPOND_NOTIFICATION_SECRET``, or no routes when it is unset."""
    secret = settings.notification_secret
    if not secret:
        return NoRoutes()
    # The client is created on first use, not here: a cold start that never notifies never needs it.
    return SecretsManagerConfig(lambda: aws_client("secretsmanager", settings), secret)


def build_notifications(
    settings: Settings, table: DynamoTable, clock: Clock, dlq: Callable[[], DlqSummary]
) -> NotificationService:
    repo = DynamoNotificationRepository(table)
    config = config_source(settings)
    outbox = OutboxNotifier(repo, config, clock)
    intents = IntentExpander(repo, config, clock, lambda ids: _test_facts(table, ids))
    return NotificationService(
        outbox=outbox,
        intents=intents,
        deliverer=NotificationDeliverer(repo, config, clock, intents=intents),
        token_dlq=TokenDlqWatcher(dlq, repo, outbox, clock),
        repo=repo,
    )
