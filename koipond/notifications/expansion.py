"""The outbox's intake: turn the history events waiting to notify into one outbox item per route, once each."""

from __future__ import annotations

import logging
from collections import Counter

from koipond.clock import Clock
from koipond.notifications.config import ConfigSource
from koipond.notifications.intents import notification_kind, plan_notifications
from koipond.notifications.kinds import LogNotifier, NotificationKind
from koipond.notifications.outbox import outbox_rows
from koipond.notifications.ports import LoadTestLookup, NotificationRepository

log = logging.getLogger("koipond.notifications")


class IntentExpander:
    """Run by the release tick before delivery; safe in several processes at once (each intent is taken once)."""

    def __init__(
        self,
        repo: NotificationRepository,
        config: ConfigSource,
        clock: Clock,
        tests: LoadTestLookup,
        batch: int = 200,
    ) -> None:
        self._repo = repo
        self._config = config
        self._clock = clock
        self._tests = tests
        self._batch = batch
        self._log = LogNotifier()

    def expand_pending(self) -> dict[str, int]:
        """Expand up to ``batch`` waiting intents (the rest wait for the next tick).

        Returns:
            The non-zero counts of ``expanded`` (notifications stored) and ``raced`` (fulfilled by another
            tick or before a crash, or conflicting now: looked at again next tick); empty when none waited.

        Raises:
            StoreError: the table could not be read or written; every intent not fulfilled stays waiting.
        """
        events = self._repo.intents(self._batch)
        if not events:
            return {}
        resumed = [e.subject for e in events if notification_kind(e) is NotificationKind.AUTOMATIC_RESUME]
        facts = self._tests(resumed) if resumed else {}
        counts: Counter[str] = Counter()
        for planned in plan_notifications(events, facts):
            rows = outbox_rows(planned.kind, planned.text, planned.fields, planned.key, self._config, self._clock.now())
            if self._repo.fulfil(rows, planned.events):
                counts["expanded"] += 1
                self._log.notify(planned.kind, planned.text, planned.fields, planned.key)
            else:
                counts["raced"] += 1
        return dict(counts)
