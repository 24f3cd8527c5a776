"""The Notifier the control path uses: one outbox item per (event, route), written once; never raises."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from koipond.clock import Clock
from koipond.notifications.config import ConfigSource, NotificationConfigError
from koipond.notifications.kinds import LogNotifier, NotificationKind
from koipond.notifications.models import NO_ROUTE, DeliveryOutcome, Notification, NotificationStatus
from koipond.notifications.ports import NotificationRepository

log = logging.getLogger("koipond.notifications.kinds")


class OutboxNotifier:
    """Stores notifications for the release tick to deliver, so pulling a stop never waits on Slack."""

    def __init__(self, repo: NotificationRepository, config: ConfigSource, clock: Clock) -> None:
        self._repo = repo
        self._config = config
        self._clock = clock
        self._log = LogNotifier()

    def notify(self, kind: NotificationKind, text: str, fields: Mapping[str, str], key: str) -> None:
        """Record ``kind`` for every route subscribed to it (or as ``no_route``); log it; never raise."""
        try:
            stored = self._record(kind, text, {str(k): str(v) for k, v in fields.items()}, key)
        except Exception as exc:  # the control path (an emergency stop) must never fail on a notification
            # The class only: an SDK message could carry request details, and never a URL belongs in a log.
            log.error("notification %s (%s) was not recorded: %s", key, kind.value, type(exc).__name__)
            stored = True
        if stored:
            self._log.notify(kind, text, fields, key)

    def _record(self, kind: NotificationKind, text: str, fields: dict[str, str], key: str) -> bool:
        added = [self._repo.add(n) for n in outbox_rows(kind, text, fields, key, self._config, self._clock.now())]
        return any(added)


def outbox_rows(
    kind: NotificationKind, text: str, fields: Mapping[str, str], key: str, config: ConfigSource, now: datetime
) -> list[Notification]:
    """The outbox items of one event: one pending per subscribed route, else one ``no_route`` (or ``failed``)."""
    base = Notification(
        key=key,
        route=NO_ROUTE,
        kind=kind,
        text=text,
        fields=dict(fields),
        status=NotificationStatus.NO_ROUTE,
        created_at=now,
    )
    try:
        routes = [r.name for r in config.current().routes_for(kind)]
    except NotificationConfigError as exc:
        log.error("notification %s: %s", key, exc.message)
        outcome = DeliveryOutcome(error=type(exc).__name__, detail=exc.message[:300], at=now)
        return [base.model_copy(update={"status": NotificationStatus.FAILED, "last_outcome": outcome})]
    if not routes:
        return [base]
    return [
        base.model_copy(update={"route": name, "status": NotificationStatus.PENDING, "next_attempt_at": now})
        for name in routes
    ]
