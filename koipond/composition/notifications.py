"""Composition of the notifications feature: its configuration source, outbox, intake and delivery, built once."""

from __future__ import annotations

from collections.abc import Callable

from koipond.aws_clients import aws_client
from koipond.clock import Clock
from koipond.notifications.config import ConfigSource, NoRoutes, SecretsManagerConfig
from koipond.notifications.delivery import NotificationDeliverer
from koipond.notifications.expansion import IntentExpander
from koipond.notifications.outbox import OutboxNotifier
from koipond.notifications.service import NotificationService
from koipond.notifications.store import DynamoNotificationRepository, loadtest_facts
from koipond.notifications.token_dlq import TokenDlqWatcher
from koipond.settings import Settings
from koipond.store.table import DynamoTable
from koipond.tokens.models import DlqSummary


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
    intents = IntentExpander(repo, config, clock, lambda ids: loadtest_facts(table, ids))
    return NotificationService(
        outbox=outbox,
        intents=intents,
        deliverer=NotificationDeliverer(repo, config, clock, intents=intents),
        token_dlq=TokenDlqWatcher(dlq, repo, outbox, clock),
        repo=repo,
    )
